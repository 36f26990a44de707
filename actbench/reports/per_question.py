"""The leaderboard's per-question analyses: each run's answers next to its benchmark's questions.

A leaderboard row comes from ``metrics.json`` alone; significance between rows, error diversity and the
confusion heat maps need every answer (``predictions.jsonl``) and the answer key (the benchmark's
``questions.jsonl``). The benchmark directory is found from ``run.json`` (name and manifest sha256) the
way ``actbench run`` places it: ``<results>/benchmarks/<name>`` under any folder from the run directory
up to the parent of the reported folder, under each ``--benchmarks`` folder (or that folder itself), and
under ``./results``. Only a directory whose ``manifest.json`` hashes to the recorded sha256 is used (a
rebuilt benchmark may have other questions). When none is found, or a run has no journal, its rows get
no per-question figures and the report says so; nothing fails.

Significance: each row is compared with the closest higher-ranked row of its benchmark group that
answered the same question ids (paired bootstrap over questions with a recorded seed, and McNemar's
test; :mod:`actbench.evaluators.paired_tests`). The difference counts as significant only when both
p-values are below :data:`ALPHA`: on a few dozen questions the percentile bootstrap rejects too readily
(10 questions, 5 discordant all one way: bootstrap p = 0.002, McNemar's exact p = 0.0625).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actbench.atomic import sha256_file
from actbench.errors import ActbenchError
from actbench.evaluators.circular import SEPARATOR
from actbench.evaluators.paired_tests import mcnemar, paired_bootstrap
from actbench.journal import read_finished_answers
from actbench.model_adapters.multi_answer import answer_fits, key_letters
from actbench.mqa_builder.benchmark_dir import MANIFEST, Benchmark, load_benchmark
from actbench.records import Answer, Question
from actbench.reports.error_diversity import (
    Overlap,
    class_pairs,
    distractor_overlap,
    has_verb_noun_classes,
    mqa_dscores,
    overlap_counts,
)
from actbench.runner import (
    DEFAULT_RESULTS,
    PREDICTIONS,
    RUN_JSON,
    RunInfo,
    built_benchmark_dir,
)

ALPHA = 0.05
RESAMPLES = 10_000


@dataclass(frozen=True)
class RunAnswers:
    """A run's answers aligned with the questions it was asked (benchmark order, up to its limit)."""

    questions: tuple[Question, ...]
    answers: tuple[Answer | None, ...]  # None: never answered (counts as wrong, as in metrics.json)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)

    def correct(self) -> np.ndarray:
        return np.array([a is not None and a.status == "ok" and q.answer_letter is not None
                         and a.answer == key_letters(q) for q, a in zip(self.questions, self.answers)], dtype=bool)


@dataclass(frozen=True)
class RunAnalysis:
    run: RunAnswers
    truth: np.ndarray  # class of the key, per keyed question answered ok
    chosen: np.ndarray  # class of the chosen option, aligned with truth
    dscore: dict[str, float]  # action / verb / noun
    overlap: Overlap  # the wrong choices among them


@dataclass(frozen=True)
class Comparison:
    above: str  # run_dir of the row compared with
    p_bootstrap: float
    p_mcnemar: float

    @property
    def p_value(self) -> float:
        """The larger of the two: with few questions the percentile bootstrap is too ready to reject."""
        return max(self.p_bootstrap, self.p_mcnemar)

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


@dataclass
class Analysis:
    runs: dict[str, RunAnalysis] = field(default_factory=dict)  # by run_dir
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # by run_dir
    benchmarks: dict[str, Benchmark] = field(default_factory=dict)  # by leaderboard benchmark label
    distractors: dict[str, Overlap] = field(default_factory=dict)  # by leaderboard benchmark label
    notes: list[str] = field(default_factory=list)
    seed: int = 0
    resamples: int = RESAMPLES


def read_answers(run_dir: Path, benchmark: Benchmark, limit: int | None) -> RunAnswers:
    """The journal's answers to the run's questions, read without touching the file (a cut last line is
    not an answer; rotated askings of ``--permutations`` runs are left out)."""
    path = Path(run_dir) / PREDICTIONS
    questions = benchmark.questions[:limit] if limit else benchmark.questions
    wanted = {q.id for q in questions}
    answers: dict[str, Answer] = {}
    for where, answer in read_finished_answers(path):
        if answer.id not in wanted:
            if SEPARATOR in answer.id:
                continue
            raise ActbenchError.bad_value(where, "id", f"a question of benchmark '{benchmark.name}'", answer.id)
        if answer.id in answers:
            raise ActbenchError.bad_value(where, "id", "each question answered once", f"{answer.id} twice")
        answers[answer.id] = answer
    for q in questions:
        a = answers.get(q.id)
        if a is not None and a.status == "ok" and not answer_fits(q, a.answer):
            raise ActbenchError.bad_value(path, "answer", f"one of {', '.join(q.letters)} for question {q.id}",
                                          a.answer)
    return RunAnswers(tuple(questions), tuple(answers.get(q.id) for q in questions))


