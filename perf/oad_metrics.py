"""Performance of the OAD metrics on an input the size of all of EPIC-KITCHENS-100 at 4 fps.

Not a test: run it and read the figures.

    PYTHONPATH=. python perf/oad_metrics.py [--videos 700] [--frames 1400000] [--repeat 5] [--seed 0]

It synthesises ground truth with the structure of EK100's (actions of ~3.5 s between background gaps of
~2 s, 3,806 classes with a long-tailed frequency) and predictions that behave like an online detector
(boundaries late by up to 1.5 s or slightly early, half of the actions given a wrong class, 0.5 % of
frames flickering to a random label, which over-segments as real models do). It then times the metrics
on the integer-coded labels: segment F1 at IoU 0.1 / 0.25 / 0.5, point F1 at 1 s / 2 s and frame
accuracy, the budget being under 1 s of computation; and, for information, the whole ``oad_metrics``
call on per-video lists of class-name strings (which adds encoding the names).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from actbench.evaluators.frame_metrics import frame_accuracy
from actbench.evaluators.oad_report import oad_metrics
from actbench.evaluators.point_f1 import point_scores
from actbench.evaluators.segment_f1 import segment_scores
from actbench.evaluators.segments import find_segments

FPS = 4
N_CLASSES = 3806  # EK100 actions; code 0 is background
BACKGROUND = 0


def synthesise(n_videos: int, n_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lengths, gt, pred)``: video lengths and the concatenated per-frame class codes."""
    weights = rng.lognormal(0.0, 0.6, n_videos)
    lengths = np.maximum(1, np.round(weights / weights.sum() * n_frames)).astype(np.int64)
    lengths[-1] += n_frames - lengths.sum()  # exactly n_frames in all
    # Ground truth: alternating background gaps and actions, run lengths log-normal (in frames).
    n_runs = 2 * n_frames // 20 + 1000
    run_len = np.empty(n_runs, dtype=np.int64)
    run_len[0::2] = np.maximum(1, rng.lognormal(np.log(6), 0.8, run_len[0::2].size))  # gaps, ~2 s
    run_len[1::2] = np.maximum(1, rng.lognormal(np.log(10), 0.9, run_len[1::2].size))  # actions, ~3.5 s
    run_label = np.zeros(n_runs, dtype=np.int64)
    zipf = rng.zipf(1.3, run_label[1::2].size) % (N_CLASSES - 1) + 1  # long-tailed class frequency
    run_label[1::2] = zipf
    gt = np.repeat(run_label, run_len)[:n_frames]
    # Predictions: each run boundary moved by a delay in [-2, +6] frames (kept in order), half of the
    # actions given a wrong class, 0.5 % of frames flickering to a random label.
    ends = np.cumsum(run_len)
    pred_ends = np.maximum.accumulate(np.clip(ends + rng.integers(-2, 7, n_runs), 0, None))
    pred_label = run_label.copy()
    wrong = (pred_label > 0) & (rng.random(n_runs) < 0.5)
    pred_label[wrong] = rng.integers(1, N_CLASSES, int(wrong.sum()))
    pred = pred_label[np.searchsorted(pred_ends, np.arange(n_frames), side="right")]
    flicker = rng.random(n_frames) < 0.005
    pred[flicker] = rng.integers(0, N_CLASSES, int(flicker.sum()))
    return lengths, gt, pred


def time_it(function, repeat: int) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=700)
    parser.add_argument("--frames", type=int, default=1_400_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    lengths, gt, pred = synthesise(args.videos, args.frames, np.random.default_rng(args.seed))
    options = dict(lengths=lengths, background=(BACKGROUND,))
    gt_seg = find_segments(gt, lengths=lengths, drop=(BACKGROUND,))
    pred_seg = find_segments(pred, lengths=lengths, drop=(BACKGROUND,))
    print(f"input: {lengths.size} videos, {gt.size:,} frames at {FPS} fps ({gt.size / FPS / 3600:.1f} h), "
          f"{len(gt_seg):,} ground-truth and {len(pred_seg):,} predicted action segments")

    t_seg, seg = time_it(lambda: segment_scores(pred, gt, taus=(0.1, 0.25, 0.5), **options), args.repeat)
    t_point, point = time_it(lambda: point_scores(pred, gt, fps=FPS, seconds=(1, 2), **options), args.repeat)
    t_frame, acc = time_it(lambda: frame_accuracy(pred, gt), args.repeat)
    total = t_seg + t_point + t_frame
    print(f"segment F1 @ 0.1/0.25/0.5: {t_seg * 1000:7.1f} ms   "
          f"({', '.join(f'{tau}: {prf[2]:.2f}' for tau, prf in seg.items())})")
    print(f"point F1 @ 1 s/2 s:        {t_point * 1000:7.1f} ms   "
          f"({', '.join(f'{s} s: {prf[2]:.2f}' for s, prf in point.items())})")
    print(f"frame accuracy:            {t_frame * 1000:7.1f} ms   ({acc:.2f})")
    print(f"total computation:         {total * 1000:7.1f} ms   (budget 1000 ms: {'OK' if total < 1 else 'OVER'}; "
          f"best of {args.repeat})")

    # For information: the whole report from per-video lists of class names, as P.json / G.json give them.
    names = np.array(["background"] + [f"verb{c % 97}:noun{c // 97}" for c in range(1, N_CLASSES)], dtype=object)
    bounds = np.cumsum(lengths)[:-1]
    gt_dict = {f"P{v:02d}_{v:03d}": part.tolist() for v, part in enumerate(np.split(names[gt], bounds))}
    pred_dict = {f"P{v:02d}_{v:03d}": part.tolist() for v, part in enumerate(np.split(names[pred], bounds))}
    t_report, report = time_it(lambda: oad_metrics(pred_dict, gt_dict, fps=FPS), max(1, args.repeat // 2))
    print(f"oad_metrics on name lists (all 11 keys, incl. encoding names): {t_report * 1000:7.1f} ms "
          f"(segment_f1@0.1 = {report['segment_f1@0.1']:.2f})")


if __name__ == "__main__":
    main()
