"""Temporal detection (LLaVAction §3.2, Eq. 4, prompt of Appendix C.3): find the action in a padded clip.

Each clip ``[s, e]`` is padded by ``delta`` seconds in total, a share ``alpha ~ Uniform(0, 1)`` before
it and ``1 - alpha`` after it::

    s' = max(0, s - alpha * delta)        e' = min(duration, e + (1 - alpha) * delta)

The model sees ``[s', e']`` and answers the action's start and end relative to ``s'``, as
``"start, end"`` with two decimals. The prompt asks for exactly that format (LLaVAction's released
code asks for ``'start_timestamp: end_timestamp'`` but writes ``"start, end"``; here both use a comma).

Clamping: a clip that starts less than ``alpha * delta`` seconds into its video gets ``s' = 0``, so its
target start is ``s`` instead of ``alpha * delta`` (less padding before it; the total padding is then
below ``delta``). Clamping the end at the video's duration (when ``EPIC_100_video_info.csv`` knows it)
only shortens the clip: the targets are relative to ``s'`` and do not change. Both are counted in the
manifest. Without clamping, target start = ``alpha * delta`` and target end = start + ``(e - s)``.

``alpha`` is a counter-based draw of (seed, clip row), so a clip's padding does not depend on which
other clips are built.

>>> pad = pad_clips(np.array([10.0, 1.0]), np.array([12.0, 2.5]), np.array([0.5, 0.5]), delta=3.0)
>>> pad.start.tolist(), pad.end.tolist(), pad.target_start.tolist(), pad.target_end.tolist()
([8.5, 0.0], [13.5, 4.0], [1.5, 1.0], [3.5, 2.5])
>>> temporal_target(1.5, 3.5)
'1.50, 3.50'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actbench.mqa_builder.seeded_hash import uniform01

TASK = "temporal_detection"
_STREAM = 0x54454D50  # "TEMP": keeps alpha independent of the other seeded steps

PROMPT = ("The provided video contains an action '{action}' that lasts {duration:.2f} seconds. What is the "
          "relative start and end time of the action in seconds? Format it as 'start_timestamp, "
          "end_timestamp' and round to 2 decimal places.")


@dataclass(frozen=True)
class Padding:
    alpha: np.ndarray  # share of the padding placed before the clip, Uniform(0, 1)
    start: np.ndarray  # s' (seconds in the video)
    end: np.ndarray  # e'
    target_start: np.ndarray  # s - s' (seconds in the padded clip)
    target_end: np.ndarray  # e - s'
    clamped_start: np.ndarray  # bool: s - alpha * delta < 0
    clamped_end: np.ndarray  # bool: e + (1 - alpha) * delta > duration


def draw_alpha(seed: int, rows: np.ndarray) -> np.ndarray:
    return uniform01(seed ^ _STREAM, rows)


def pad_clips(start: np.ndarray, end: np.ndarray, alpha: np.ndarray, *, delta: float,
              duration: np.ndarray | None = None) -> Padding:
    raw_start = start - alpha * delta
    raw_end = end + (1.0 - alpha) * delta
    new_start = np.maximum(raw_start, 0.0)
    limit = np.full(len(end), np.inf) if duration is None else np.maximum(duration, end)
    new_end = np.minimum(raw_end, limit)
    return Padding(alpha, new_start, new_end, start - new_start, end - new_start,
                   raw_start < 0.0, raw_end > limit)


def temporal_prompt(action: str, duration: float) -> str:
    return PROMPT.format(action=action, duration=duration)


def temporal_target(start: float, end: float) -> str:
    return f"{start:.2f}, {end:.2f}"
