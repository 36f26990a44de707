"""Inference latency and FPS of Disc, GAD (heads only) and Gen on the real SmolLM2, beside the label length.

The GAD paper's Table 1 reports the discriminative classifier faster than the generative one in proportion
to the length of the labels in tokens (EK100 2.4 tokens: Disc 1.8x faster with Llama-3.2-1B; Ego4D
GoalStep 5.5 tokens: 3.0x, 4.2x with Qwen2.5-0.5B). This script measures the same comparison here.

What is measured, per dataset (EK100 actions, Ego4D GoalStep steps; the real label sets and timelines,
read through ``ACTBENCH_DATA_DIR``):

- label length: the SmolLM2 tokens of each class name as the generation target tokenises it (with a
  leading space, label_codec.py), averaged over the action classes (the paper's figure) and over the
  action frames of the real timelines;
- per prediction, the model computation alone (actbench.evaluators.latency.ModelTimer; no data loading):
  p50 / p95 / mean latency and FPS for ``disc``, ``gad`` (``classify``: the heads only) and ``gen``
  (``generate``: greedy decoding with a key/value cache), and the ratios Disc over Gen and GAD over Disc.

How: each round draws one frame uniformly over all frames of the validation timelines (seeded), so labels
come with their real frequency, background included (``--actions-only``: none). The frame's own OAD
window gives the number of visual tokens (one per frame, 20 short + up to 128 long frames at 4 fps for
EK100, 16 + 128 at 1 fps for GoalStep, oad_layout.OAD_WINDOWS); the features are random (pre-extracted in
the paper, their values do not change the cost). The three models get the same sample in the same round,
in an order that rotates from round to round, so that load from other processes falls on all of them alike.

Gen decodes as a trained model would: an untrained one stops at a random point (its own end-of-sequence
token, or the background short-cut), so the decoding length is forced to the sampled label's token count
+ the end-of-sequence token (1 for a background frame: the reference stops after the single token
`` background``) with ``generate(..., max_new_tokens=length, stop=False)``, and every output is checked
to have exactly that length. With ``--batch N`` a call predicts N frames of N streams; Gen then decodes
the longest of the N lengths, as batched greedy decoding does.

The backbone is loaded three times (LoRA r=128 is injected into the LM in place); ``--lora`` chooses how
LoRA runs: ``unmerged`` (as actbench builds and loads a checkpoint), ``merged`` into the weights, or
``none``. The first run converts SmolLM2 from its GGUF (about 40 s); later runs read the cached copy.

Each dataset's block ends with how many cores other processes kept busy during its timing: on a shared
machine torch's default threads fight them (calls become several times slower and erratic); ``--threads 1``
is then steadier. About 2.5 minutes on 2 idle cores with the defaults (20 timed rounds).

Run: ``ACTBENCH_DATA_DIR=../shared/data .venv/bin/python perf/classifier_latency.py [--rounds 20]
[--threads 1] [--batch 1] [--lora unmerged] [--datasets ek100 ego4d-goalstep]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from actbench.datasets.oad_ground_truth import OadGroundTruth, ek100_ground_truth, goalstep_ground_truth
from actbench.datasets.oad_layout import OAD_WINDOWS, streaming_windows
from actbench.errors import ActbenchError
from actbench.evaluators.latency import ModelTimer
from actbench.recipes.oad_task import OAD_QUERY
from actbench.recipes.sequences import Sample

BACKBONE = "smollm2-135m-instruct"
KINDS = ("disc", "gad", "gen")
LOADERS = {"ek100": ek100_ground_truth, "ego4d-goalstep": goalstep_ground_truth}
# Table 1 of the paper (FPS on a GPU, pre-extracted features): (Gen, Disc) for Llama-3.2-1B and Qwen2.5-0.5B,
# and the mean label length it quotes (Llama 3 tokenizer).
PAPER = {"ek100": {"tokens": 2.4, "llama-3.2-1b": (28.8, 51.1), "qwen2.5-0.5b": (26.6, 48.6)},
         "ego4d-goalstep": {"tokens": 5.5, "llama-3.2-1b": (17.8, 53.6), "qwen2.5-0.5b": (12.3, 52.1)}}


@dataclass
class Draw:
    """One call's input: the samples (one per stream) and the number of tokens Gen must decode."""

    samples: list[Sample]
    gen_steps: int
    labels: list[int]


# ------------------------------------------------------------------------------------------- models

def build_models(heads: dict[str, list[str]], feature_dim: int, lora: str, seed: int) -> dict:
    """Disc, GAD and Gen on three copies of the real SmolLM2 (LoRA is injected into the LM in place)."""
    from actbench.recipes.backbones import load_backbone, resolve_backbone
    from actbench.recipes.feature_lm import ModelSpec, build_model
    from actbench.recipes.variants import variant

    folder = resolve_backbone(BACKBONE)
    models = {}
    for kind in KINDS:
        lm, tokenizer = load_backbone(folder)
        spec = ModelSpec(BACKBONE, feature_dim, heads, variant(kind).model_dump(), lora_r=0 if lora == "none" else 128,
                         background=None if kind == "gen" else "background")
        model = build_model(spec, lm=lm, tokenizer=tokenizer, seed=seed).eval()
        if lora == "merged":
            from peft.tuners.lora import LoraLayer

            for module in model.lm.modules():
                if isinstance(module, LoraLayer):
                    module.merge()
        models[kind] = model
    return models


