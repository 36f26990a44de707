"""Questions per second of ``smollm2-135m-blind``: plain batching vs the shared-prefix key/value cache.

The same adapter code, the same questions and micro-batch size; the only difference is whether each
prompt runs whole or only its suffix (options + instruction + assistant header) on top of the cached
system turn and question stem. Modes alternate within each repeat (the machine is shared, so both see
the same load); the best and the median of ``--repeat`` runs are printed, then the ratio, and how far
the two modes' letter probabilities are apart.

Questions: the first ``--questions`` (200) of a real EK100-MQA built with the ``prior`` source when
``ACTBENCH_DATA_DIR`` is set (built into a temporary folder), else the same number of synthetic
questions (printed as such). The model loads from the conversion cache (``$ACTBENCH_MODEL_CACHE`` or
``~/.cache/actbench/models``), converting it first if needed; the load time is printed.

Run: ``ACTBENCH_DATA_DIR=../shared/data .venv/bin/python perf/blind_lm_throughput.py``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from actbench.model_adapters.blind_lm import BlindArgs, BlindLM
from actbench.model_adapters.smollm2 import load_smollm2
from actbench.records import LETTERS, Question


def real_questions(n: int) -> tuple[list[Question], str]:
    from actbench.mqa_builder.benchmark_dir import load_benchmark
    from actbench.mqa_builder.build import BuildSpec, build_mqa

    out = Path(tempfile.mkdtemp(prefix="actbench-perf-")) / "ek100-mqa-prior"
    build_mqa(BuildSpec(source="prior", out=out, limit=n))
    return list(load_benchmark(out).questions)[:n], f"ek100-mqa-prior (real annotations, first {n})"


def synthetic_questions(n: int, k: int = 5) -> tuple[list[Question], str]:
    verbs = ["take", "put down", "wash", "open", "close", "cut", "stir", "pour", "turn on", "dry"]
    nouns = ["plate", "knife", "chopping board", "cupboard", "onion", "tap", "pan", "spoon", "fridge", "bowl"]
    from actbench.prompts import EGOCENTRIC

    out = []
    for i in range(n):
        options = tuple(f"{verbs[(i + 3 * j) % 10]} {nouns[(7 * i + j) % 10]}" for j in range(k))
        out.append(Question(f"S_{i}", "S", 0.0, 1.0, EGOCENTRIC, options, i % k, LETTERS[i % k],
                            tuple(f"{j}:{j}" for j in range(k)), (None,) * k))
    return out, f"synthetic ({n} questions, K={k}; set ACTBENCH_DATA_DIR for the real benchmark)"


def run_once(adapter: BlindLM, questions: list[Question]) -> tuple[float, list]:
    t0 = time.perf_counter()
    answers = []
    for start in range(0, len(questions), adapter.batch_size):  # as the runner hands out batches
        answers += adapter.answer(questions[start:start + adapter.batch_size])
    return time.perf_counter() - t0, answers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--micro-batch", type=int, default=BlindArgs().micro_batch)
    parser.add_argument("--batch-size", type=int, default=BlindArgs().batch_size)
    args = parser.parse_args()

    if os.environ.get("ACTBENCH_DATA_DIR"):
        questions, what = real_questions(args.questions)
    else:
        questions, what = synthetic_questions(args.questions)
    t0 = time.perf_counter()
    loaded = load_smollm2()
    how = "converted from the GGUF now" if loaded.converted else "from the conversion cache"
    print(f"model: {loaded.folder} ({how}), load {time.perf_counter() - t0:.1f} s")

    import torch

    print(f"questions: {what}; torch threads {torch.get_num_threads()}, micro_batch {args.micro_batch}, "
          f"batch_size {args.batch_size}")
    modes = {name: BlindLM(loaded.model, loaded.tokenizer,
                           BlindArgs(prefix_cache=cached, micro_batch=args.micro_batch, batch_size=args.batch_size))
             for name, cached in (("plain", False), ("prefix-cache", True))}
    for adapter in modes.values():  # warm-up (and the prefix's cache computed once, as in a run)
        adapter.answer(questions[:8])
    times: dict[str, list[float]] = {name: [] for name in modes}
    answers: dict[str, list] = {}
    for _ in range(args.repeat):
        for name, adapter in modes.items():
            seconds, answers[name] = run_once(adapter, questions)
            times[name].append(seconds)

    n = len(questions)
    for name, adapter in modes.items():
        best, median = min(times[name]), statistics.median(times[name])
        tokens = statistics.mean(a.tokens_in - a.extra.get("cached_tokens", 0) for a in answers[name])
        print(f"{name:>13}: {n / best:6.2f} questions/s best, {n / median:6.2f} median "
              f"({args.repeat} runs; {tokens:.1f} tokens computed per question; stats {adapter.stats})")
    ratio_best = min(times["plain"]) / min(times["prefix-cache"])
    ratio_median = statistics.median(times["plain"]) / statistics.median(times["prefix-cache"])
    print(f"ratio prefix-cache / plain: {ratio_best:.2f}x (best), {ratio_median:.2f}x (median)")

    import json

    diffs = [max(abs(x - y) for x, y in zip(json.loads(a.raw).values(), json.loads(b.raw).values()))
             for a, b in zip(answers["plain"], answers["prefix-cache"])]
    same = sum(a.answer == b.answer for a, b in zip(answers["plain"], answers["prefix-cache"]))
    right = {name: sum(a.answer == q.answer_letter for a, q in zip(got, questions)) for name, got in answers.items()}
    print(f"agreement: {same}/{n} same letters, max |p_plain - p_cached| = {max(diffs):.2e}; "
          f"accuracy {right['plain'] / n:.3f} (plain), {right['prefix-cache'] / n:.3f} (prefix-cache)")


if __name__ == "__main__":
    main()
