"""On the real EPIC-KITCHENS-100 annotations (ACTBENCH_DATA_DIR): loader facts, a full build, a run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from actbench.mqa_builder.benchmark_dir import load_benchmark
from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.text import normalise
from actbench.runner import RunSpec, run


def test_loader_facts(ek100):
    assert len(ek100.validation) == 9668 and len({c.video_id for c in ek100.validation}) == 138
    assert len(ek100.train) == 67217 and len({c.video_id for c in ek100.train}) == 495
    assert len(ek100.verb_classes) == 97 and len(ek100.noun_classes) == 300
    assert len(ek100.action_space) == 3806
    assert ek100.unseen_participants == {"P18", "P32"}
    assert len(ek100.video_info) == 700
    assert sum(c.narration is not None for c in ek100.train) == 16115
    space = ek100.action_space
    assert list(space.keys) == sorted(space.keys)
    assert space.label(space.index["0:2"]) == "take plate"
    chopping = next(n.id for n in ek100.noun_classes if n.key == "board:chopping")
    assert space.label(space.index[f"0:{chopping}"]) == "take chopping board"
    # training.csv's action column is the index into the sorted "verb:noun" list
    with open(ek100.path("train_labels"), newline="") as handle:
        actions = np.array([int(r["action"]) for r in csv.DictReader(handle)])
    assert np.array_equal(ek100.action_ids(ek100.train), actions)
    first = ek100.train[0]  # P01_01_0: frames 4-101 at half of 59.94 fps; UDA has its timestamps
    assert (first.narration_id, first.start, first.end, first.narration) == ("P01_01_0", 0.14, 3.37, "open door")


@pytest.fixture(scope="module")
def full_prior(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "ek100-mqa-prior"
    manifest = build_mqa(BuildSpec(source="prior", out=out, data_dir=data_dir, name="ek100-mqa-prior"))
    return out, manifest


def test_full_prior_benchmark(full_prior, ek100):
    out, manifest = full_prior
    bench = load_benchmark(out)
    assert len(bench.questions) == 9668 == manifest.counts["questions"]
    counts = manifest.counts["answer_letters"]
    assert max(counts.values()) - min(counts.values()) <= 1
    narration = {c.narration_id: c.narration for c in ek100.validation}
    truth = {c.narration_id: c.class_key for c in ek100.validation}
    for q in bench.questions:
        assert q.options[q.answer_index] == narration[q.id]
        assert q.option_classes[q.answer_index] == truth[q.id] and q.option_classes.count(truth[q.id]) == 1
        assert len({normalise(o) for o in q.options}) == 5
        distractor_ranks = sorted(r for i, r in enumerate(q.source_ranks) if i != q.answer_index)
        skipped = len(q.extra.get("skipped", []))
        answer_rank = q.source_ranks[q.answer_index]
        # the distractors are the top ranks, less the answer and the recorded skips
        assert distractor_ranks[-1] == 4 + skipped + (answer_rank is not None and answer_rank <= distractor_ranks[-1])
    # the prior is a real model: the answer is its top-1 for a good share of clips
    assert 0.12 < manifest.counts["answer_rank_1"] / 9668 < 0.3


def test_same_build_twice_is_byte_identical(data_dir, tmp_path):
    for name in ("a", "b"):
        build_mqa(BuildSpec(source="temporal", out=tmp_path / name, data_dir=data_dir, limit=800, options="label"))
    for file in ("manifest.json", "questions.jsonl", "questions.parquet"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_baselines_on_the_real_benchmark(full_prior, data_dir, tmp_path):
    out, _ = full_prior
    scores = {}
    for model in ("oracle", "always-a", "random"):
        run_dir = run(RunSpec(model=model, benchmark=str(out), out=tmp_path / model, data_dir=data_dir))
        scores[model] = json.loads((run_dir / "metrics.json").read_text())
    assert scores["oracle"]["accuracy"] == 100.0
    assert abs(scores["always-a"]["accuracy"] - 20.0) < 0.02  # the letters are balanced
    low, high = scores["random"]["accuracy_ci95"]
    assert low < 20.0 < high


def test_training_times_without_narrations_fit_their_videos(ek100):
    """training.csv counts frames at 30 fps for every video (not at half the video's rate): clips of
    50 / 29.97 fps videos, which have no narration file, must still end inside their video."""
    info = ek100.video_info
    unnarrated = [c for c in ek100.train if c.narration is None]
    assert len(unnarrated) == 67217 - 16115
    late = [c for c in unnarrated if c.end > info[c.video_id].duration + 0.05]
    assert late == []
    assert {round(info[c.video_id].fps) for c in unnarrated} >= {50, 30}
