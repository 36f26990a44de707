"""Benchmark audit: is a built MQA benchmark sound? Five checks, each ``pass`` or ``warn`` with its figures.

1. ``duplicates``: options of one question that read the same (equal after :func:`actbench.text.normalise`)
   or nearly the same (cosine similarity of their all-MiniLM-L6-v2 embeddings >= a threshold, default
   0.9); the worst pairs are listed with the question ids. Texts that stand for several classes across
   the benchmark are counted too (figure only).
2. ``letter_balance``: the correct letters against a uniform placement (chi-square goodness of fit,
   warn when p < 0.01) and the largest deviation of a letter's share, in points.
3. ``length_bias``: accuracy of "pick the longest option" and "pick the shortest option" (in
   characters; a tie for the longest / shortest picks nothing and is wrong). Chance is what the rule
   scores when the answer is placed independently of length: 1/K on questions with a single longest
   (shortest) option, 0 on tied ones. Warn when the bootstrap interval of either rule excludes chance.
4. ``text_baselines``: models that never see the video (``prior``, ``smollm2-135m-blind``), run with
   :func:`actbench.runner.run` into ``OUT/runs/MODEL``; a slow model runs on a seeded subset (written as
   a benchmark of its own under ``OUT/subsets``). Warn when a baseline's interval lies above chance.
5. ``leakage``: is the answer's wording unlike the distractors' (narration vs label leakage)? Per
   question, the answer's mean similarity to the distractors against the distractors' mean similarity
   among themselves, and the accuracy of "pick the odd one out" (the option least similar to the
   others) and "pick the most central" (most similar). Warn when either interval lies above chance.

Intervals are the percentile bootstrap of :func:`actbench.evaluators.mqa_accuracy.bootstrap_interval`
with the audit's seed. Questions without a key (two-stage) are left out of the checks that need one.

>>> chi2_sf(0.0, 4), round(chi2_sf(3.841459, 1), 4), round(chi2_sf(9.487729, 4), 4)
(1.0, 0.05, 0.05)
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actbench import __version__
from actbench.atomic import atomic_write_json, atomic_write_text
from actbench.errors import ActbenchError
from actbench.evaluators.mqa_accuracy import bootstrap_interval
from actbench.mqa_builder.benchmark_dir import (
    Benchmark,
    load_benchmark,
    question_to_json,
    write_benchmark,
)
from actbench.records import LETTERS, Question

SCHEMA_VERSION = 1
AUDIT_JSON = "audit.json"
AUDIT_MD = "audit.md"
TEXT_BASELINES = ("prior", "smollm2-135m-blind")
SLOW_BASELINES = frozenset({"smollm2-135m-blind"})  # run on a seeded subset of --text-baseline-limit questions
BALANCE_ALPHA = 0.01
MAX_EXAMPLES = 10


@dataclass(frozen=True)
class AuditSpec:
    benchmark: str  # a benchmark directory or a built card's name
    out: Path | None = None  # default: BENCH_DIR/../<name>-audit (never inside the benchmark directory)
    text_baselines: bool = True
    baselines: tuple[str, ...] = TEXT_BASELINES
    text_baseline_limit: int = 500
    seed: int = 0
    similarity_threshold: float = 0.9
    data_dir: Path | None = None
    results: Path = Path("results")

    def validate(self) -> None:
        if not 0.0 < self.similarity_threshold <= 1.0:
            raise ActbenchError.bad_value("--similarity-threshold", "similarity_threshold", "a number in (0, 1]",
                                          self.similarity_threshold)
        if self.text_baseline_limit < 1:
            raise ActbenchError.bad_value("--text-baseline-limit", "text_baseline_limit", "a positive integer",
                                          self.text_baseline_limit)
        if self.seed < 0:
            raise ActbenchError.bad_value("--seed", "seed", "a non-negative integer", self.seed)


def default_out(bench_dir: Path) -> Path:
    """``BENCH_DIR/../<name>-audit``: beside the benchmark, as a rebuild refuses foreign files inside it."""
    bench_dir = Path(bench_dir)
    return bench_dir.parent / f"{bench_dir.name}-audit"


def chi2_sf(x: float, df: int) -> float:
    """Survival function of the chi-square distribution for an integer ``df`` >= 1 (closed forms)."""
    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, math.exp(-half) * total)
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(2.0 * x / math.pi) * math.exp(-half)
    for i in range(1, (df - 1) // 2 + 1):
        total += term
        term *= x / (2 * i + 1)
    return min(1.0, total)


def _keyed(questions: Sequence[Question]) -> list[Question]:
    return [q for q in questions if q.answer_index is not None]


def _check(name: str, title: str, status: str, summary: str, figures: dict, threshold: dict,
           examples: list | None = None) -> dict:
    return {"name": name, "title": title, "status": status, "summary": summary, "figures": figures,
            "threshold": threshold, "examples": examples or []}


def _skipped(name: str, title: str, reason: str) -> dict:
    return _check(name, title, "skipped", reason, {}, {})


def _rule_figures(correct: np.ndarray, chance: float, seed: int) -> dict:
    low, high = bootstrap_interval(correct, seed=seed)
    return {"accuracy": round(100.0 * float(correct.mean()), 6) if correct.size else float("nan"),
            "accuracy_ci95": [low, high], "chance": round(chance, 6), "n": int(correct.size)}


# -- 1. options that read the same -------------------------------------------------------------------


def check_duplicates(questions: Sequence[Question], similarities: Callable[[Question], np.ndarray], *,
                     threshold: float) -> dict:
    """Pairs of options of one question that read the same or nearly the same."""
    from actbench.text import normalise

    title = "Options that read the same or nearly the same"
    exact, near = [], []
    near_questions = set()
    classes_of: dict[str, set[str]] = defaultdict(set)
    for q in questions:
        texts = [normalise(o) for o in q.options]
        for text, cls in zip(texts, q.option_classes):
            classes_of[text].add(cls)
        sims = similarities(q)
        for i in range(len(q.options)):
            for j in range(i + 1, len(q.options)):
                pair = {"id": q.id, "letters": [LETTERS[i], LETTERS[j]], "options": [q.options[i], q.options[j]],
                        "classes": [q.option_classes[i], q.option_classes[j]],
                        "similarity": round(float(sims[i, j]), 4),
                        "with_answer": q.answer_index in (i, j)}
                if texts[i] == texts[j]:
                    exact.append(pair)
                elif sims[i, j] >= threshold:
                    near.append(pair)
                    near_questions.add(q.id)
    several = sorted((t for t, c in classes_of.items() if len(c) > 1), key=lambda t: (-len(classes_of[t]), t))
    worst = exact + sorted(near, key=lambda p: (-p["similarity"], p["id"], p["letters"]))
    figures = {
        "questions": len(questions), "exact_pairs": len(exact), "near_pairs": len(near),
        "near_pairs_with_answer": sum(p["with_answer"] for p in near),
        "questions_with_near_pair": len(near_questions),
        "questions_with_near_pair_pct": round(100.0 * len(near_questions) / max(len(questions), 1), 6),
        "texts_under_several_classes": len(several),
        "texts_under_several_classes_examples": [{"text": t, "classes": sorted(classes_of[t])}
                                                 for t in several[:MAX_EXAMPLES]],
    }
    status = "warn" if exact or near else "pass"
    summary = (f"{len(exact)} pairs read the same, {len(near)} pairs have cosine >= {threshold:g} "
               f"({figures['near_pairs_with_answer']} of them with the answer) in {len(near_questions)} questions")
    return _check("duplicates", title, status, summary, figures,
                  {"similarity": threshold, "warn_when": "any pair reads the same or has similarity >= threshold"},
                  worst[:MAX_EXAMPLES])


# -- 2. balance of the correct letter ----------------------------------------------------------------


def check_letter_balance(questions: Sequence[Question], *, alpha: float = BALANCE_ALPHA) -> dict:
    """Chi-square goodness of fit of the answer letters to a uniform placement over each question's options."""
    title = "Balance of the correct letter"
    keyed = _keyed(questions)
    if not keyed:
        return _skipped("letter_balance", title, "no question has a key (two-stage benchmark)")
    width = max(len(q.options) for q in keyed)
    observed = np.zeros(width)
    expected = np.zeros(width)
    for q in keyed:
        observed[q.answer_index] += 1
        expected[: len(q.options)] += 1.0 / len(q.options)
    used = expected > 0
    statistic = float((((observed - expected) ** 2)[used] / expected[used]).sum())
    df = int(used.sum()) - 1
    p = chi2_sf(statistic, df)
    deviation = 100.0 * np.abs(observed - expected) / len(keyed)
    worst = int(np.argmax(deviation))
    figures = {"n": len(keyed), "counts": {LETTERS[i]: int(observed[i]) for i in range(width)},
               "expected": {LETTERS[i]: round(float(expected[i]), 6) for i in range(width)},
               "chi2": round(statistic, 6), "df": df, "p_value": p,
               "max_deviation_pts": round(float(deviation[worst]), 6), "max_deviation_letter": LETTERS[worst]}
    status = "warn" if p < alpha else "pass"
    summary = (f"chi-square {statistic:.2f} (df {df}), p = {p:.3g}; largest deviation {deviation[worst]:.2f} "
               f"points (letter {LETTERS[worst]})")
    return _check("letter_balance", title, status, summary, figures,
                  {"alpha": alpha, "warn_when": "p < alpha"})


