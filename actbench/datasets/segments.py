"""What ``build-mqa`` needs from any action dataset: labelled segments, a label space, option texts.

EPIC-KITCHENS-100 (:mod:`actbench.datasets.epic_kitchens`) has its own loader, grown with the project;
every other dataset is a :class:`SegmentDataset`: a subclass reads its official files into
:class:`Segment` records (validating them: an error names the file, the field, what was expected and what
was found) and says what its label space is. The builder, the annotation-only sources (``random``,
``temporal``, ``prior``) and the generic ``scores`` source then work unchanged, which is the point of the
LLaVAction paper's claim that hard-example mining carries to any action dataset.

A segment's ``narration_id`` is its id in the dataset (the id questions and prediction files use); its
``participant_id`` is the grouping the ``prior`` source conditions on (participant, task or recipe, or
empty); ``narration`` is a free-text description where the dataset has one (Goal-Step's step
descriptions), which makes ``--options narration`` possible; ``labels`` lists every class of a multi-label
segment (Animal Kingdom), ``class_key`` being the first.

>>> space = LabelSpace.from_labels({"b": "open door", "a": "close door"})
>>> space.keys, space.labels, space.index["b"], len(space)
(('a', 'b'), ('close door', 'open door'), 1, 2)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actbench.datasets.location import resolve_data_dir
from actbench.errors import ActbenchError


def parse_seconds(where: object, field: str, text: str) -> float:
    """A time field of an annotation file: a finite number of seconds >= 0, else the one-line error."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ActbenchError.bad_value(where, field, "a number of seconds >= 0", text)
    return value


@dataclass(frozen=True, slots=True)
class Segment:
    """One labelled action segment (seconds from the start of its video); it reads like an EPIC ``Clip``."""

    narration_id: str
    video_id: str
    start: float
    end: float
    class_key: str
    narration: str | None = None
    participant_id: str = ""
    labels: tuple[str, ...] = ()  # every class of a multi-label segment (class_key is labels[0])


class LabelSpace:
    """The classes of a dataset: keys sorted, each with its label text (what ``--options label`` shows)."""

    def __init__(self, keys, labels):
        keys, labels = tuple(keys), tuple(labels)
        if list(keys) != sorted(keys) or len(set(keys)) != len(keys) or len(keys) != len(labels):
            raise ValueError("label keys must be sorted, unique and one per label")
        self.keys: tuple[str, ...] = keys
        self.labels: tuple[str, ...] = labels
        self.index: dict[str, int] = {k: i for i, k in enumerate(keys)}

    @classmethod
    def from_labels(cls, label_of: dict[str, str]) -> "LabelSpace":
        keys = sorted(label_of)
        return cls(keys, [label_of[k] for k in keys])

    def __len__(self) -> int:
        return len(self.keys)

    def label(self, index: int) -> str:
        return self.labels[index]


