"""Prior-action learning (LLaVAction §3.2, prompt of Appendix C.5): the two previous actions as context.

For a clip ``a_t`` the previous actions are those of the same video that started just before it
(clips ordered by start, then end, then narration number). A clip is *eligible* when it has two of
them and the actions follow each other closely: the gap between consecutive actions,
``next.start - previous.end``, is at most ``max_gap`` seconds (3 s) for both (a_{t-2}, a_{t-1}) and
(a_{t-1}, a_t); overlapping actions have a negative gap and qualify. The offsets in the prompt are
``a_t.start - a_{t-i}.start``: how many seconds ago each previous action started.

Of the eligible MQA questions a seeded ``share`` (30%, as in the paper) get the prior actions in their
prompt: question i is chosen when a counter-based uniform of (seed, clip row) is below ``share``, so
the count is Binomial(eligible, share) and a clip's draw does not depend on the other clips. Clips
without two close previous actions (a video's first actions, or after a pause) never get them.

Previous actions are looked up in the whole split, not only among the clips being built (``--limit``).

>>> prior_question("take plate", 3.2, "open cupboard", 5.14)
'5.14 seconds ago, you started an action open cupboard. 3.20 seconds ago, you started an action take plate. What action are you currently performing?'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actbench.mqa_builder.seeded_hash import uniform01

TASK = "mqa_prior_actions"
N_PREVIOUS = 2
_STREAM = 0x50524952  # "PRIR"

PROMPT = ("{prev2_offset:.2f} seconds ago, you started an action {prev2}. {prev1_offset:.2f} seconds ago, "
          "you started an action {prev1}. What action are you currently performing?")


@dataclass(frozen=True)
class PriorActions:
    prev1: np.ndarray  # row of a_{t-1} in the split, -1 when none
    prev2: np.ndarray  # row of a_{t-2}, -1 when none
    eligible: np.ndarray  # bool: two previous actions, both gaps <= max_gap


def _narration_number(narration_id: str) -> int:
    tail = narration_id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def previous_actions(clips, *, max_gap: float = 3.0) -> PriorActions:
    """The two previous actions of every clip of ``clips`` (one split, all videos)."""
    n = len(clips)
    videos = {v: i for i, v in enumerate(sorted({c.video_id for c in clips}))}
    video = np.array([videos[c.video_id] for c in clips], dtype=np.int64)
    start = np.array([c.start for c in clips], dtype=np.float64)
    end = np.array([c.end for c in clips], dtype=np.float64)
    number = np.array([_narration_number(c.narration_id) for c in clips], dtype=np.int64)
    order = np.lexsort((number, end, start, video))
    prev1 = np.full(n, -1, dtype=np.int64)
    prev2 = np.full(n, -1, dtype=np.int64)
    same1 = np.zeros(n, dtype=bool)
    same1[1:] = video[order[1:]] == video[order[:-1]]
    prev1[order[1:]] = np.where(same1[1:], order[:-1], -1)
    same2 = np.zeros(n, dtype=bool)
    same2[2:] = same1[2:] & same1[1:-1]
    prev2[order[2:]] = np.where(same2[2:], order[:-2], -1)
    # A tolerance of a microsecond keeps a gap of exactly 3 s (after float rounding) in.
    tol = 1e-6
    has_two = prev2 >= 0
    p1, p2 = np.where(has_two, prev1, 0), np.where(has_two, prev2, 0)
    gap_now = start - end[p1]
    gap_before = start[p1] - end[p2]
    eligible = has_two & (gap_now <= max_gap + tol) & (gap_before <= max_gap + tol)
    return PriorActions(prev1, prev2, eligible)


def draw_prior(seed: int, rows: np.ndarray, eligible: np.ndarray, share: float) -> np.ndarray:
    """Which of ``rows`` get the prior actions in their prompt (only eligible ones can)."""
    return eligible & (uniform01(seed ^ _STREAM, rows) < share)


def prior_question(prev1: str, prev1_offset: float, prev2: str, prev2_offset: float) -> str:
    return PROMPT.format(prev1=prev1, prev1_offset=prev1_offset, prev2=prev2, prev2_offset=prev2_offset)