# -- 3. option-length bias ---------------------------------------------------------------------------


def _length_rule(keyed: Sequence[Question], pick: Callable[[list[int]], int]) -> tuple[np.ndarray, float, int]:
    correct = np.zeros(len(keyed), dtype=bool)
    chance, ties = 0.0, 0
    for row, q in enumerate(keyed):
        lengths = [len(o.strip()) for o in q.options]
        target = pick(lengths)
        winners = [i for i, n in enumerate(lengths) if n == target]
        if len(winners) == 1:
            correct[row] = winners[0] == q.answer_index
            chance += 1.0 / len(q.options)
        else:
            ties += 1
    return correct, 100.0 * chance / max(len(keyed), 1), ties


def check_length_bias(questions: Sequence[Question], *, seed: int) -> dict:
    """Accuracy of "pick the longest" and "pick the shortest" against chance (ties pick nothing)."""
    title = "Option-length bias"
    keyed = _keyed(questions)
    if not keyed:
        return _skipped("length_bias", title, "no question has a key (two-stage benchmark)")
    figures, flagged, parts = {}, [], []
    for rule, pick in (("longest", max), ("shortest", min)):
        correct, chance, ties = _length_rule(keyed, pick)
        fig = {**_rule_figures(correct, chance, seed), "ties": ties}
        figures[rule] = fig
        low, high = fig["accuracy_ci95"]
        if not low <= chance <= high:
            flagged.append(rule)
        parts.append(f"{rule} {fig['accuracy']:.1f}% [{low:.1f}, {high:.1f}] vs chance {chance:.1f}%")
    figures["naive_chance"] = round(100.0 * float(np.mean([1.0 / len(q.options) for q in keyed])), 6)
    return _check("length_bias", title, "warn" if flagged else "pass", "; ".join(parts), figures,
                  {"length": "characters of the option text", "confidence": 0.95,
                   "warn_when": "the bootstrap interval of either rule excludes chance"})