class SegmentDataset:
    """Base of the non-EPIC datasets: one folder under the data directory, one or more splits.

    A subclass sets the class attributes and implements :meth:`load_split` and :meth:`taxonomy`.
    """

    name: str = ""  # the folder under the data directory, and the name users type
    splits: tuple[str, ...] = ()
    default_split: str = ""
    train_split: str | None = None  # what `prior` learns from and `temporal` takes frequencies from
    question: str = ""  # the multiple-choice stem of its questions
    license: str = ""
    multi_label: bool = False
    has_narrations: bool = False  # free-text descriptions per segment: `--options narration` is the default

    def __init__(self, root: Path):
        self.root = Path(root)
        self._splits: dict[str, tuple[Segment, ...]] = {}  # each split is read and checked once

    @classmethod
    def from_data_dir(cls, data_dir=None) -> "SegmentDataset":
        return cls(resolve_data_dir(data_dir) / cls.name)

    # -- what a subclass provides ---------------------------------------------------------------
    def split_files(self, split: str) -> list[Path]:
        """The files :meth:`load_split` reads for ``split`` (their hashes go into the manifest)."""
        raise NotImplementedError

    def load_split(self, split: str) -> tuple[Segment, ...]:
        raise NotImplementedError

    def taxonomy(self) -> dict[str, str] | None:
        """The official class list (key -> label text) when the dataset has one; None: the classes are the
        labels seen in the available splits."""
        return None

    def taxonomy_files(self) -> list[Path]:
        return []

    # -- shared ---------------------------------------------------------------------------------
    def missing_hint(self) -> str:
        return f"run `actbench data fetch {self.name}` or pass --data-dir / set ACTBENCH_DATA_DIR"

    def check_split(self, split: str) -> str:
        if split not in self.splits:
            raise ActbenchError.bad_value("--split", "split", f"one of {', '.join(self.splits)} ({self.name})", split)
        return split

    def has_split(self, split: str) -> bool:
        return split in self.splits and all(p.is_file() for p in self.split_files(split))

    def split(self, name: str) -> tuple[Segment, ...]:
        self.check_split(name)
        if name in self._splits:
            return self._splits[name]
        for path in self.split_files(name):
            if not path.is_file():
                raise ActbenchError(f"{path}: file not found; expected the {self.name} annotations of the "
                                    f"{name} split there ({self.missing_hint()})")
        segments = self.load_split(name)
        if not segments:
            raise ActbenchError.bad_value(self.split_files(name)[0], "segments", "at least one labelled segment",
                                          "none")
        self._splits[name] = segments
        return segments

    def train_split_for(self, split: str | None) -> str | None:
        """The split a model evaluated on ``split`` learns from (Breakfast's folds each have their own)."""
        return self.train_split

    def training_segments(self, split: str | None = None) -> tuple[Segment, ...]:
        """The segments of ``train_split_for(split)``; a clear error when its files are absent."""
        train_split = self.train_split_for(split)
        if train_split is None or not self.has_split(train_split):
            wanted = ", ".join(str(p) for p in self.split_files(train_split)) if train_split else "none"
            raise ActbenchError(f"{self.name}: this needs the training split ({wanted}), which is not in the "
                                f"data directory ({self.missing_hint()})")
        return self.split(train_split)

    @property
    def train(self) -> tuple[Segment, ...]:
        return self.training_segments()

    def available_splits(self) -> list[str]:
        return [s for s in self.splits if self.has_split(s)]

    @functools.cached_property
    def action_space(self) -> LabelSpace:
        official = self.taxonomy()
        if official is not None:
            space = LabelSpace.from_labels(official)
            for split in self.available_splits():
                for segment in self.split(split):
                    for key in segment.labels or (segment.class_key,):
                        if key not in space.index:
                            raise ActbenchError.bad_value(self.split_files(split)[0], f"{segment.narration_id}.label",
                                                          f"a class of the {self.name} taxonomy", key)
            return space
        seen: dict[str, str] = {}
        for split in self.available_splits():
            for segment in self.split(split):
                for key in segment.labels or (segment.class_key,):
                    seen.setdefault(key, self.label_text(key))
        return LabelSpace.from_labels(seen)

    def label_text(self, key: str) -> str:
        """The option text of a class found only in the annotations (no taxonomy): the key itself."""
        return key

    def action_ids(self, segments) -> np.ndarray:
        index = self.action_space.index
        return np.array([index[s.class_key] for s in segments], dtype=np.int64)

    @functools.cached_property
    def narrations_by_action(self) -> tuple[tuple[str, ...], ...]:
        """Distinct descriptions of each class over the available splits, in file order."""
        index = self.action_space.index
        per_class: list[dict[str, None]] = [dict() for _ in range(len(index))]
        for split in self.available_splits():
            for segment in self.split(split):
                if segment.narration:
                    per_class[index[segment.class_key]].setdefault(segment.narration.strip(), None)
        return tuple(tuple(d) for d in per_class)

    def text_origin(self, split: str) -> str:
        return str(self.split_files(split)[0])

    def input_files(self) -> list[Path]:
        """Every file a build reads: the taxonomy and each available split (the label space spans them)."""
        files = set(self.taxonomy_files())
        for split in self.available_splits():
            files.update(self.split_files(split))
        return sorted(files)
