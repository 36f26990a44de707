"""``actbench compare RUN_A RUN_B``: is the difference between two runs on one benchmark significant?

    actbench compare RUN_A RUN_B [--benchmark DIR|NAME] [--results results] [--seed 0] [--resamples 10000]
                     [--json]

Both run directories must answer the same benchmark (the same ``benchmark.manifest_sha256`` in their
``run.json``) and the same questions (the same ``limit``). Correctness per question comes from each
``predictions.jsonl`` against the benchmark's answer key: only an ``ok`` answer with the key's letter is
right; a parse failure, refusal, error or missing answer is wrong (as in ``metrics.json``). Rotated
askings of ``--permutations`` runs are left out: the originals are compared. The benchmark is found as
``actbench run`` finds it (a directory, or a built card's name under ``--results``), by the name in
``run.json`` unless ``--benchmark`` is given; its manifest must hash to the recorded value.

Reported: each accuracy, the difference A - B with its paired-bootstrap percentile interval and p-value,
McNemar's test, and the bootstrap seed (see :mod:`actbench.evaluators.paired_tests`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from actbench.cli.common import user_errors
from actbench.errors import ActbenchError

if TYPE_CHECKING:  # numpy is imported when a comparison runs, not when `actbench --help` registers this
    import numpy as np


@dataclass(frozen=True)
class RunCorrectness:
    run_dir: Path
    model: str
    correct: np.ndarray  # bool, one per question of the benchmark (in its order, up to the run's limit)
    missing: int  # questions without an answer in the journal (counted wrong)


@dataclass(frozen=True)
class PairedRuns:
    benchmark: str
    manifest_sha256: str
    question_ids: tuple[str, ...]
    a: RunCorrectness
    b: RunCorrectness


def _run_info(run_dir: Path):
    from actbench.runner import RUN_JSON, load_run_info

    path = Path(run_dir) / RUN_JSON
    info = load_run_info(run_dir)
    if info.partial:  # a shard's unanswered questions would count as wrong
        raise ActbenchError.bad_value(path, "shard", "a whole run (join shards with actbench merge)",
                                      str(info.shard or info.merged.missing))
    sha = info.benchmark.get("manifest_sha256")
    if not isinstance(sha, str) or not sha:
        raise ActbenchError.bad_value(path, "benchmark.manifest_sha256", "the sha256 of the benchmark's manifest",
                                      sha if sha is not None else "none")
    return path, info


def _answers(run_dir: Path, wanted: dict) -> dict:
    """The journal's answers to ``wanted`` questions, read without touching the file."""
    from actbench.evaluators.circular import SEPARATOR, original_id
    from actbench.journal import read_finished_answers
    from actbench.runner import PREDICTIONS

    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        raise ActbenchError(f"{path}: file not found (the run's journal of answers)")
    answers = {}
    for where, answer in read_finished_answers(path):
        if answer.id not in wanted:
            if SEPARATOR in answer.id and original_id(answer.id) in wanted:
                continue  # a rotated asking (--permutations)
            raise ActbenchError.bad_value(where, "id", "a question of the compared benchmark", answer.id)
        if answer.id in answers:
            raise ActbenchError.bad_value(where, "id", "each question answered once", f"{answer.id} twice")
        answers[answer.id] = answer
    return answers


def _benchmark(choice: Optional[str], recorded_name: str, run_json: Path, sha: str, results: Path):
    from actbench.mqa_builder.benchmark_dir import MANIFEST, load_benchmark
    from actbench.runner import resolve_benchmark

    if choice is None:
        try:
            path = resolve_benchmark(recorded_name, results)
        except ActbenchError:
            raise ActbenchError.bad_value(run_json, "benchmark.name", f"a benchmark directory or built card under "
                                          f"{results} (or pass --benchmark DIR)", recorded_name) from None
    else:
        path = resolve_benchmark(choice, results)
    benchmark = load_benchmark(path)
    if benchmark.manifest_sha256 != sha:
        raise ActbenchError.bad_value(Path(path) / MANIFEST, "sha256", f"{sha}, the benchmark recorded in {run_json}",
                                      f"{benchmark.manifest_sha256} (another build of the benchmark)")
    return benchmark