# -- 5. narration vs label leakage -------------------------------------------------------------------


def check_leakage(questions: Sequence[Question], similarities: Callable[[Question], np.ndarray], *,
                  seed: int) -> dict:
    """Whether the answer's wording stands out from (or sits in the middle of) the distractors'."""
    title = "Narration vs label leakage (answer wording unlike the distractors')"
    keyed = [q for q in _keyed(questions) if len(q.options) >= 3]
    if not keyed:
        return _skipped("leakage", title, "no keyed question with 3 or more options")
    odd = np.zeros(len(keyed), dtype=bool)
    central = np.zeros(len(keyed), dtype=bool)
    answer_sim, distractor_sim = np.zeros(len(keyed)), np.zeros(len(keyed))
    for row, q in enumerate(keyed):
        sims = np.asarray(similarities(q), dtype=np.float64)
        k, a = len(q.options), q.answer_index
        others = [i for i in range(k) if i != a]
        answer_sim[row] = sims[a, others].mean()
        block = sims[np.ix_(others, others)]
        distractor_sim[row] = (block.sum() - np.trace(block)) / (len(others) * (len(others) - 1))
        mean_to_others = (sims.sum(axis=1) - np.diag(sims)) / (k - 1)
        for hits, value in ((odd, mean_to_others.min()), (central, mean_to_others.max())):
            winners = np.flatnonzero(mean_to_others == value)
            hits[row] = winners.size == 1 and winners[0] == a
    chance = 100.0 * float(np.mean([1.0 / len(q.options) for q in keyed]))
    gap = distractor_sim - answer_sim
    figures = {
        "n": len(keyed),
        "answer_to_distractors_mean": round(float(answer_sim.mean()), 6),
        "distractors_among_themselves_mean": round(float(distractor_sim.mean()), 6),
        "gap_mean": round(float(gap.mean()), 6),
        "answer_less_similar_pct": round(100.0 * float((gap > 0).mean()), 6),
        "odd_one_out": _rule_figures(odd, chance, seed),
        "most_central": _rule_figures(central, chance, seed),
    }
    flagged = [name for name in ("odd_one_out", "most_central") if figures[name]["accuracy_ci95"][0] > chance]
    o, c = figures["odd_one_out"], figures["most_central"]
    summary = (f"answer-to-distractor similarity {answer_sim.mean():.3f} vs distractors among themselves "
               f"{distractor_sim.mean():.3f}; odd one out {o['accuracy']:.1f}% [{o['accuracy_ci95'][0]:.1f}, "
               f"{o['accuracy_ci95'][1]:.1f}], most central {c['accuracy']:.1f}% [{c['accuracy_ci95'][0]:.1f}, "
               f"{c['accuracy_ci95'][1]:.1f}] vs chance {chance:.1f}%")
    return _check("leakage", title, "warn" if flagged else "pass", summary, figures,
                  {"confidence": 0.95, "warn_when": "the interval of 'odd one out' or 'most central' lies above "
                                                    "chance"})


