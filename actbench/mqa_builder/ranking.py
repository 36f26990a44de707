"""What every distractor source produces: a score per (clip, action class).

A source (a specialist's prediction file, the ``prior`` sequence model, ``random``, ``temporal``)
turns into a :class:`Ranking`: one row per narration id, one column per class of the EPIC-KITCHENS-100
action space, higher meaning more likely. ``-inf`` marks a class the source does not rank (a partial
ranking, a class missing from its class list); such classes are never used as distractors and their
``source_ranks`` entry is null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actbench.errors import ActbenchError
from actbench.records import Clip

NOT_RANKED = -np.inf


@dataclass(frozen=True)
class Ranking:
    narration_ids: tuple[str, ...]
    scores: np.ndarray  # float32 (N, A); -inf where the source does not rank the class
    origin: str  # the file (or source name) the scores came from, for error messages

    def __post_init__(self) -> None:
        if self.scores.ndim != 2 or self.scores.shape[0] != len(self.narration_ids):
            raise ValueError(f"scores {self.scores.shape} do not match {len(self.narration_ids)} ids")

    def aligned_to(self, clips: tuple[Clip, ...] | list[Clip]) -> np.ndarray:
        """The score rows of ``clips``, in their order; a clip the source did not score is an error."""
        row_of = {nid: i for i, nid in enumerate(self.narration_ids)}
        rows = np.empty(len(clips), dtype=np.int64)
        for k, clip in enumerate(clips):
            row = row_of.get(clip.narration_id)
            if row is None:
                raise ActbenchError.bad_value(self.origin, "narration_id",
                                              "scores for every clip being built", f"none for {clip.narration_id}")
            rows[k] = row
        if len(rows) == self.scores.shape[0] and np.array_equal(rows, np.arange(len(rows))):
            return self.scores  # already in order: no copy of a large matrix
        return self.scores[rows]


def check_narration_ids(ids, origin: object, known: set[str] | frozenset[str], field: str = "narration_ids") -> tuple[str, ...]:
    """Narration ids of a prediction file: each known to the split and none repeated."""
    seen: set[str] = set()
    out = []
    for nid in ids:
        nid = str(nid)
        if nid in seen:
            raise ActbenchError.bad_value(origin, field, "each narration id once", f"{nid} twice")
        if nid not in known:
            raise ActbenchError.bad_value(origin, field, "narration ids of the split", f"unknown id {nid}")
        seen.add(nid)
        out.append(nid)
    if not out:
        raise ActbenchError.bad_value(origin, field, "at least one clip", "none")
    return tuple(out)


def check_scores(scores: object, origin: object, shape: tuple[int, int], field: str = "scores") -> np.ndarray:
    """A finite float32 score matrix of exactly ``shape``."""
    array = np.asarray(scores)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ActbenchError.bad_value(origin, field, "a numeric matrix", f"dtype {array.dtype}")
    if array.shape != shape:
        raise ActbenchError.bad_value(origin, field, f"shape {shape}", f"shape {array.shape}")
    array = array.astype(np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ActbenchError.bad_value(origin, field, "finite scores",
                                      f"{array[row, col]} at row {row}, column {col}")
    return array


@dataclass(frozen=True)
class SourceContext:
    """What a source may read: the dataset, the split's clips, the user's prediction file, the seed."""

    dataset: object  # EpicKitchens100 or a SegmentDataset (untyped: no import cycle for type checkers)
    split: str
    clips: tuple[Clip, ...]  # the clips being built, in annotation-file order
    predictions: Path | None
    seed: int
    # Set when the source asks for the prediction file, so a file passed to a source that ignores it
    # is refused instead of being recorded in the manifest as if it had been used.
    _reads: list = field(default_factory=list, repr=False, compare=False)

    @property
    def read_predictions(self) -> bool:
        return bool(self._reads)

    def require_dataset(self, source: str, dataset: str, instead: str = "scores") -> None:
        """Refuse a source whose prediction format belongs to one dataset when building another."""
        if self.dataset.name != dataset:
            raise ActbenchError(f"source '{source}' reads {dataset} predictions; for {self.dataset.name} use "
                                f"--source {instead} (a generic .npz/.parquet of scores per segment and class)")

    def require_predictions(self, source: str) -> Path:
        """The prediction file, checked; the source is noted as one that reads it."""
        self._reads.append(source)
        if self.predictions is None:
            raise ActbenchError(f"source '{source}' reads a prediction file: pass --predictions FILE")
        return self.check_predictions()

    def check_predictions(self) -> Path:
        """The prediction file exists and is not empty (else a one-line error)."""
        if not self.predictions.is_file():
            raise ActbenchError(f"{self.predictions}: file not found (--predictions)")
        if self.predictions.stat().st_size == 0:
            raise ActbenchError.bad_value(self.predictions, "content", "a prediction file", "an empty file")
        return self.predictions


def source_scores(source: str, context: SourceContext) -> tuple[np.ndarray, str]:
    """Run the named source on the context's clips: (scores aligned to the clips, their origin).

    A prediction file passed to a source that never reads it is refused rather than recorded in a
    manifest as if it had been used.
    """
    from actbench.mqa_builder.sources import SOURCES  # the registry imports nothing heavy

    ranking = SOURCES.get(source)(context)
    if context.predictions is not None and not context.read_predictions:
        raise ActbenchError(f"source '{source}' does not read a prediction file: drop --predictions "
                            f"{context.predictions}")
    return ranking.aligned_to(context.clips), ranking.origin
