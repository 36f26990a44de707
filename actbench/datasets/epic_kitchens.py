"""EPIC-KITCHENS-100 annotations as typed records.

Reads the official CSV files (layout of ``actbench data fetch epic-kitchens-100``):

- validation segments with narrations (``annotations/EPIC_100_validation.csv``, 9,668 clips);
- all 67,217 training segments with labels from ``C2-Action-Detection/training.csv``, and narrations
  from ``annotations/EPIC_100_train.csv`` when the user has it, else from the 16,115 clips of
  ``annotations/UDA_annotations/EPIC_100_uda_source_train.csv``;
- verb (97) and noun (300) classes, tail verbs / nouns, unseen participants, video info.

The action label space is the sorted list of the ``"verb:noun"`` pairs seen in train + validation
(3,806 on the official files): the order LLaVAction and AVION use, and what ``training.csv``'s
``action`` column indexes.

>>> ek = EpicKitchens100.from_data_dir()            # doctest: +SKIP
>>> ek.action_space.label(ek.action_space.index["0:2"])  # doctest: +SKIP
'take plate'
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actbench.datasets.location import resolve_data_dir
from actbench.errors import ActbenchError
from actbench.prompts import EGOCENTRIC
from actbench.records import Clip

DATASET = "epic-kitchens-100"
SPLITS = ("validation", "train")

ANNOTATIONS = "annotations"
C2_FPS = 30.0  # the frame rate of C2-Action-Detection's training.csv frame numbers (see EpicKitchens100.train)
FILES = {
    "validation": f"{ANNOTATIONS}/EPIC_100_validation.csv",
    "train_full": f"{ANNOTATIONS}/EPIC_100_train.csv",  # optional: not carried by ../shared/data
    "train_uda": f"{ANNOTATIONS}/UDA_annotations/EPIC_100_uda_source_train.csv",
    "train_labels": "C2-Action-Detection/training.csv",
    "verb_classes": f"{ANNOTATIONS}/EPIC_100_verb_classes.csv",
    "noun_classes": f"{ANNOTATIONS}/EPIC_100_noun_classes.csv",
    "tail_verbs": f"{ANNOTATIONS}/EPIC_100_tail_verbs.csv",
    "tail_nouns": f"{ANNOTATIONS}/EPIC_100_tail_nouns.csv",
    "unseen_validation": f"{ANNOTATIONS}/EPIC_100_unseen_participant_ids_validation.csv",
    "video_info": f"{ANNOTATIONS}/EPIC_100_video_info.csv",
}


def parse_timestamp(text: str) -> float:
    """``"00:01:02.50"`` -> 62.5 seconds."""
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def noun_text(key: str) -> str:
    """A noun class key as words: ``board:chopping`` -> ``chopping board`` (modifiers first)."""
    head, *modifiers = key.split(":")
    return " ".join([*modifiers, head])


@dataclass(frozen=True)
class VocabClass:
    id: int
    key: str
    category: str


@dataclass(frozen=True)
class VideoInfo:
    video_id: str
    duration: float
    fps: float
    resolution: str


class ActionSpace:
    """The (verb, noun) action classes, indexed by position in the sorted ``"verb:noun"`` list."""

    def __init__(self, keys: list[str], verb_keys: dict[int, str], noun_keys: dict[int, str]):
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise ValueError("action keys must be sorted and unique")
        self.keys: tuple[str, ...] = tuple(keys)
        self.index: dict[str, int] = {k: i for i, k in enumerate(keys)}
        pairs = [k.split(":") for k in keys]
        self.verb_of = np.array([int(v) for v, _ in pairs], dtype=np.int64)
        self.noun_of = np.array([int(n) for _, n in pairs], dtype=np.int64)
        self.labels: tuple[str, ...] = tuple(
            f"{verb_keys[int(v)]} {noun_text(noun_keys[int(n)])}" for v, n in pairs
        )

    def __len__(self) -> int:
        return len(self.keys)

    def label(self, action_id: int) -> str:
        return self.labels[action_id]


def _read_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise ActbenchError(
            f"{path}: file not found; expected the EPIC-KITCHENS-100 annotations there "
            "(run `actbench data fetch epic-kitchens-100` or pass --data-dir / set ACTBENCH_DATA_DIR)"
        )
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ActbenchError.bad_value(path, missing[0], "a CSV column of that name", reader.fieldnames)
            rows = list(reader)
    except UnicodeDecodeError as error:
        raise ActbenchError.bad_value(path, "encoding", "UTF-8 text", f"byte {error.object[error.start]:#x} at "
                                      f"offset {error.start}") from None
    if not rows:
        raise ActbenchError.bad_value(path, "rows", "at least one data row", "an empty file")
    return rows


def _field(row: dict[str, str], name: str, path: Path, line: int, kind=int):
    try:
        return kind(row[name])
    except (TypeError, ValueError):
        expected = {int: "an integer", float: "a number", parse_timestamp: "a timestamp HH:MM:SS.ss"}[kind]
        raise ActbenchError.bad_value(f"{path}:{line}", name, expected, row[name]) from None


_SEGMENT_COLUMNS = ("narration_id", "participant_id", "video_id", "start_timestamp", "stop_timestamp",
                    "narration", "verb_class", "noun_class")


def _segments(path: Path) -> list[Clip]:
    clips = []
    seen: set[str] = set()
    for line, row in enumerate(_read_rows(path, _SEGMENT_COLUMNS), start=2):
        if row["narration_id"] in seen:
            raise ActbenchError.bad_value(f"{path}:{line}", "narration_id", "each narration id once",
                                          f"{row['narration_id']} again")
        seen.add(row["narration_id"])
        clips.append(Clip(
            narration_id=row["narration_id"],
            participant_id=row["participant_id"],
            video_id=row["video_id"],
            start=_field(row, "start_timestamp", path, line, parse_timestamp),
            end=_field(row, "stop_timestamp", path, line, parse_timestamp),
            verb_class=_field(row, "verb_class", path, line),
            noun_class=_field(row, "noun_class", path, line),
            narration=row["narration"],
        ))
    return clips


class EpicKitchens100:
    """Loader for one EPIC-KITCHENS-100 annotation directory; every table is read once, on first use.

    The class attributes are those of :class:`~actbench.datasets.segments.SegmentDataset`, which the
    other datasets subclass: ``build-mqa`` reads every dataset through them.
    """

    name = DATASET
    splits = SPLITS
    default_split = "validation"
    train_split = "train"
    question = EGOCENTRIC
    license = "CC BY-NC 4.0 (annotations/license.txt): credit, link the license, mark changes, non-commercial"
    multi_label = False
    has_narrations = True
    verb_noun_classes = True  # class keys are "verb:noun" ids: errors can be split into verb and noun

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def from_data_dir(cls, data_dir=None) -> "EpicKitchens100":
        return cls(resolve_data_dir(data_dir) / DATASET)

    def path(self, name: str) -> Path:
        return self.root / FILES[name]

    # -- vocabularies -------------------------------------------------------------------------
    def _vocab(self, name: str) -> tuple[VocabClass, ...]:
        path = self.path(name)
        rows = _read_rows(path, ("id", "key"))
        classes = tuple(VocabClass(_field(r, "id", path, i), r["key"], r.get("category", ""))
                        for i, r in enumerate(rows, start=2))
        if [c.id for c in classes] != list(range(len(classes))):
            raise ActbenchError.bad_value(path, "id", "ids 0..n-1 in order", [c.id for c in classes][:5])
        return classes

    @functools.cached_property
    def verb_classes(self) -> tuple[VocabClass, ...]:
        return self._vocab("verb_classes")

    @functools.cached_property
    def noun_classes(self) -> tuple[VocabClass, ...]:
        return self._vocab("noun_classes")

    def _id_set(self, name: str, column: str, kind=int) -> frozenset:
        path = self.path(name)
        return frozenset(_field(r, column, path, i, kind) if kind is int else r[column]
                         for i, r in enumerate(_read_rows(path, (column,)), start=2))

    @functools.cached_property
    def tail_verbs(self) -> frozenset[int]:
        return self._id_set("tail_verbs", "verb")

    @functools.cached_property
    def tail_nouns(self) -> frozenset[int]:
        return self._id_set("tail_nouns", "noun")

    @functools.cached_property
    def unseen_participants(self) -> frozenset[str]:
        """Participants of the validation split that have no training videos (P18, P32)."""
        return self._id_set("unseen_validation", "participant_id", str)

    @functools.cached_property
    def video_info(self) -> dict[str, VideoInfo]:
        path = self.path("video_info")
        return {
            r["video_id"]: VideoInfo(r["video_id"], _field(r, "duration", path, i, float),
                                     _field(r, "fps", path, i, float), r.get("resolution", ""))
            for i, r in enumerate(_read_rows(path, ("video_id", "duration", "fps")), start=2)
        }

    # -- segments -----------------------------------------------------------------------------
    @functools.cached_property
    def validation(self) -> tuple[Clip, ...]:
        return tuple(_segments(self.path("validation")))

    @property
    def train_narration_file(self) -> Path:
        """The full training CSV when present (all narrations), else the UDA subset."""
        full = self.path("train_full")
        return full if full.is_file() else self.path("train_uda")

    @functools.cached_property
    def train(self) -> tuple[Clip, ...]:
        """All training segments: labels from ``training.csv``, narrations where a file has them.

        ``training.csv`` gives start/stop as frame numbers at a fixed 30 fps, whatever the video's own
        rate (measured: frame / timestamp = 30.0 on every clip whose official timestamps are known, for
        videos at 29.97, 47.95, 59.94 and 90 fps; "half the frame rate" holds only for 59.94 fps
        videos). Clips that also appear in the narration file take its exact timestamps instead.
        """
        narrated = {c.narration_id: c for c in _segments(self.train_narration_file)}
        path = self.path("train_labels")
        rows = _read_rows(path, ("narration_id", "video", "start", "stop", "verb", "noun"))
        info = self.video_info
        clips = []
        seen: set[str] = set()
        for line, row in enumerate(rows, start=2):
            nid, video = row["narration_id"], row["video"]
            if nid in seen:
                raise ActbenchError.bad_value(f"{path}:{line}", "narration_id", "each narration id once", f"{nid} again")
            seen.add(nid)
            verb, noun = _field(row, "verb", path, line), _field(row, "noun", path, line)
            known = narrated.get(nid)
            if known is not None:
                if (known.verb_class, known.noun_class) != (verb, noun):
                    raise ActbenchError.bad_value(f"{path}:{line}", "verb/noun",
                                                  f"{known.verb_class}/{known.noun_class} as in "
                                                  f"{self.train_narration_file.name}", f"{verb}/{noun}")
                clips.append(known)
                continue
            if video not in info:
                raise ActbenchError.bad_value(f"{path}:{line}", "video", "a video of EPIC_100_video_info.csv", video)
            clips.append(Clip(
                narration_id=nid, participant_id=video.split("_")[0], video_id=video,
                start=round(_field(row, "start", path, line) / C2_FPS, 2),
                end=round(_field(row, "stop", path, line) / C2_FPS, 2),
                verb_class=verb, noun_class=noun, narration=None,
            ))
        return tuple(clips)

    def check_split(self, name: str) -> str:
        if name not in SPLITS:
            raise ActbenchError.bad_value("--split", "split", f"one of {', '.join(SPLITS)}", name)
        return name

    def train_split_for(self, split: str | None) -> str:
        return "train"

    def training_segments(self, split: str | None = None) -> tuple[Clip, ...]:
        return self.train

    def has_split(self, name: str) -> bool:
        return name in SPLITS and self.path(name if name == "validation" else "train_labels").is_file()

    def split(self, name: str) -> tuple[Clip, ...]:
        return self.validation if self.check_split(name) == "validation" else self.train

    # -- the action label space ---------------------------------------------------------------
    @functools.cached_property
    def action_space(self) -> ActionSpace:
        keys = sorted({c.class_key for c in self.train} | {c.class_key for c in self.validation})
        verbs = {c.id: c.key for c in self.verb_classes}
        nouns = {c.id: c.key for c in self.noun_classes}
        for key in keys:
            verb, noun = (int(x) for x in key.split(":"))
            if verb not in verbs or noun not in nouns:
                raise ActbenchError.bad_value(self.path("validation"), "verb_class/noun_class",
                                              "ids of the verb and noun class files", key)
        return ActionSpace(keys, verbs, nouns)

    def action_ids(self, clips) -> np.ndarray:
        index = self.action_space.index
        return np.array([index[c.class_key] for c in clips], dtype=np.int64)

    @functools.cached_property
    def narrations_by_action(self) -> tuple[tuple[str, ...], ...]:
        """Distinct narrations of each action class over train + validation, in file order."""
        index = self.action_space.index
        per_class: list[dict[str, None]] = [dict() for _ in range(len(index))]
        for clip in (*self.train, *self.validation):
            if clip.narration:
                per_class[index[clip.class_key]].setdefault(clip.narration.strip(), None)
        return tuple(tuple(d) for d in per_class)

    def text_origin(self, split: str) -> str:
        """The file the narrations of ``split`` come from (named in errors about them)."""
        return str(self.path(split if split == "validation" else "train_labels"))

    def input_files(self) -> list[Path]:
        """The annotation files a build reads (their hashes go into the manifest)."""
        names = ["validation", "train_labels", "verb_classes", "noun_classes", "video_info"]
        files = [self.path(n) for n in names] + [self.train_narration_file]
        return sorted(files)