# --------------------------------------------------------------------------------------------- data

def label_lengths(model, head: str) -> np.ndarray:
    """Tokens of each class's generation target (leading space, no end-of-sequence), class 0 included."""
    codec = model.codecs[head]
    return np.array([len(codec.class_ids(c)) for c in range(len(codec.class_names))])


def frame_counts(gt: OadGroundTruth) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    labels = {video: gt.labels(video) for video in gt.videos}
    return list(gt.videos), np.array([len(labels[v]) for v in gt.videos]), labels


def window_frames(video: str, t: int, dataset: str) -> int:
    """Visual tokens of the streaming window that predicts frame ``t`` (one token per frame)."""
    window = deque(streaming_windows({video: t + 1}, OAD_WINDOWS[dataset]), maxlen=1)[0]
    return len(window.long) + len(window.short)


def draws(gt: OadGroundTruth, dataset: str, n: int, batch: int, lengths: np.ndarray, shortcut: bool,
          feature_dim: int, seed: int, actions_only: bool = False) -> list[Draw]:
    """``n`` calls of ``batch`` frames drawn uniformly over all frames (so labels at their real frequency),
    or over the action frames only (background frames redrawn)."""
    rng = np.random.default_rng([seed, list(LOADERS).index(dataset)])
    videos, counts, labels = frame_counts(gt)
    ends = np.cumsum(counts)
    out = []
    for _ in range(n):
        samples, steps, picked = [], [], []
        while len(samples) < batch:
            g = int(rng.integers(0, ends[-1]))
            v = int(np.searchsorted(ends, g, side="right"))
            t = g - int(ends[v - 1] if v else 0)
            label = int(labels[videos[v]][t])
            if actions_only and label == 0:
                continue
            frames = window_frames(videos[v], t, dataset)
            features = rng.standard_normal((frames, 1, feature_dim), dtype=np.float32)
            samples.append(Sample(features=features, query=OAD_QUERY, head=dataset, label=label))
            # A trained Gen writes the label then end-of-sequence; a background frame stops at its one token.
            steps.append(1 if label == 0 and shortcut else int(lengths[label]) + 1)
            picked.append(label)
        out.append(Draw(samples, max(steps), picked))
    return out


# ------------------------------------------------------------------------------------------- timing

def call(kind: str, model, draw: Draw) -> None:
    if kind == "gen":
        generated = model.generate(draw.samples, max_new_tokens=draw.gen_steps, stop=False)
        if any(len(ids) != draw.gen_steps for ids in generated):
            raise RuntimeError(f"Gen decoded {[len(i) for i in generated]} tokens, expected {draw.gen_steps}")
    else:
        model.classify(draw.samples)


def measure(models: dict, rounds: list[Draw], warmup: int) -> dict[str, ModelTimer]:
    """Round r runs the three models on the same input, in the order KINDS rotated by r."""
    timers = {kind: ModelTimer() for kind in KINDS}
    for r, draw in enumerate(rounds):
        for k in range(len(KINDS)):
            kind = KINDS[(r + k) % len(KINDS)]
            if r < warmup:
                call(kind, models[kind], draw)
                continue
            with timers[kind].measure(predictions=len(draw.samples)):
                call(kind, models[kind], draw)
    return timers