class BenchmarkFinder:
    """Finds (and loads once) the benchmark directory a run answered, by name and manifest hash."""

    def __init__(self, results: Path, roots: Sequence[Path] = ()):
        self.results = Path(results)
        self.roots = [Path(r) for r in roots]
        self._loaded: dict[Path, Benchmark] = {}

    def _candidates(self, name: str, run_dir: Path) -> list[Path]:
        found = []
        for root in self.roots:
            found += [root, root / name, built_benchmark_dir(name, root)]
        stop = self.results.resolve().parent
        for folder in [run_dir.resolve(), *run_dir.resolve().parents]:
            found.append(built_benchmark_dir(name, folder))
            if folder == stop:
                break
        return found + [built_benchmark_dir(name, DEFAULT_RESULTS)]

    def find(self, name: str, sha: str, run_dir: Path) -> Benchmark | None:
        for candidate in self._candidates(name, run_dir):
            manifest = candidate / MANIFEST
            if not manifest.is_file() or sha256_file(manifest) != sha:
                continue
            key = candidate.resolve()
            if key not in self._loaded:
                self._loaded[key] = load_benchmark(candidate)
            return self._loaded[key]
        return None


def analyse_run(run: RunAnswers, *, verb_noun: bool = True) -> RunAnalysis:
    """``verb_noun``: the classes are EPIC "verb:noun" ids (else only the action level is analysed)."""
    truth, chosen = class_pairs(run.questions, run.answers)
    return RunAnalysis(run, truth, chosen, mqa_dscores(truth, chosen, verb_noun=verb_noun),
                       overlap_counts(truth, chosen, verb_noun=verb_noun))


def analyse(rows: Sequence, results: Path, *, roots: Sequence[Path] = (), seed: int = 0,
            resamples: int = RESAMPLES) -> Analysis:
    """Per-question analyses of leaderboard rows (``leaderboard.Row``, grouped and sorted)."""
    analysis = Analysis(seed=seed, resamples=resamples)
    finder = BenchmarkFinder(results, roots)
    missing: dict[str, list[str]] = {}
    for row in rows:
        run_dir = Path(results) / row.run_dir
        info = RunInfo.model_validate_json((run_dir / RUN_JSON).read_bytes())  # validated by collect()
        name = str(info.benchmark.get("name"))
        benchmark = finder.find(name, row.manifest_sha256, run_dir)
        if benchmark is None:
            missing.setdefault(row.benchmark, []).append("benchmark")
            continue
        analysis.benchmarks.setdefault(row.benchmark, benchmark)
        if not (run_dir / PREDICTIONS).is_file():
            missing.setdefault(row.benchmark, []).append(f"journal of {row.run_dir}")
            continue
        analysis.runs[row.run_dir] = analyse_run(read_answers(run_dir, benchmark, info.limit),
                                                 verb_noun=has_verb_noun_classes(benchmark.manifest.dataset))
    for label, benchmark in analysis.benchmarks.items():
        analysis.distractors[label] = distractor_overlap(
            benchmark.questions, verb_noun=has_verb_noun_classes(benchmark.manifest.dataset))
    for label, what in sorted(missing.items()):
        if "benchmark" in what:
            analysis.notes.append(f"{label}: benchmark directory not found (no '{label.split('@')[0]}' with the "
                                  "recorded manifest sha256 under results/benchmarks or --benchmarks); "
                                  "significance and error diversity skipped for its runs.")
        for item in sorted(w for w in what if w != "benchmark"):
            analysis.notes.append(f"{label}: no {item} (predictions.jsonl); its row has no per-question analyses.")
    analysis.comparisons = compare_adjacent(rows, analysis.runs, seed=seed, resamples=resamples)
    return analysis


def compare_adjacent(rows: Sequence, runs: dict[str, RunAnalysis], *, seed: int,
                     resamples: int = RESAMPLES) -> dict[str, Comparison]:
    """Each row against the closest higher-ranked row of its benchmark that answered the same question ids."""
    comparisons: dict[str, Comparison] = {}
    above: dict[str, list] = {}
    for row in rows:
        mine = runs.get(row.run_dir)
        if mine is None:
            continue
        higher = above.setdefault(row.benchmark, [])
        partner = next((r for r in reversed(higher) if runs[r.run_dir].run.ids == mine.run.ids), None)
        if partner is not None:
            a, b = runs[partner.run_dir].run.correct(), mine.run.correct()
            comparisons[row.run_dir] = Comparison(partner.run_dir,
                                                  paired_bootstrap(a, b, seed=seed, resamples=resamples).p_value,
                                                  mcnemar(a, b).p_value)
        higher.append(row)
    return comparisons
