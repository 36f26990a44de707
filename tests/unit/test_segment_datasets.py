"""``build-mqa --dataset``: the generic dataset path on the real Ego4D Goal-Step validation file.

The expected distractors are recomputed here by a naive loop (no code shared with the builder): for the
``temporal`` source, the other steps' classes of the same video by distance between segment centres; for
the ``scores`` source, the file's top-ranked wrong classes.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.datasets.check import check_dataset
from actbench.datasets.goalstep_steps import GoalStepSteps
from actbench.datasets.registry import open_dataset
from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import load_benchmark
from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.mqa_builder.cards import _load_card
from actbench.prompts import EGOCENTRIC
from actbench.text import normalise

GS = "ego4d-goalstep"
runner = CliRunner()


@pytest.fixture(scope="module")
def goalstep(data_dir):
    return GoalStepSteps.from_data_dir(data_dir)


def build(data_dir, out, **kw):
    kw.setdefault("dataset", GS)
    return build_mqa(BuildSpec(out=out, data_dir=data_dir, **kw))


def first_distinct(ranked: list[str], answer: str, label: dict[str, str]) -> list[str]:
    """Classes in rank order, skipping the answer and any class whose label reads like one already taken."""
    taken, out = {normalise(label[answer])}, []
    for key in ranked:
        if key != answer and normalise(label[key]) not in taken:
            out.append(key)
            taken.add(normalise(label[key]))
    return out


def test_goalstep_steps_read_as_segments(goalstep, data_dir):
    raw = json.loads((data_dir / GS / "goalstep_valid.json").read_text())
    steps = [(v["video_uid"], s) for v in raw["videos"] for s in v["segments"]]
    segments = goalstep.split("valid")
    assert len(segments) == len(steps) == 3349
    for segment, (uid, step) in zip(segments[:50], steps[:50]):
        assert (segment.video_id, segment.start, segment.end, segment.class_key) == \
            (uid, step["start_time"], step["end_time"], step["step_category"])
        assert segment.narration == step["step_description"].strip()
    assert len({s.narration_id for s in segments}) == len(segments)
    assert goalstep.action_space.keys == tuple(sorted({s["step_category"] for _, s in steps}))
    assert check_dataset(GS, data_dir).segments == {"valid": 3349}


def test_temporal_distractors_on_goalstep_are_the_nearest_other_steps(data_dir, tmp_path, goalstep):
    build(data_dir, tmp_path / "b", source="temporal", options="label", limit=40)
    questions = load_benchmark(tmp_path / "b").questions
    segments = goalstep.split("valid")
    label = dict(zip(goalstep.action_space.keys, goalstep.action_space.labels))
    for q, seg in zip(questions, segments[:40]):
        assert q.id == seg.narration_id and q.question == EGOCENTRIC
        assert q.option_classes[q.answer_index] == seg.class_key
        # Naive: other steps of the video by centre distance; each class counted at its nearest step.
        centre = (seg.start + seg.end) / 2
        nearest: dict[str, float] = {}
        for other in segments:
            if other.video_id == seg.video_id and other.narration_id != seg.narration_id:
                d = abs((other.start + other.end) / 2 - centre)
                nearest[other.class_key] = min(d, nearest.get(other.class_key, np.inf))
        ranked = sorted(nearest, key=lambda k: nearest[k])
        expected = first_distinct(ranked, seg.class_key, label)
        if len(expected) >= 4:  # else the base frequency fills in: not what this test checks
            assert sorted(c for i, c in enumerate(q.option_classes) if i != q.answer_index) == sorted(expected[:4])


def test_a_specialist_scores_file_gives_its_top_ranked_wrong_steps(data_dir, tmp_path, goalstep):
    segments = goalstep.split("valid")[:6]
    keys = list(goalstep.action_space.keys)
    rng = np.random.default_rng(3)
    scores = rng.random((6, len(keys))).astype(np.float32)
    path = tmp_path / "specialist.npz"
    np.savez(path, narration_ids=np.array([s.narration_id for s in segments]), scores=scores,
             classes=np.array(keys))
    result = runner.invoke(app, ["build-mqa", "--dataset", GS, "--source", "scores", "--predictions", str(path),
                                 "--options", "label", "--limit", "6", "--out", str(tmp_path / "b"),
                                 "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    label = dict(zip(keys, goalstep.action_space.labels))
    for q, seg, row in zip(load_benchmark(tmp_path / "b").questions, segments, scores):
        ranked = [keys[i] for i in np.argsort(-row, kind="stable")]
        by_rank = sorted((q.source_ranks[i], c) for i, c in enumerate(q.option_classes) if i != q.answer_index)
        assert [c for _, c in by_rank] == first_distinct(ranked, seg.class_key, label)[:4]
        assert [r for r, _ in by_rank] == [ranked.index(c) + 1 for _, c in by_rank]


def test_same_inputs_give_the_same_bytes_and_the_manifest_names_the_dataset(data_dir, tmp_path):
    for name in ("a", "b"):
        manifest = build(data_dir, tmp_path / name, source="random", limit=100)
    for file in ("manifest.json", "questions.jsonl"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    assert (manifest.dataset, manifest.split) == (GS, "valid")
    assert [i.name for i in manifest.inputs] == ["ego4d-goalstep/goalstep_valid.json"]


def test_narration_options_are_the_step_descriptions(data_dir, tmp_path, goalstep):
    build(data_dir, tmp_path / "b", source="random", limit=30)
    texts = {normalise(t) for s in goalstep.split("valid") for t in [s.narration]}
    for q, seg in zip(load_benchmark(tmp_path / "b").questions, goalstep.split("valid")):
        assert q.options[q.answer_index] == seg.narration
        assert all(normalise(o) in texts for o in q.options)


def test_epic_only_sources_are_refused_on_other_datasets(data_dir, tmp_path):
    (tmp_path / "p.pkl").write_bytes(b"x")
    result = runner.invoke(app, ["build-mqa", "--dataset", GS, "--source", "tim", "--predictions",
                                 str(tmp_path / "p.pkl"), "--out", str(tmp_path / "b"), "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "actbench: error: source 'tim' reads epic-kitchens-100 predictions; for ego4d-goalstep use --source scores "
        "(a generic .npz/.parquet of scores per segment and class)")
    assert not (tmp_path / "b").exists()


def test_prior_needs_the_training_split_and_learns_from_it(data_dir, tmp_path):
    with pytest.raises(ActbenchError, match="needs the training split .*goalstep_train.json.*Ego4D licence"):
        build(data_dir, tmp_path / "x", source="prior")
    # A training file in the official format: the validation videos under other uids.
    root = tmp_path / "data" / GS
    root.mkdir(parents=True)
    shutil.copy(data_dir / GS / "goalstep_valid.json", root / "goalstep_valid.json")
    raw = json.loads((data_dir / GS / "goalstep_valid.json").read_text())
    for v in raw["videos"]:
        v["video_uid"] = "train-" + v["video_uid"]
    (root / "goalstep_train.json").write_text(json.dumps(raw))
    manifest = build(tmp_path / "data", tmp_path / "b", source="prior", limit=50)
    assert manifest.counts["questions"] == 50
    # Trained on the same steps, the prior ranks each answer near the top far more often than chance.
    assert manifest.counts["answer_in_source_top_k"] >= 25
    with pytest.raises(ActbenchError, match="ranks held-out clips only .* use --split valid"):
        build(tmp_path / "data", tmp_path / "c", source="prior", split="train")


def test_unknown_split_and_dataset_are_one_line_errors(data_dir, tmp_path):
    with pytest.raises(ActbenchError) as caught:
        build(data_dir, tmp_path / "b", source="random", split="validation")
    assert str(caught.value) == ("--split: field 'split': expected one of valid, train (ego4d-goalstep), "
                                 "found validation")
    with pytest.raises(ActbenchError, match="unknown dataset 'ego4d-goalsteps'; did you mean 'ego4d-goalstep'"):
        open_dataset("ego4d-goalsteps", data_dir)


def test_a_card_with_an_unknown_dataset_is_refused(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\ndataset = "epic-kitchens-55"\nsource = "random"\n')
    with pytest.raises(ActbenchError) as caught:
        _load_card(path)
    assert str(caught.value) == (f"{path}: field 'dataset': expected a value that passes: value error, one of "
                                 "animal-kingdom, breakfast, coin, crosstask, ego4d-goalstep, "
                                 "epic-kitchens-100, meccano, thumos14, or csv:<folder>, found epic-kitchens-55")


def test_the_goalstep_card_builds(data_dir, tmp_path):
    result = runner.invoke(app, ["build-mqa", "--benchmark", "goalstep-mqa-temporal", "--out", str(tmp_path / "b"),
                                 "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "built 3349 questions" in result.output
    assert load_benchmark(tmp_path / "b").manifest.name == "goalstep-mqa-temporal"


def test_exports_of_other_datasets_carry_their_publishers_terms():
    from actbench.datasets.coin_steps import LICENSE as COIN_TERMS
    from actbench.exporters.licences import licence_of

    coin = licence_of("coin")
    assert (coin.hf_id, coin.name, coin.origin) == ("other", COIN_TERMS, "https://github.com/coin-dataset/annotations")
    assert coin.terms == f"The coin annotations: {COIN_TERMS}. The videos are not part of this export."
    assert licence_of("thumos14").origin.split(", ")[0] == "https://www.crcv.ucf.edu/THUMOS14/Class%20Index_Detection.txt"
