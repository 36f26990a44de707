"""build_mqa on the mini dataset: the rule's invariants, determinism, golden files, bad input."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import load_benchmark
from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.text import normalise
from tests.helpers.mini_ek100 import VALIDATION

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mini_prior_narration"
FILES = ("manifest.json", "questions.jsonl", "questions.parquet")


def build(mini, out, **kw):
    kw.setdefault("source", "prior")
    kw.setdefault("k", 4)
    return build_mqa(BuildSpec(out=out, data_dir=mini, **kw))


@pytest.mark.parametrize("source", ["prior", "random", "temporal"])
@pytest.mark.parametrize("mode", ["narration", "label"])
def test_every_question_obeys_the_rule(mini, tmp_path, source, mode):
    manifest = build(mini, tmp_path / "b", source=source, options=mode)
    bench = load_benchmark(tmp_path / "b")
    assert len(bench.questions) == len(VALIDATION) == manifest.counts["questions"]
    for q, (video, start, end, verb, noun, narration) in zip(bench.questions, VALIDATION):
        assert (q.video_id, q.start, q.end) == (video, start, end)
        truth = f"{verb}:{noun}"
        assert q.option_classes.count(truth) == 1 and q.option_classes[q.answer_index] == truth
        assert len(set(q.option_classes)) == 4
        assert len({normalise(o) for o in q.options}) == 4, q.options  # no two options read the same
        if mode == "narration":
            assert q.options[q.answer_index] == narration
        distractor_ranks = [r for i, r in enumerate(q.source_ranks) if i != q.answer_index]
        assert all(isinstance(r, int) and r >= 1 for r in distractor_ranks)


def test_distractors_are_the_top_ranked_other_classes_in_label_mode(mini, tmp_path):
    # In label mode every class has a distinct text, so nothing is skipped: the distractors are
    # exactly the classes ranked 1..K (minus the answer).
    build(mini, tmp_path / "b", options="label")
    for q in load_benchmark(tmp_path / "b").questions:
        answer_rank = q.source_ranks[q.answer_index]
        expected = [r for r in range(1, 5) if r != answer_rank][:3]
        got = sorted(r for i, r in enumerate(q.source_ranks) if i != q.answer_index)
        assert got == expected


@pytest.mark.parametrize("source", ["prior", "random", "temporal"])
def test_same_inputs_and_seed_give_the_same_bytes(mini, tmp_path, source):
    build(mini, tmp_path / "a", source=source)
    build(mini, tmp_path / "b", source=source)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_another_seed_moves_the_letters(mini, tmp_path):
    build(mini, tmp_path / "a", seed=0)
    build(mini, tmp_path / "b", seed=1)
    a, b = (load_benchmark(tmp_path / x).questions for x in "ab")
    assert [q.answer_letter for q in a] != [q.answer_letter for q in b]


def test_letters_are_balanced_and_limit_keeps_the_first_clips(mini, tmp_path):
    manifest = build(mini, tmp_path / "b", limit=7, source="random")
    bench = load_benchmark(tmp_path / "b")
    assert [q.id for q in bench.questions] == [f"P01_11_{i}" for i in range(6)] + ["P03_01_0"]
    counts = Counter(q.answer_letter for q in bench.questions)
    assert sorted(counts.values()) == [1, 2, 2, 2]
    assert manifest.counts["answer_letters"] == {k: counts.get(k, 0) for k in "ABCD"}


def test_manifest_has_no_timestamps_or_absolute_paths(mini, tmp_path):
    build(mini, tmp_path / "b")
    text = (tmp_path / "b" / "manifest.json").read_text()
    assert str(tmp_path) not in text and str(mini) not in text
    manifest = json.loads(text)
    assert {i["name"] for i in manifest["inputs"]} >= {"epic-kitchens-100/annotations/EPIC_100_validation.csv",
                                                       "epic-kitchens-100/C2-Action-Detection/training.csv"}


def test_golden_benchmark(mini, tmp_path):
    build(mini, tmp_path / "b")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name in ("manifest.json", "questions.jsonl"):
            (GOLDEN / name).write_bytes((tmp_path / "b" / name).read_bytes())
    for name in ("manifest.json", "questions.jsonl"):
        assert (tmp_path / "b" / name).read_text() == (GOLDEN / name).read_text(), name


@pytest.mark.parametrize("kw, message", [
    ({"k": 1}, "field 'k': expected an integer in [2, 26], found 1"),
    ({"options": "labels"}, "field 'options': expected one of narration, label, found labels"),
    ({"limit": 0}, "field 'limit': expected a positive integer, found 0"),
    ({"source": "prio"}, "unknown source 'prio'; did you mean 'prior'?"),
    ({"source": "tim"}, "source 'tim' reads a prediction file: pass --predictions FILE"),
    ({"split": "test"}, "field 'split': expected one of validation, train, found test"),
    ({"k": 20}, "at least 19 ranked classes with distinct option texts"),
])
def test_bad_input_is_one_line_and_writes_nothing(mini, tmp_path, kw, message):
    with pytest.raises(ActbenchError) as caught:
        build(mini, tmp_path / "out", **kw)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind either


def test_missing_annotations_name_the_file(tmp_path):
    with pytest.raises(ActbenchError, match="EPIC_100_validation.csv: file not found"):
        build(tmp_path, tmp_path / "out")


def test_a_rebuild_replaces_the_old_benchmark_and_a_foreign_folder_is_refused(mini, tmp_path):
    build(mini, tmp_path / "b", seed=0)
    build(mini, tmp_path / "b", seed=1)
    assert load_benchmark(tmp_path / "b").manifest.seed == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(ActbenchError, match="not a benchmark directory"):
        build(mini, tmp_path / "c")
    assert (tmp_path / "c" / "notes.txt").read_text() == "mine"


def _scores_file(path, ids, scores, classes):
    import numpy as np

    np.savez(path, narration_ids=np.array(ids), scores=np.array(scores, dtype=np.float32), classes=np.array(classes))
    return path


@pytest.mark.parametrize("case, message", [
    ("nan", "finite scores"),
    ("shape", "field 'scores': expected shape (10, 14)"),
    ("unknown_id", "unknown id P99_01_0"),
    ("duplicate_id", "P01_11_0 twice"),
    ("class", "field 'classes'"),
    ("missing_clip", "scores for every clip being built"),
])
def test_bad_prediction_files_write_nothing(mini, tmp_path, case, message):
    import numpy as np

    from actbench.datasets.epic_kitchens import EpicKitchens100

    ek = EpicKitchens100.from_data_dir(mini)
    ids = [c.narration_id for c in ek.validation]
    classes = list(ek.action_space.keys)
    scores = np.random.default_rng(0).random((len(ids), len(classes)))
    if case == "nan":
        scores[3, 2] = np.nan
    elif case == "shape":
        scores = scores[:, :-1]
    elif case == "unknown_id":
        ids[4] = "P99_01_0"
    elif case == "duplicate_id":
        ids[1] = ids[0]
    elif case == "class":
        classes[0] = "99:99"
    elif case == "missing_clip":
        ids, scores = ids[:-1], scores[:-1]
    path = _scores_file(tmp_path / "pred.npz", ids, scores, classes)
    with pytest.raises(ActbenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(mini, tmp_path / "out", source="scores", predictions=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.npz"]


def test_a_scores_file_drives_the_distractors(mini, tmp_path):
    import numpy as np

    from actbench.datasets.epic_kitchens import EpicKitchens100

    ek = EpicKitchens100.from_data_dir(mini)
    ids = [c.narration_id for c in ek.validation]
    # every clip ranks the classes by key index, highest last: the distractors are the top three keys
    # other than the answer
    scores = np.tile(np.arange(len(ek.action_space), dtype=np.float32), (len(ids), 1))
    path = _scores_file(tmp_path / "pred.npz", ids, scores, list(ek.action_space.keys))
    manifest = build(mini, tmp_path / "out", source="scores", predictions=path, options="label")
    assert manifest.source_args["predictions"]["name"] == "pred.npz"
    q = load_benchmark(tmp_path / "out").questions[0]  # answer 3:4 (index 11 of 14)
    assert sorted(c for i, c in enumerate(q.option_classes) if i != q.answer_index) == ["3:0", "4:4", "5:5"]


@pytest.mark.parametrize("mode", ["label", "narration"])
def test_two_stage_options_are_the_source_top_k_without_the_answer_inserted(mini, tmp_path, mode):
    manifest = build(mini, tmp_path / "b", k=3, two_stage=True, options=mode)
    assert manifest.two_stage
    questions = load_benchmark(tmp_path / "b").questions
    for q, (_, _, _, verb, noun, narration) in zip(questions, VALIDATION):
        assert sorted(r for r in q.source_ranks) == [1, 2, 3]  # exactly the top three, nothing inserted
        truth = f"{verb}:{noun}"
        if truth in q.option_classes:
            assert q.option_classes[q.answer_index] == truth and q.answer_letter == "ABC"[q.answer_index]
        else:
            assert q.answer_index is None and q.answer_letter is None
    keyed = sum(q.answer_index is not None for q in questions)
    assert manifest.counts["answer_among_options"] == keyed == manifest.counts["answer_in_source_top_k"]
    assert 0 < keyed < len(questions)  # the mini prior misses some answers at K=3: a real upper bound


def test_two_stage_runs_score_over_every_clip_with_an_upper_bound(mini, tmp_path):
    from actbench.runner import RunSpec, run

    manifest = build(mini, tmp_path / "b", k=3, two_stage=True)
    out = run(RunSpec(model="oracle", benchmark=str(tmp_path / "b"), out=tmp_path / "r"))
    metrics = json.loads((out / "metrics.json").read_text())
    keyed = manifest.counts["answer_among_options"]
    assert metrics["n"] == 10 and metrics["accuracy"] == metrics["upper_bound"] == 100.0 * keyed / 10


def test_the_leaderboard_shows_a_two_stage_benchmarks_upper_bound(mini, tmp_path):
    from actbench.reports.leaderboard import write_leaderboard
    from actbench.runner import RunSpec, run

    manifest = build(mini, tmp_path / "b", k=3, two_stage=True)
    run(RunSpec(model="oracle", benchmark=str(tmp_path / "b"), out=tmp_path / "runs" / "oracle"))
    write_leaderboard(tmp_path / "runs", tmp_path / "out", ("md", "csv"))
    bound = 100.0 * manifest.counts["answer_among_options"] / 10
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    assert f"only {bound:.2f}% of the questions can be answered correctly" in text
    header, row = (tmp_path / "out" / "leaderboard.csv").read_text().splitlines()[:2]
    assert row.split(",")[header.split(",").index("upper_bound")] == f"{bound:.2f}"
