"""The leaderboard's per-question analyses on constructed benchmarks and runs: error diversity against a
hand-worked case, significance marks on a pair that clearly differs and a pair that does not, golden
Markdown / CSV, the difficulty seam, and the report without matplotlib."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from actbench.evaluators.mqa_accuracy import score_mqa
from actbench.mqa_builder.benchmark_dir import load_benchmark, write_benchmark
from actbench.records import LETTERS, Answer
from actbench.reports.error_diversity import (
    class_pairs,
    distractor_overlap,
    mqa_dscores,
    overlap_counts,
    verb_confusion,
)
from actbench.reports.leaderboard import FIGURES_SKIPPED, collect, write_leaderboard
from actbench.reports.per_question import analyse, read_answers
from tests.helpers.golden import assert_matches_golden

DIFFICULTY = "actbench.reports.difficulty_report"

# The hand-worked case: 6 questions, the key's class first in each list of option classes.
HAND = [  # (option classes, answer index)
    (["1:1", "1:2", "2:1", "3:3"], 0), (["4:4", "1:1", "1:5", "2:2"], 1), (["2:2", "2:3", "5:2", "6:6"], 0),
    (["7:7", "2:8", "2:2", "8:2"], 2), (["3:3", "3:4", "9:3", "4:4"], 0), (["4:4", "4:5", "5:4", "1:1"], 0)]
# x's answers: same verb, same verb, neither, right, same noun, unparsable.
HAND_X = ["B", "C", "D", "C", "C", None]


def _question(qid: str, classes: list[str], answer: int) -> dict:
    return {"id": qid, "video_id": "V", "start": 0.0, "end": 1.0, "question": "What is the person doing?",
            "options": [f"verb{c.split(':')[0]} noun{c.split(':')[1]}" for c in classes], "answer_index": answer,
            "answer_letter": LETTERS[answer], "option_classes": classes, "source_ranks": [None] * len(classes)}


def make_benchmark(path: Path, name: str, questions: list[dict]):
    write_benchmark(path, {"name": name, "dataset": "epic-kitchens-100", "split": "validation", "source": "made-up",
                           "source_args": {}, "k": len(questions[0]["options"]), "options": "label", "seed": 0,
                           "limit": None, "inputs": [], "counts": {"questions": len(questions)}}, questions)
    return load_benchmark(path)


def make_run(path: Path, model: str, bench, letters: list[str | None], *, limit=None, latency=0.01, args=None):
    """A finished run answering ``letters`` (None: a parse failure), scored by the real scorer."""
    questions = bench.questions[:limit] if limit else bench.questions
    answers = {q.id: Answer(q.id, a, "ok" if a else "parse_fail", a or "?", latency)
               for q, a in zip(questions, letters)}
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({
        "schema_version": 1, "actbench_version": "0.1.0", "model": {"name": model, "args": args or {}},
        "benchmark": {"name": bench.name, "manifest_sha256": bench.manifest_sha256,
                      "questions": len(bench.questions)}, "seed": 0, "limit": limit, "versions": {},
        "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:00:01+00:00", "status": "complete"}))
    (path / "predictions.jsonl").write_text("".join(
        json.dumps({"id": a.id, "answer": a.answer, "status": a.status, "raw": a.raw, "latency_s": a.latency_s,
                    "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}) + "\n" for a in answers.values()))
    (path / "metrics.json").write_text(json.dumps(score_mqa(questions, answers, seed=0, resamples=2000)))


def sig_letters(bench, right: set[int]) -> list[str]:
    """Right on the question indices in ``right``, otherwise the option after the key."""
    return [q.answer_letter if i in right else LETTERS[(q.answer_index + 1) % len(q.options)]
            for i, q in enumerate(bench.questions)]


@pytest.fixture(autouse=True)
def no_difficulty_ratings(monkeypatch):
    """The difficulty section comes from another module; these tests pin it to "no ratings"."""
    fake = types.ModuleType(DIFFICULTY)
    fake.difficulty_section = lambda runs, benches, out: ("", [])
    monkeypatch.setitem(sys.modules, DIFFICULTY, fake)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    hand = make_benchmark(root / "benchmarks" / "hand", "hand", [_question(f"h{i}", c, a) for i, (c, a) in
                                                               enumerate(HAND)])
    rng = np.random.default_rng(7)
    sig_questions = []
    for i in range(60):
        verbs = rng.choice(20, size=4, replace=False)
        sig_questions.append(_question(f"s{i:02d}", [f"{v}:{(i + j) % 30}" for j, v in enumerate(verbs)],
                                       int(rng.integers(4))))
    sig = make_benchmark(root / "benchmarks" / "sig", "sig", sig_questions)
    lost = make_benchmark(root / "elsewhere" / "lost", "lost", [_question("l0", ["1:1", "2:2"], 0)])
    runs = root / "runs"
    make_run(runs / "hand" / "x", "x", hand, HAND_X, latency=0.5)
    make_run(runs / "hand" / "oracle", "oracle", hand, [q.answer_letter for q in hand.questions], latency=0.0)
    make_run(runs / "hand" / "odd", '<b>odd|"model"</b> & co', hand, ["A"] * 6, latency=2e-5)
    make_run(runs / "sig" / "strong", "strong", sig, sig_letters(sig, set(range(55))))
    make_run(runs / "sig" / "twin", "twin", sig, sig_letters(sig, set(range(54))))
    make_run(runs / "sig" / "weak", "weak", sig, sig_letters(sig, set(range(20))))
    make_run(runs / "sig" / "smoke", "smoke", sig, sig_letters(sig, set(range(10)))[:10], limit=10)
    make_run(runs / "lost" / "m", "m", lost, ["A"])
    import shutil

    shutil.rmtree(root / "elsewhere")  # a benchmark that is no longer where any lookup finds it
    return root


def test_error_diversity_by_hand(results):
    bench = load_benchmark(results / "benchmarks" / "hand")
    run = read_answers(results / "runs" / "hand" / "x", bench, None)
    truth, chosen = class_pairs(run.questions, run.answers)
    assert truth.tolist() == ["1:1", "1:1", "2:2", "2:2", "3:3"]  # the parse failure predicts no class
    assert chosen.tolist() == ["1:2", "1:5", "6:6", "2:2", "9:3"]
    o = overlap_counts(truth, chosen)
    assert (o.total, o.same_verb, o.same_noun, o.neither) == (4, 2, 1, 1)
    assert o.shares() == (50.0, 25.0, 25.0)
    # Action: 1:1's errors split 1:2 / 1:5 (ln 2), 2:2 -> 6:6 only (0), 3:3 -> 9:3 only (0).
    # Verb: verb 1 never wrong, verb 2 -> 6 (0), verb 3 -> 9 (0).  Noun: noun 1 -> 2 / 5 (ln 2), 2 -> 6, 3 right.
    scores = mqa_dscores(truth, chosen)
    assert scores["action"] == pytest.approx(math.log(2) / 3)
    assert scores["verb"] == pytest.approx(0.0)
    assert scores["noun"] == pytest.approx(math.log(2) / 3)
    # The 18 distractors against their question's key, counted by hand from HAND.
    d = distractor_overlap(bench.questions)
    assert (d.total, d.same_verb, d.same_noun, d.neither) == (18, 6, 5, 7)
    assert verb_confusion(truth, chosen, ["1", "2", "6"]).tolist() == [[2, 0, 0], [0, 1, 1], [0, 0, 0]]


def _csv_rows(out: Path) -> dict[str, dict]:
    return {r["model"]: r for r in csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text()))}


def test_significance_marks_the_pair_that_does_not_differ(results, tmp_path):
    write_leaderboard(results / "runs", tmp_path, ("csv",), reported_dir=None)
    rows = _csv_rows(tmp_path)
    # twin misses one question strong gets right: 1 discordant question, McNemar's exact p = 1.
    assert rows["twin"]["vs_above_run"] == "sig/strong" and rows["twin"]["significant_vs_above"] == "no"
    assert float(rows["twin"]["mcnemar_p_vs_above"]) == 1.0
    # weak misses 34 questions twin gets right, none the other way.
    assert rows["weak"]["vs_above_run"] == "sig/twin" and rows["weak"]["significant_vs_above"] == "yes"
    assert float(rows["weak"]["p_vs_above"]) < 0.001 and float(rows["weak"]["mcnemar_p_vs_above"]) < 1e-6
    # smoke answered only the first 10 questions: no row above answered the same ids.
    assert rows["smoke (first 10)"]["vs_above_run"] == "" and rows["strong"]["vs_above_run"] == ""
    # The hand benchmark: x (1 of 6 right) against odd (4 of 6): 4 vs 1 discordant, exact p = 12/32.
    assert rows["x"]["vs_above_run"] == "hand/odd" and rows["x"]["significant_vs_above"] == "no"
    assert float(rows["x"]["mcnemar_p_vs_above"]) == pytest.approx(0.375)
    assert rows["x"]["wrong_answers"] == "4" and rows["x"]["wrong_same_verb_pct"] == "50.00"
    assert float(rows["x"]["dscore_action"]) == pytest.approx(math.log(2) / 3, abs=1e-4)
    assert rows["m"]["vs_above_run"] == "" and rows["m"]["dscore_action"] == ""  # benchmark not found


def test_the_seed_is_recorded_and_used(results):
    rows, _ = collect(results / "runs")
    a = analyse(rows, results / "runs", seed=3, resamples=500)
    b = analyse(rows, results / "runs", seed=3, resamples=500)
    c = analyse(rows, results / "runs", seed=4, resamples=500)
    assert a.comparisons == b.comparisons
    assert a.comparisons["hand/x"].p_bootstrap != c.comparisons["hand/x"].p_bootstrap


def test_golden_markdown_and_csv_with_analyses(results, tmp_path):
    written = write_leaderboard(results / "runs", tmp_path, ("md", "csv"), reported_dir=None)
    assert [p.name for p in written] == ["leaderboard.md", "leaderboard.csv"]
    md = (tmp_path / "leaderboard.md").read_text()
    assert_matches_golden(md, "leaderboard_analysed.md")
    assert_matches_golden((tmp_path / "leaderboard.csv").read_text(), "leaderboard_analysed.csv")
    assert "| <b>odd\\|\"model\"</b> & co |" in md  # a pipe in a name does not break the table


def test_without_matplotlib_the_core_report_still_works(results, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    notes = []
    written = write_leaderboard(results / "runs", tmp_path, reported_dir=None, log=notes.append)
    assert [p.name for p in written] == ["leaderboard.md", "leaderboard.csv", "leaderboard.html"]
    assert FIGURES_SKIPPED in notes
    assert f"- {FIGURES_SKIPPED}" in (tmp_path / "leaderboard.md").read_text()
    assert not (tmp_path / "leaderboard_figures").exists()


def test_the_core_imports_without_matplotlib():
    code = ("import sys; import actbench.reports.leaderboard, actbench.cli.report; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_difficulty_section_is_placed_and_its_figures_kept(results, tmp_path, monkeypatch):
    seen = {}

    def section(runs, benches, out):
        seen.update(runs=runs, benches=benches)
        (out / "difficulty-hand.png").write_bytes(b"\x89PNG fake")
        return "## Difficulty\n\n![hand: accuracy per level](difficulty-hand.png)\n", [out / "difficulty-hand.png"]

    monkeypatch.setattr(sys.modules[DIFFICULTY], "difficulty_section", section)
    write_leaderboard(results / "runs", tmp_path, ("md", "png"), reported_dir=None)
    assert sorted(seen["benches"]) == ["hand", "sig"]  # "lost" has no benchmark directory: not passed
    assert seen["runs"]["hand"] == [results / "runs" / "hand" / r for r in ("oracle", "odd", "x")]
    md = (tmp_path / "leaderboard.md").read_text()
    assert "## Difficulty\n\n![hand: accuracy per level](leaderboard_figures/difficulty-hand.png)" in md
    assert (tmp_path / "leaderboard_figures" / "difficulty-hand.png").read_bytes() == b"\x89PNG fake"
    write_leaderboard(results / "runs", tmp_path, ("md",), reported_dir=None)  # PNGs not kept: no dead link
    assert "difficulty-hand.png" not in (tmp_path / "leaderboard.md").read_text()


def test_without_the_difficulty_module_there_is_no_section(results, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, DIFFICULTY, None)  # import fails as if the module did not exist
    write_leaderboard(results / "runs", tmp_path, ("md",), reported_dir=None)
    assert "Difficulty" not in (tmp_path / "leaderboard.md").read_text()