# -- 4. text-only baselines --------------------------------------------------------------------------


def _subset(bench: Benchmark, size: int, seed: int, where: Path) -> Path:
    """A seeded subset of the benchmark written as a benchmark directory of its own (same bytes per seed)."""
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(bench.questions), size=size, replace=False))
    fields = bench.manifest.model_dump(exclude={"schema_version", "actbench_version", "questions_sha256"})
    fields["name"] = f"{bench.name}-subset{size}-seed{seed}"
    fields["counts"] = {"questions": size, "subset_of": {"name": bench.name, "manifest_sha256": bench.manifest_sha256,
                                                         "questions": len(bench.questions), "seed": seed}}
    out = where / fields["name"]
    write_benchmark(out, fields, [question_to_json(bench.questions[i]) for i in keep.tolist()])
    return out


def _chance(questions: Sequence[Question]) -> float:
    return 100.0 * float(np.mean([1.0 / len(q.options) if q.answer_index is not None else 0.0 for q in questions]))


def check_text_baselines(bench: Benchmark, spec: AuditSpec, out: Path, *,
                         progress: Callable[[str], None] | None = None) -> dict:
    """Run each text-only baseline into ``out/runs/MODEL`` and compare its interval with chance."""
    from actbench.runner import METRICS, RUN_JSON, RunSpec, run

    title = "Text-only baselines against chance"
    rows, flagged = [], []
    for model in spec.baselines:
        target, subset = bench.path, None
        if model in SLOW_BASELINES and len(bench.questions) > spec.text_baseline_limit:
            target = _subset(bench, spec.text_baseline_limit, spec.seed, out / "subsets")
            subset = spec.text_baseline_limit
        run_dir = out / "runs" / model
        if progress:
            progress(f"text baseline {model} on {subset or len(bench.questions)} questions -> {run_dir}")
        started = time.perf_counter()
        try:
            run(RunSpec(model=model, benchmark=str(target), out=run_dir, seed=spec.seed, data_dir=spec.data_dir,
                        resume=(run_dir / RUN_JSON).is_file(), results=spec.results))
        except ActbenchError as error:
            rows.append({"model": model, "status": "skipped", "reason": str(error), "run_dir": str(run_dir)})
            continue
        import json

        metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
        asked = load_benchmark(target).questions
        chance = _chance(asked)
        low, high = metrics["accuracy_ci95"]
        row = {"model": model, "status": "warn" if low > chance else "pass", "run_dir": str(run_dir),
               "n": metrics["n"], "subset": subset, "accuracy": metrics["accuracy"], "accuracy_ci95": [low, high],
               "chance": round(chance, 6), "status_counts": metrics["status_counts"],
               "wall_s": round(time.perf_counter() - started, 3)}
        rows.append(row)
        if row["status"] == "warn":
            flagged.append(model)
    ran = [r for r in rows if r["status"] != "skipped"]
    status = "warn" if flagged else ("pass" if ran else "skipped")
    parts = [f"{r['model']} {r['accuracy']:.1f}% [{r['accuracy_ci95'][0]:.1f}, {r['accuracy_ci95'][1]:.1f}] "
             f"vs chance {r['chance']:.1f}%" if r["status"] != "skipped" else f"{r['model']} skipped" for r in rows]
    return _check("text_baselines", title, status, "; ".join(parts), {"baselines": rows},
                  {"confidence": 0.95, "subset": spec.text_baseline_limit, "subset_models": sorted(SLOW_BASELINES),
                   "seed": spec.seed, "warn_when": "a baseline's interval lies above chance"})


