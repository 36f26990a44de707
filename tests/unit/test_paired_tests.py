"""Paired bootstrap and McNemar's test, and ``actbench compare`` on run directories written here.

References: scipy.stats (binomtest, chi2) for McNemar on hand cases; a naive loop that resamples
question indices for the paired bootstrap.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from scipy import stats
from typer.testing import CliRunner

from actbench.cli import compare as compare_cmd
from actbench.evaluators.paired_tests import MCNEMAR_EXACT_BELOW, mcnemar, paired_bootstrap
from actbench.mqa_builder.benchmark_dir import load_benchmark
from actbench.runner import RunInfo
from tests.helpers.mini_ek100 import make_mini_ek100

runner = CliRunner()


def _pair(both: int, a_only: int, b_only: int, neither: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, dtype=bool)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, dtype=bool)
    order = np.random.default_rng(seed).permutation(a.size)
    return a[order], b[order]


# -- McNemar ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("a_only, b_only", [(5, 1), (0, 3), (10, 10), (12, 0), (7, 17), (1, 0), (3, 9)])
def test_mcnemar_exact_against_scipy_binomtest(a_only, b_only):
    a, b = _pair(20, a_only, b_only, 15)
    result = mcnemar(a, b)
    assert (result.a_only, result.b_only, result.method) == (a_only, b_only, "exact")
    expected = stats.binomtest(min(a_only, b_only), a_only + b_only, 0.5).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("a_only, b_only", [(30, 12), (100, 80), (13, 13), (40, 0), (20, 5)])
def test_mcnemar_chi_square_with_continuity_correction_against_scipy(a_only, b_only):
    a, b = _pair(50, a_only, b_only, 30)
    result = mcnemar(a, b)
    assert result.method == "chi2-cc"
    statistic = max(abs(a_only - b_only) - 1, 0) ** 2 / (a_only + b_only)
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(stats.chi2.sf(statistic, df=1), rel=1e-9)


def test_mcnemar_threshold_forcing_and_no_discordant_pairs():
    assert MCNEMAR_EXACT_BELOW == 25
    assert mcnemar(*_pair(5, 12, 12, 5)).method == "exact"       # 24 discordant
    assert mcnemar(*_pair(5, 13, 12, 5)).method == "chi2-cc"     # 25 discordant
    forced = mcnemar(*_pair(10, 300, 260, 10), exact=True)
    assert forced.p_value == pytest.approx(stats.binomtest(260, 560, 0.5).pvalue, rel=1e-9)
    assert mcnemar(*_pair(5, 3, 2, 5), exact=False).p_value == pytest.approx(stats.chi2.sf(0.0, 1))
    same = mcnemar(*_pair(7, 0, 0, 3))
    assert (same.a_only, same.b_only, same.p_value) == (0, 0, 1.0)
    # symmetric: swapping the runs swaps the counts and keeps the p-value
    a, b = _pair(10, 30, 12, 5)
    assert mcnemar(b, a).p_value == mcnemar(a, b).p_value and mcnemar(b, a).a_only == 12


def test_bad_correctness_arrays():
    with pytest.raises(ValueError, match="one length"):
        mcnemar(np.ones(3, bool), np.ones(4, bool))
    with pytest.raises(ValueError, match="booleans"):
        paired_bootstrap(np.array([0, 2]), np.array([0, 1]), seed=0)


# -- paired bootstrap --------------------------------------------------------------------------------
def _naive_bootstrap(a, b, *, seed, resamples):
    """Resample question indices, jointly for both runs, one resample at a time."""
    rng = np.random.default_rng(seed)
    n = a.size
    observed = 100.0 * (a.mean() - b.mean())
    diffs = np.empty(resamples)
    for r in range(resamples):
        idx = rng.integers(0, n, n)
        diffs[r] = 100.0 * (a[idx].mean() - b[idx].mean())
    low, high = np.quantile(diffs, [0.025, 0.975])
    extreme = np.sum(np.abs(diffs - observed) >= abs(observed) - 1e-9)
    return observed, low, high, (1 + extreme) / (1 + resamples), diffs


def test_paired_bootstrap_against_a_naive_resampling_loop():
    a, b = _pair(120, 30, 18, 32, seed=1)  # n = 200, A - B = 6 points
    observed, low, high, p_naive, diffs = _naive_bootstrap(a, b, seed=7, resamples=4000)
    result = paired_bootstrap(a, b, seed=0, resamples=20_000)
    assert result.n == 200
    assert (result.accuracy_a, result.accuracy_b, result.difference) == (75.0, 69.0, 6.0)
    assert observed == pytest.approx(6.0)
    # Same distribution: interval ends and p-value agree within Monte-Carlo error (one question = 0.5 points).
    assert result.ci_low == pytest.approx(low, abs=1.01)
    assert result.ci_high == pytest.approx(high, abs=1.01)
    assert result.p_value == pytest.approx(p_naive, abs=0.03)
    # and the spread is the paired one: sd of the difference sqrt((b + c)/n - d^2) / sqrt(n), in points
    sd = 100 * math.sqrt((30 + 18) / 200 - 0.06 ** 2) / math.sqrt(200)
    assert np.std(diffs) == pytest.approx(sd, rel=0.05)
    assert (result.ci_high - result.ci_low) == pytest.approx(2 * 1.96 * sd, rel=0.1)


def test_paired_bootstrap_is_seeded_order_free_and_exact_at_zero():
    a, b = _pair(50, 9, 4, 20, seed=3)
    first = paired_bootstrap(a, b, seed=11, resamples=3000)
    assert paired_bootstrap(a, b, seed=11, resamples=3000) == first
    assert paired_bootstrap(a, b, seed=12, resamples=3000) != first
    p = np.random.default_rng(0).permutation(a.size)
    assert paired_bootstrap(a[p], b[p], seed=11, resamples=3000) == first  # only the paired counts matter
    tie = paired_bootstrap(*_pair(50, 6, 6, 20), seed=0, resamples=500)
    assert tie.difference == 0.0 and tie.p_value == 1.0 and tie.ci_low <= 0.0 <= tie.ci_high
    clear = paired_bootstrap(*_pair(50, 40, 0, 10), seed=0, resamples=999)
    assert clear.p_value == 1 / 1000  # never 0: (1 + 0) / (1 + resamples)
    assert clear.ci_low > 0


# -- actbench compare --------------------------------------------------------------------------------
def _app():
    """The compare command: from the main app once registered there, else mounted here alone."""
    from actbench.cli import app

    if any(c.name == "compare" for c in app.registered_commands):
        return app
    local = typer.Typer()
    local.callback()(lambda: None)
    local.command("compare")(compare_cmd.compare)
    return local


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from actbench.cli import app

    root = tmp_path_factory.mktemp("compare")
    mini = make_mini_ek100(root / "data")
    out = root / "bench"
    result = runner.invoke(app, ["build-mqa", "--source", "prior", "--k", "4", "--out", str(out),
                                 "--data-dir", str(mini)])
    assert result.exit_code == 0, result.output
    return load_benchmark(out)


def _write_run(run_dir, bench, model, correct, *, statuses=None, sha=None, name=None, skip=(), extra_lines=()):
    """A run directory as the runner writes it: ``correct[i]`` says whether question i gets its key."""
    run_dir.mkdir(parents=True)
    info = RunInfo(schema_version=1, actbench_version="0.1.0", model={"name": model, "args": {}},
                   benchmark={"name": name or bench.name, "manifest_sha256": sha or bench.manifest_sha256,
                              "questions": len(bench.questions)},
                   seed=0, limit=None, versions={}, started_at="2025-01-01T00:00:00+00:00", status="complete")
    (run_dir / "run.json").write_text(info.model_dump_json(indent=2))
    lines = []
    for i, (q, ok) in enumerate(zip(bench.questions, correct)):
        if i in skip:
            continue
        status = (statuses or {}).get(i, "ok")
        wrong = next(letter for letter in q.letters if letter != q.answer_letter)
        answer = (q.answer_letter if ok else wrong) if status == "ok" else None
        lines.append(json.dumps({"id": q.id, "answer": answer, "status": status, "raw": "x", "latency_s": 0.1,
                                 "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}))
    (run_dir / "predictions.jsonl").write_text("".join(line + "\n" for line in [*lines, *extra_lines]))
    return run_dir


def test_compare_two_runs(bench, tmp_path):
    n = len(bench.questions)
    assert n == 10
    a_correct = [True] * 8 + [False] * 2
    b_correct = [True, True, True, False, False, False, False, False, True, False]
    run_a = _write_run(tmp_path / "a", bench, "model-a", a_correct)
    # B's question 9 is a parse failure, question 1 is missing (killed run), plus a rotated asking (ignored)
    rotated = json.dumps({"id": bench.questions[0].id + "#r1", "answer": "A", "status": "ok", "raw": "A",
                          "latency_s": 0.1})
    run_b = _write_run(tmp_path / "b", bench, "model-b", b_correct, statuses={9: "parse_fail"}, skip={1},
                       extra_lines=[rotated])
    b_effective = np.array(b_correct) & (np.arange(n) != 1)
    result = runner.invoke(_app(), ["compare", str(run_a), str(run_b), "--benchmark", str(bench.path),
                                    "--seed", "3", "--resamples", "2000", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    a, b = np.array(a_correct), b_effective
    boot = paired_bootstrap(a, b, seed=3, resamples=2000)
    test = mcnemar(a, b)
    assert out["n"] == 10 and out["benchmark"] == bench.name
    assert out["run_a"]["accuracy"] == 80.0 and out["run_b"]["accuracy"] == 30.0
    assert out["run_b"]["missing"] == 1 and out["run_b"]["model"] == "model-b"
    assert out["difference"] == 50.0
    assert out["difference_ci95"] == [round(boot.ci_low, 6), round(boot.ci_high, 6)]
    assert out["bootstrap"] == {"method": "paired percentile", "resamples": 2000, "seed": 3,
                                "p_value": boot.p_value}
    # A only right on questions 1 and 3-7, B only on question 8
    assert out["mcnemar"]["a_only"] == 6 and out["mcnemar"]["b_only"] == 1 and out["mcnemar"]["method"] == "exact"
    assert out["mcnemar"]["p_value"] == pytest.approx(stats.binomtest(1, 7, 0.5).pvalue)
    assert test.p_value == out["mcnemar"]["p_value"]

    text = runner.invoke(_app(), ["compare", str(run_a), str(run_b), "--benchmark", str(bench.path)])
    assert text.exit_code == 0, text.output
    assert "+50.00 points" in text.stdout and "seed 0" in text.stdout and "10000 resamples" in text.stdout
    assert "McNemar" in text.stdout and "1 unanswered" in text.stdout
    assert (run_b / "predictions.jsonl").read_text().count("\n") == 10  # read, never rewritten


def test_compare_finds_the_benchmark_by_name_under_results(bench, tmp_path):
    import shutil

    results = tmp_path / "results"
    shutil.copytree(bench.path, results / "benchmarks" / "mybench")
    run_a = _write_run(tmp_path / "a", bench, "a", [True] * 10, name="mybench")
    run_b = _write_run(tmp_path / "b", bench, "b", [False] * 10, name="mybench")
    result = runner.invoke(_app(), ["compare", str(run_a), str(run_b), "--results", str(results), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["difference"] == 100.0


def _one_line_error(args, *fragments):
    result = runner.invoke(_app(), ["compare", *map(str, args)])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("actbench: error:") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_compare_refuses_runs_on_different_benchmarks(bench, tmp_path):
    run_a = _write_run(tmp_path / "a", bench, "a", [True] * 10)
    run_b = _write_run(tmp_path / "b", bench, "b", [True] * 10, sha="f" * 64, name="other")
    _one_line_error([run_a, run_b, "--benchmark", bench.path], str(run_b / "run.json"),
                    "field 'benchmark.manifest_sha256'", bench.manifest_sha256, "ffffffff", "other")


def test_compare_bad_inputs(bench, tmp_path):
    run_a = _write_run(tmp_path / "a", bench, "a", [True] * 10)
    run_b = _write_run(tmp_path / "b", bench, "b", [False] * 10)
    _one_line_error([run_a, tmp_path / "nowhere", "--benchmark", bench.path], "nowhere", "not a directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error([run_a, empty, "--benchmark", bench.path], str(empty / "run.json"), "file not found")
    (run_b / "predictions.jsonl").unlink()
    _one_line_error([run_a, run_b, "--benchmark", bench.path], str(run_b / "predictions.jsonl"), "file not found")
    stranger = _write_run(tmp_path / "c", bench, "c", [True] * 10,
                          extra_lines=[json.dumps({"id": "P99_01_0", "answer": "A", "status": "ok"})])
    _one_line_error([run_a, stranger, "--benchmark", bench.path], "predictions.jsonl:11", "field 'id'", "P99_01_0")
    # no benchmark found by the recorded name
    _one_line_error([run_a, run_a, "--results", tmp_path / "none"], str(run_a / "run.json"), "field 'benchmark.name'")
    # a benchmark whose manifest is not the one the runs answered
    other = _write_run(tmp_path / "d", bench, "d", [True] * 10, sha="0" * 64)
    _one_line_error([other, other, "--benchmark", bench.path], "manifest.json", "sha256", "0" * 12)
    _one_line_error([run_a, run_a, "--benchmark", bench.path, "--resamples", "0"], "--resamples")
