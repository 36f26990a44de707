"""Segments from per-frame labels: maximal runs of one label, per video.

Online action detection (OAD) predictions and ground truth are per-frame label sequences; the segment
and point metrics compare their *segments*. A segment is a maximal run of one label inside one video,
``start`` inclusive and ``end`` exclusive (frame indices within that video). Runs of a background label,
and of an ignore label such as THUMOS' ``ambiguous``, are dropped *after* the runs are found, so an
ambiguous frame splits an action into two segments instead of being bridged over.

Many videos are handled at once as one concatenated label array plus the videos' lengths: run-length
encoding of the whole array is a handful of numpy calls, which keeps every OAD metric vectorised
(all of EPIC-KITCHENS-100 at 4 fps, 1.4 M frames, takes milliseconds).

>>> import numpy as np
>>> seg = find_segments(np.array(["bg", "A", "A", "B", "bg", "A", "A"]), lengths=[5, 2], drop=("bg",))
>>> seg.video.tolist(), seg.label.tolist(), seg.start.tolist(), seg.end.tolist()
([0, 0, 1], ['A', 'B', 'A'], [1, 3, 0], [3, 4, 2])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from actbench.errors import ActbenchError


@dataclass(frozen=True)
class Segments:
    """The segments of one or more videos, sorted by video then start (so also by global start)."""

    video: np.ndarray  # int64 (S,): index of the segment's video (its position in ``lengths``)
    label: np.ndarray  # (S,): the run's label, same dtype as the per-frame labels
    start: np.ndarray  # int64 (S,): first frame, counted within the video
    end: np.ndarray  # int64 (S,): one past the last frame, counted within the video
    offsets: np.ndarray  # int64 (V + 1,): where each video starts in the concatenated frames

    def __len__(self) -> int:
        return int(self.start.size)

    @property
    def global_start(self) -> np.ndarray:
        # Positions in the concatenation: segments of different videos can then never overlap, which
        # lets matching run over all videos at once with one sorted search.
        return self.offsets[self.video] + self.start

    @property
    def global_end(self) -> np.ndarray:
        return self.offsets[self.video] + self.end

    @property
    def length(self) -> np.ndarray:
        return self.end - self.start


def as_labels(labels: object, where: str, field: str = "labels") -> np.ndarray:
    """Per-frame labels as a 1-D array (any dtype: class names or class indices)."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ActbenchError.bad_value(where, field, "a 1-D array of per-frame labels", f"shape {array.shape}")
    return array


def video_offsets(lengths: Sequence[int] | np.ndarray | None, n_frames: int, where: str) -> np.ndarray:
    """``[0, l0, l0 + l1, ...]`` for the videos' lengths; ``None`` means one video of all frames."""
    if lengths is None:
        return np.array([0, n_frames], dtype=np.int64)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or (lengths.size and not np.issubdtype(lengths.dtype, np.integer)):
        raise ActbenchError.bad_value(where, "lengths", "a 1-D array of integer video lengths",
                                      f"dtype {lengths.dtype}, shape {lengths.shape}")
    if (lengths < 0).any():
        raise ActbenchError.bad_value(where, "lengths", "non-negative video lengths", int(lengths.min()))
    if int(lengths.sum()) != n_frames:
        raise ActbenchError.bad_value(where, "lengths", f"lengths summing to the {n_frames} frames",
                                      f"a sum of {int(lengths.sum())}")
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])


def label_mask(labels: np.ndarray, values: Iterable[object]) -> np.ndarray:
    """Where ``labels`` equals any of ``values`` (a few background / ignore labels)."""
    mask = np.zeros(labels.shape, dtype=bool)
    for value in values:
        # One comparison per value: there are one or two of them, and unlike np.isin this stays
        # well defined when the labels are integers and a value is a name (it simply never matches).
        mask |= labels == value
    return mask


def find_segments(labels: object, *, lengths: Sequence[int] | np.ndarray | None = None,
                  drop: Iterable[object] = ()) -> Segments:
    """The maximal runs of one label in each video, without the runs whose label is in ``drop``.

    ``labels`` is the concatenation of the videos' per-frame labels and ``lengths`` their lengths
    (``None``: a single video). A run never crosses from one video into the next, even when the last
    frame of one and the first frame of the next carry the same label.

    >>> seg = find_segments([0, 0, 3, 3, 3, 0, 3], drop=(0,))
    >>> list(zip(seg.label.tolist(), seg.start.tolist(), seg.end.tolist()))
    [(3, 2, 5), (3, 6, 7)]
    """
    labels = as_labels(labels, "find_segments()")
    offsets = video_offsets(lengths, labels.size, "find_segments()")
    n = labels.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Segments(empty, labels[:0], empty, empty, offsets)
    change = np.empty(n, dtype=bool)
    change[0] = True
    change[1:] = labels[1:] != labels[:-1]
    change[offsets[:-1][np.diff(offsets) > 0]] = True  # every non-empty video opens a new run
    start = np.flatnonzero(change)
    end = np.append(start[1:], n)
    label = labels[start]
    keep = ~label_mask(label, drop)
    start, end, label = start[keep], end[keep], label[keep]
    # side="right": an empty video shares its offset with the next one, which owns the frame.
    video = np.searchsorted(offsets, start, side="right") - 1
    return Segments(video=video, label=label, start=start - offsets[video], end=end - offsets[video],
                    offsets=offsets)