def load_paired_runs(run_a: Path, run_b: Path, *, benchmark: Optional[str] = None,
                     results: Path = Path("results")) -> PairedRuns:
    """Per-question correctness of two runs on the same benchmark and questions (aligned)."""
    json_a, info_a = _run_info(run_a)
    json_b, info_b = _run_info(run_b)
    sha = info_a.benchmark["manifest_sha256"]
    if info_b.benchmark["manifest_sha256"] != sha:
        raise ActbenchError.bad_value(json_b, "benchmark.manifest_sha256",
                                      f"{sha}, the benchmark of {json_a} (runs on the same benchmark)",
                                      f"{info_b.benchmark['manifest_sha256']} (benchmark "
                                      f"'{info_b.benchmark.get('name')}')")
    if info_b.limit != info_a.limit:
        raise ActbenchError.bad_value(json_b, "limit", f"{info_a.limit}, as in {json_a} (the same questions)",
                                      info_b.limit)
    import numpy as np

    bench = _benchmark(benchmark, str(info_a.benchmark.get("name")), json_a, sha, Path(results))
    questions = bench.questions[: info_a.limit] if info_a.limit else bench.questions
    wanted = {q.id: q for q in questions}

    def correctness(run_dir: Path, info) -> RunCorrectness:
        answers = _answers(run_dir, wanted)
        correct = np.array([(a := answers.get(q.id)) is not None and a.status == "ok"
                            and q.answer_letter is not None and a.answer == q.answer_letter for q in questions],
                           dtype=bool)
        return RunCorrectness(Path(run_dir), str(info.model.get("name")), correct, len(questions) - len(answers))

    return PairedRuns(bench.name, sha, tuple(wanted), correctness(run_a, info_a), correctness(run_b, info_b))


def compare_runs(pair: PairedRuns, *, seed: int, resamples: int) -> dict:
    """The comparison as a JSON-ready dict (what ``--json`` prints)."""
    from actbench.evaluators.paired_tests import mcnemar, paired_bootstrap

    boot = paired_bootstrap(pair.a.correct, pair.b.correct, seed=seed, resamples=resamples)
    test = mcnemar(pair.a.correct, pair.b.correct)

    def run(r: RunCorrectness, accuracy: float) -> dict:
        return {"dir": str(r.run_dir), "model": r.model, "accuracy": round(accuracy, 6),
                "correct": int(r.correct.sum()), "missing": r.missing}

    return {
        "benchmark": pair.benchmark, "manifest_sha256": pair.manifest_sha256, "n": boot.n,
        "run_a": run(pair.a, boot.accuracy_a), "run_b": run(pair.b, boot.accuracy_b),
        "difference": round(boot.difference, 6),
        "difference_ci95": [round(boot.ci_low, 6), round(boot.ci_high, 6)],
        "bootstrap": {"method": "paired percentile", "resamples": resamples, "seed": seed,
                      "p_value": boot.p_value},
        "mcnemar": {"a_only": test.a_only, "b_only": test.b_only, "method": test.method,
                    "statistic": round(test.statistic, 6), "p_value": test.p_value},
    }


def _text(result: dict) -> list[str]:
    a, b, boot, mc = result["run_a"], result["run_b"], result["bootstrap"], result["mcnemar"]
    low, high = result["difference_ci95"]
    method = "exact binomial" if mc["method"] == "exact" else f"chi-square (continuity corrected) {mc['statistic']:.3f}"
    lines = [f"benchmark {result['benchmark']} ({result['manifest_sha256'][:12]}), {result['n']} questions"]
    for label, r in (("A", a), ("B", b)):
        missing = f", {r['missing']} unanswered (wrong)" if r["missing"] else ""
        lines.append(f"{label}  {r['model']:<20} accuracy {r['accuracy']:6.2f}  ({r['correct']} correct{missing})"
                     f"  {r['dir']}")
    lines.append(f"A - B  {result['difference']:+.2f} points, 95% CI [{low:+.2f}, {high:+.2f}], "
                 f"p = {boot['p_value']:.4g}  (paired bootstrap, {boot['resamples']} resamples, seed {boot['seed']})")
    lines.append(f"McNemar  A only right {mc['a_only']}, B only right {mc['b_only']}: {method}, "
                 f"p = {mc['p_value']:.4g}")
    return lines


@user_errors
def compare(
    run_a: Path = typer.Argument(..., help="Run directory A (run.json, predictions.jsonl)."),
    run_b: Path = typer.Argument(..., help="Run directory B, on the same benchmark."),
    benchmark: Optional[str] = typer.Option(None, help="The benchmark directory (or built card name) holding the "
                                                       "answer key (default: the name in run.json)."),
    results: Path = typer.Option(Path("results"), help="Where built cards are looked up."),
    seed: int = typer.Option(0, help="Seed of the bootstrap resampling."),
    resamples: int = typer.Option(10_000, help="Bootstrap resamples."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Paired bootstrap and McNemar's test of two runs' accuracy on the same questions."""
    if resamples < 1:
        raise ActbenchError.bad_value("--resamples", "resamples", "a positive integer", resamples)
    if seed < 0:
        raise ActbenchError.bad_value("--seed", "seed", "a non-negative integer", seed)
    result = compare_runs(load_paired_runs(run_a, run_b, benchmark=benchmark, results=results),
                          seed=seed, resamples=resamples)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for line in _text(result):
        typer.echo(line)