def report(dataset: str, gt: OadGroundTruth, lengths: np.ndarray, rounds: list[Draw], timers: dict,
           shortcut: bool) -> dict[str, float]:
    spec = OAD_WINDOWS[dataset]
    _, counts, labels = frame_counts(gt)
    per_class = np.bincount(np.concatenate(list(labels.values())), minlength=len(lengths))
    over_frames = (lengths[1:] * per_class[1:]).sum() / per_class[1:].sum()
    timed = rounds[len(rounds) - timers["disc"].calls:]
    background = sum(label == 0 for d in timed for label in d.labels)
    steps = np.array([d.gen_steps for d in timed], dtype=float)
    visual = np.mean([s.features.shape[0] for d in timed for s in d.samples])
    print(f"\n== {dataset}: {gt.num_classes - 1:,} labels, {counts.sum():,} frames in {len(counts)} videos "
          f"({per_class[0] / counts.sum():.1%} background); {spec.fps:g} fps, window {spec.short_frames} short "
          f"+ up to {spec.long_frames} long frames")
    print(f"label length (SmolLM2 tokens, leading space): {lengths[1:].mean():.2f} mean over the labels (paper, "
          f"Llama 3 tokenizer: {PAPER[dataset]['tokens']}), {over_frames:.2f} over action frames, max "
          f"{lengths[1:].max()}; background {lengths[0]} token{' (Gen stops after it)' if shortcut else ''}")
    print(f"timed: {len(timed)} calls x {len(timed[0].samples)} frames ({background} background); Gen decoding "
          f"steps (label + end-of-sequence) mean {steps.mean():.2f}; visual tokens per window mean {visual:.1f}")
    print(f"{'model':<6}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}{'FPS':>8}")
    stats = {kind: timers[kind].summary() for kind in KINDS}
    for kind in KINDS:
        s = stats[kind]
        print(f"{kind:<6}{s['p50_s'] * 1e3:9.1f}{s['p95_s'] * 1e3:9.1f}{s['mean_s'] * 1e3:9.1f}{s['fps']:8.2f}")
    speedup = stats["disc"]["fps"] / stats["gen"]["fps"]
    paired = float(np.median(np.array(timers["gen"].latencies) / np.array(timers["disc"].latencies)))
    gad = stats["gad"]["fps"] / stats["disc"]["fps"]
    paper = ", ".join(f"{name} {disc / gen:.2f}x" for name, value in PAPER[dataset].items() if name != "tokens"
                      for gen, disc in [value])
    print(f"Disc over Gen: {speedup:.2f}x FPS, median of the paired per-round ratios {paired:.2f}x (paper Table 1, "
          f"GPU: {paper}); GAD FPS / Disc FPS = {gad:.2f} (the same computation: expect 1.00)")
    if len(set(steps)) > 1:  # where the time goes: the prompt (shared with Disc) vs each further token
        slope, intercept = np.polyfit(steps - 1, np.array(timers["gen"].latencies), 1)
        print(f"Gen latency fit: {intercept * 1e3:.1f} ms for the prompt and first token + {slope * 1e3:.1f} ms per "
              f"further token (least squares over the rounds)")
    return {"speedup": speedup, "paired": paired, "tokens": float(lengths[1:].mean()), "steps": float(steps.mean()),
            "gad": gad}


def cpu_seconds() -> tuple[float, float] | None:
    """(busy seconds of the whole machine from /proc/stat, this process's CPU seconds); None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"), time.process_time()


def others_note(before, after, wall: float, threads: int) -> str:
    """How many cores other processes kept busy meanwhile: they slow every model, and torch's threads
    competing with them for the cores can make a call ten times slower (``--threads 1`` is steadier)."""
    if before is None or after is None:
        return ""
    others = max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / wall
    cores = os.cpu_count() or 1
    noisy = "; the machine is shared, figures are noisy" if others > 0.25 else ""
    noisy += " (try --threads 1)" if noisy and threads > 1 else ""
    return f"other processes used {others:.2f} of {cores} cores meanwhile{noisy}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(LOADERS), default=list(LOADERS))
    parser.add_argument("--rounds", type=int, default=20, help="timed calls per model and dataset")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--batch", type=int, default=1, help="frames (streams) per call; 1 = streaming")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--lora", choices=("unmerged", "merged", "none"), default="unmerged")
    parser.add_argument("--actions-only", action="store_true", help="draw no background frames")
    parser.add_argument("--feature-dim", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.rounds < 1 or args.batch < 1 or args.warmup < 0:
        parser.error("--rounds and --batch must be >= 1, --warmup >= 0")

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        t0 = time.perf_counter()
        truths = {name: LOADERS[name]() for name in args.datasets}
        print(f"ground truth: {', '.join(truths)} read in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        models = build_models({name: list(gt.class_names) for name, gt in truths.items()}, args.feature_dim,
                              args.lora, args.seed)
    except ActbenchError as error:
        sys.exit(f"error: {error}")
    print(f"models: {BACKBONE} x 3 (disc, gad, gen), LoRA r=128 {args.lora if args.lora != 'none' else '(none)'}, "
          f"features {args.feature_dim}-d random, built in {time.perf_counter() - t0:.1f} s; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, seed {args.seed}")


    results = {}
    for name, gt in truths.items():
        lengths = label_lengths(models["gen"], name)
        shortcut = gt.class_names[0] == "background" and lengths[0] == 1  # FeatureLM's single-token rule
        rounds = draws(gt, name, args.warmup + args.rounds, args.batch, lengths, shortcut, args.feature_dim,
                       args.seed, args.actions_only)
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        timers = measure(models, rounds, args.warmup)
        wall, cpu1 = time.perf_counter() - t0, cpu_seconds()
        results[name] = report(name, gt, lengths, rounds, timers, shortcut)
        print(f"({wall:.0f} s; {others_note(cpu0, cpu1, wall, torch.get_num_threads())})")

    print("\nsummary: mean label tokens (Gen decoding steps sampled) -> Disc over Gen, FPS ratio (paired median)")
    for name, r in results.items():
        print(f"  {name:<15} {r['tokens']:.2f} tokens ({r['steps']:.2f} steps) -> {r['speedup']:.2f}x "
              f"({r['paired']:.2f}x); GAD/Disc {r['gad']:.2f}")
    print("  paper Table 1 (GPU, Llama-3.2-1B): EK100 2.4 tokens -> 1.77x; Ego4D GoalStep 5.5 tokens -> 3.01x "
          "(Qwen2.5-0.5B: 1.83x, 4.24x)")


if __name__ == "__main__":
    main()