# -- the audit ---------------------------------------------------------------------------------------


def _similarity_lookup(questions: Sequence[Question]) -> Callable[[Question], np.ndarray]:
    from actbench.reports.embeddings import embed

    texts = sorted({o for q in questions for o in q.options})
    vectors = embed(texts)
    row = {t: i for i, t in enumerate(texts)}

    def similarities(q: Question) -> np.ndarray:
        v = vectors[[row[o] for o in q.options]]
        return v @ v.T

    return similarities


def audit_questions(questions: Sequence[Question], *, seed: int = 0, similarity_threshold: float = 0.9) -> list[dict]:
    """Checks 1, 2, 3 and 5 (no model runs) over questions, in the report's order."""
    similarities = _similarity_lookup(questions)
    return [check_duplicates(questions, similarities, threshold=similarity_threshold),
            check_letter_balance(questions), check_length_bias(questions, seed=seed),
            check_leakage(questions, similarities, seed=seed)]


def audit_benchmark(spec: AuditSpec, *, progress: Callable[[str], None] | None = None) -> dict:
    """Run every check and write ``audit.md`` and ``audit.json`` into the output folder; returns the report."""
    from actbench.reports.embeddings import describe as embedding_model
    from actbench.runner import resolve_benchmark

    spec.validate()
    bench_dir = resolve_benchmark(spec.benchmark, spec.results)
    bench = load_benchmark(bench_dir)
    out = Path(spec.out) if spec.out is not None else default_out(bench_dir)
    resolved, inside = out.resolve(), bench_dir.resolve()
    if resolved == inside or inside in resolved.parents:
        raise ActbenchError.bad_value("--out", "out", f"a folder outside the benchmark directory {bench_dir} "
                                      "(a rebuild refuses foreign files there)", out)
    if out.exists() and not out.is_dir():
        raise ActbenchError(f"{out}: exists and is not a directory; choose another --out")
    started = time.perf_counter()
    checks = audit_questions(bench.questions, seed=spec.seed, similarity_threshold=spec.similarity_threshold)
    if spec.text_baselines:
        checks.insert(3, check_text_baselines(bench, spec, out, progress=progress))
    else:
        checks.insert(3, _skipped("text_baselines", "Text-only baselines against chance", "--no-text-baselines"))
    report = {
        "schema_version": SCHEMA_VERSION, "actbench_version": __version__,
        "benchmark": {"name": bench.name, "path": str(bench_dir), "manifest_sha256": bench.manifest_sha256,
                      "questions": len(bench.questions), "source": bench.manifest.source, "k": bench.manifest.k,
                      "options": bench.manifest.options},
        "settings": {"seed": spec.seed, "similarity_threshold": spec.similarity_threshold,
                     "text_baselines": list(spec.baselines) if spec.text_baselines else [],
                     "text_baseline_limit": spec.text_baseline_limit, "embeddings": embedding_model()},
        "summary": dict(Counter(c["status"] for c in checks)),
        "checks": checks,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    atomic_write_json(out / AUDIT_JSON, report)
    atomic_write_text(out / AUDIT_MD, render_markdown(report))
    return report


# -- audit.md ----------------------------------------------------------------------------------------


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict) -> str:
    b, s = report["benchmark"], report["settings"]
    lines = [f"# Audit of benchmark `{b['name']}`", "",
             (f"{b['questions']} questions, source `{b['source']}`, K = {b['k']}, options `{b['options']}`, "
              f"manifest sha256 `{b['manifest_sha256'][:12]}`. Seed {s['seed']}; embeddings "
              f"{s['embeddings']['model']}; actbench {report['actbench_version']}."), "",
             "| check | status | figures |", "|---|---|---|"]
    lines += [f"| {c['title']} | **{c['status']}** | {_cell(c['summary'])} |" for c in report["checks"]]
    for c in report["checks"]:
        lines += ["", f"## {c['title']}: {c['status']}", "", c["summary"] + "."]
        if c["threshold"]:
            lines += ["", "Threshold: " + "; ".join(f"{k} = {v}" for k, v in c["threshold"].items()) + "."]
        if c["name"] == "duplicates" and c["examples"]:
            lines += ["", "| id | letters | options | classes | similarity |", "|---|---|---|---|---|"]
            lines += [f"| {e['id']} | {'/'.join(e['letters'])}{' (answer)' if e['with_answer'] else ''} | "
                      f"{_cell(' / '.join(e['options']))} | {' / '.join(e['classes'])} | {e['similarity']:.3f} |"
                      for e in c["examples"]]
        if c["name"] == "duplicates" and c["figures"].get("texts_under_several_classes"):
            lines += ["", f"{c['figures']['texts_under_several_classes']} option texts stand for several classes "
                      "across the benchmark, e.g. " + "; ".join(
                          f"'{e['text']}' ({', '.join(e['classes'])})"
                          for e in c["figures"]["texts_under_several_classes_examples"][:5]) + "."]
        if c["name"] == "letter_balance" and c["figures"]:
            counts = c["figures"]["counts"]
            lines += ["", "| letter | " + " | ".join(counts) + " |", "|---|" + "---|" * len(counts),
                      "| answers | " + " | ".join(str(v) for v in counts.values()) + " |",
                      "| expected | " + " | ".join(f"{v:.1f}" for v in c["figures"]["expected"].values()) + " |"]
        if c["name"] == "text_baselines":
            for r in c["figures"].get("baselines", []):
                if r["status"] == "skipped":
                    lines += ["", f"- `{r['model']}`: skipped ({r['reason']})"]
                else:
                    where = f" (seeded subset of {r['subset']})" if r["subset"] else ""
                    lines += ["", (f"- `{r['model']}`{where}: {r['accuracy']:.2f}% [{r['accuracy_ci95'][0]:.2f}, "
                                   f"{r['accuracy_ci95'][1]:.2f}] on {r['n']} questions vs chance {r['chance']:.2f}%: "
                                   f"**{r['status']}** (run: `{r['run_dir']}`)")]
    return "\n".join(lines) + "\n"
