"""The leaderboard from run directories alone, against golden Markdown and CSV."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from actbench.errors import ActbenchError
from actbench.reports.leaderboard import collect, write_leaderboard
from tests.helpers.golden import assert_matches_golden


def make_run(root: Path, name: str, model: str, benchmark: str, accuracy: float, *, finished="2026-01-01T00:00:00+00:00",
             status="complete", parse_fail=0, error=0, p50=0.5, cost=0.0, limit=None, manifest="0" * 64, args=None):
    d = root / name
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({
        "schema_version": 1, "actbench_version": "0.1.0", "model": {"name": model, "args": args or {}},
        "benchmark": {"name": benchmark, "manifest_sha256": manifest, "questions": 100}, "seed": 0, "limit": limit,
        "versions": {}, "started_at": "2026-01-01T00:00:00+00:00", "finished_at": finished, "status": status}))
    (d / "metrics.json").write_text(json.dumps({
        "n": 100, "accuracy": accuracy, "accuracy_ci95": [max(0.0, accuracy - 5), min(100.0, accuracy + 5)],
        "status_counts": {"ok": 100 - parse_fail - error, "parse_fail": parse_fail, "refused": 0, "error": error,
                          "missing": 0},
        "latency_s": {"mean": p50, "p50": p50, "p95": p50}, "cost_usd": cost}))
    return d


@pytest.fixture
def results(tmp_path):
    make_run(tmp_path, "a", "oracle", "ek100-mqa-prior", 100.0, p50=0.0)
    make_run(tmp_path, "b", "random", "ek100-mqa-prior", 19.5, p50=0.00002)
    make_run(tmp_path, "c/old", "gpt-4o", "ek100-mqa-tim", 40.0, finished="2026-01-01T00:00:00+00:00")
    make_run(tmp_path, "c/new", "gpt-4o", "ek100-mqa-tim", 52.25, finished="2026-02-01T00:00:00+00:00",
             parse_fail=3, error=1, p50=1.25, cost=3.4567)
    make_run(tmp_path, "d", "llava-ov-0.5b", "ek100-mqa-tim", 52.25, parse_fail=7)
    make_run(tmp_path, "e", "crashed", "ek100-mqa-tim", 99.0, status="running")
    return tmp_path


def test_rows_grouped_sorted_and_superseded(results):
    rows, superseded = collect(results)
    assert [(r.benchmark, r.model) for r in rows] == [
        ("ek100-mqa-prior", "oracle"), ("ek100-mqa-prior", "random"),
        ("ek100-mqa-tim", "gpt-4o"), ("ek100-mqa-tim", "llava-ov-0.5b")]  # equal accuracy: by name
    assert [r.run_dir for r in superseded] == ["c/old"]
    assert rows[2].run_dir == "c/new"


def test_golden_markdown_and_csv(results, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "actbench.reports.difficulty_report", None)  # no section
    out = tmp_path / "out"
    write_leaderboard(results, out, ("md", "csv"), reported_dir=None)
    for name in ("leaderboard.md", "leaderboard.csv"):
        assert_matches_golden((out / name).read_text(), name)


def test_malformed_metrics_are_named(results):
    (results / "a" / "metrics.json").write_text(json.dumps({"n": 3}))
    with pytest.raises(ActbenchError, match=r"a/metrics.json: field 'status_counts': expected the fields of metrics.json, found missing or malformed"):
        collect(results)


def test_a_smoke_run_or_another_build_is_a_row_of_its_own(tmp_path):
    make_run(tmp_path, "full", "random", "b", 20.0, args={"seed": 0})
    make_run(tmp_path, "smoke", "random", "b", 40.0, args={"seed": 0}, limit=10, finished="2026-03-01T00:00:00+00:00")
    make_run(tmp_path, "other", "oracle", "b", 100.0, manifest="f" * 64)
    rows, superseded = collect(tmp_path)
    assert superseded == []
    assert [(r.benchmark, r.model) for r in rows] == [
        ("b@00000000", "random (first 10)"), ("b@00000000", "random"), ("b@ffffffff", "oracle")]
    make_run(tmp_path, "seed1", "random", "b", 21.0, args={"seed": 1})
    labels = sorted(r.model for r in collect(tmp_path)[0] if r.model.startswith("random ["))
    assert labels == ["random [seed=0]", "random [seed=1]"]


def test_the_papers_numbers_come_after_the_measured_rows_and_never_in_the_csv(results, tmp_path):
    write_leaderboard(results, tmp_path / "out", ("md", "csv"))
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    measured, _, reported = text.partition("## Reported in the papers (not measured here)")
    assert "| 1 | oracle |" in measured and "52.2" in reported and "GPT-4o" in reported
    assert "GPT-4o" not in (tmp_path / "out" / "leaderboard.csv").read_text()
