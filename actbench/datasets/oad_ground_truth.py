"""Online-action-detection ground truth from the real label timelines, in the TeSTra layout and as G.json.

Two timelines are available without videos (``../shared/data``):

- EPIC-KITCHENS-100 validation at 4 fps (key ``EK100``): 138 videos, classes ``background`` + the 3,806
  actions in the project's order (the sorted ``"verb:noun"`` keys, :class:`~actbench.datasets.
  epic_kitchens.ActionSpace`), named by their text (``"take plate"``). The number of frames comes from
  the video's duration in ``EPIC_100_video_info.csv``.
- Ego4D Goal-Step validation at 1 fps (key ``Ego4DGoal``): 134 videos. The unit is the **step** (the
  top level under the goal), as in the GAD paper. The class of a step is, by default, its taxonomy
  ``step_category`` written as the GAD reference's ``data_info.json`` writes it (the part after the
  group, lower-cased: ``"knead the dough in a dough mixer"``; 355 in validation, 511 over train +
  valid in the reference); ``labels="description"`` uses the free-text ``step_description`` instead
  (whitespace collapsed, lower-cased, trailing periods dropped: 2,082 classes). ``level="substep"``
  labels frames with the substeps. The file gives no video durations: the timeline runs from 0 to the
  last annotated end (the goal's, or a step's when later).

Frame ``i`` covers ``[i / fps, (i + 1) / fps)``; a segment ``[start, end)`` in seconds marks frames
``floor(start * fps)`` to ``ceil(end * fps)`` (exclusive, cut at the video's last frame), TeSTra's rule
in its EK100 target generator. The targets are multi-hot where segments overlap (every covering class
active, background cleared), and the label of a frame is its first active class: the covering class of
smallest index, else background (class 0).

>>> gt = OadGroundTruth("toy", "TOY", 1.0, ("background", "a", "b"), {"v": 5},
...                     {"v": np.array([[1, 4, 2], [2, 3, 1]])})
>>> gt.labels("v").tolist(), gt.label_lists()["v"]
([0, 2, 1, 2, 0], ['background', 'b', 'a', 'b', 'background'])
>>> gt.targets("v").tolist()[2]
[0, 1, 1]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Literal, Mapping

import numpy as np

from actbench.atomic import atomic_write_text, dumps_json, sha256_file
from actbench.datasets.oad_layout import BACKGROUND, TARGETS, DataInfo, num_frames, save_npy, write_data_info
from actbench.errors import ActbenchError
from actbench.registry import suggestion

SCHEMA_VERSION = 1
DATASETS = ("ek100", "ego4d-goalstep")
LABELS_FILE = "G.json"
CLASSES_FILE = "classes.json"
FRAME_RULE = "frame i covers [i/fps, (i+1)/fps); a segment marks frames floor(start*fps) .. ceil(end*fps) - 1"

LabelField = Literal["category", "description"]
Level = Literal["step", "substep"]


@dataclass(frozen=True)
class OadGroundTruth:
    """Per-video frame counts and labelled frame intervals: ``intervals[video]`` is an (n, 3) int array of
    ``start, end, class`` (frames, end exclusive, class >= 1)."""

    dataset: str
    key: str  # its entry in data_info.json
    fps: float
    class_names: tuple[str, ...]  # class 0 is the background
    lengths: Mapping[str, int]
    intervals: Mapping[str, np.ndarray]
    extra: Mapping[str, object] = field(default_factory=dict)  # other data_info keys (ignore_index, metrics)
    provenance: Mapping[str, object] = field(default_factory=dict)

    @property
    def videos(self) -> tuple[str, ...]:
        return tuple(self.lengths)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def labels(self, video: str) -> np.ndarray:
        """The first active class of every frame (int32, 0 = background)."""
        sentinel = self.num_classes  # above every class: the minimum over covering intervals wins
        out = np.full(self.lengths[video], sentinel, dtype=np.int32)
        for start, end, cls in self.intervals[video]:
            np.minimum(out[start:end], cls, out=out[start:end])
        out[out == sentinel] = 0
        return out

    def targets(self, video: str, dtype=np.uint8) -> np.ndarray:
        """The (T, C) multi-hot target_perframe array of TeSTra (background where nothing is active)."""
        out = np.zeros((self.lengths[video], self.num_classes), dtype=dtype)
        for start, end, cls in self.intervals[video]:
            out[start:end, cls] = 1
        out[:, 0] = ~out[:, 1:].any(axis=1)
        return out

    def label_lists(self, videos: Iterable[str] | None = None) -> dict[str, list[str]]:
        """The G.json content: video -> its per-frame class names."""
        names = self.class_names
        return {video: [names[i] for i in self.labels(video).tolist()] for video in (videos or self.videos)}

    def subset(self, videos: Iterable[str]) -> "OadGroundTruth":
        videos = list(videos)
        unknown = [v for v in videos if v not in self.lengths]
        if unknown:
            raise ActbenchError(f"--video: no video {unknown[0]!r} in the {self.dataset} ground truth"
                                f"{suggestion(unknown[0], list(self.lengths))}")
        return OadGroundTruth(self.dataset, self.key, self.fps, self.class_names,
                              MappingProxyType({v: self.lengths[v] for v in videos}),
                              MappingProxyType({v: self.intervals[v] for v in videos}), self.extra, self.provenance)

    def data_info(self) -> DataInfo:
        test = tuple(self.videos)
        splits = {"train_session_set": (), "test_session_set": test}
        if self.key == GOALSTEP_KEY:  # the GAD loader evaluates Ego4D on val_session_set
            splits["val_session_set"] = test
        return DataInfo(self.key, self.class_names, self.fps, MappingProxyType(splits), self.extra)


def frame_span(start: float, end: float, fps: float, length: int) -> tuple[int, int]:
    """The frames ``[first, stop)`` a segment of seconds ``[start, end)`` marks (rounded to 1e-6 first)."""
    first = math.floor(round(start * fps, 6))
    stop = min(math.ceil(round(end * fps, 6)), length)
    return min(first, length), stop


def _interval_array(rows: list[tuple[int, int, int]]) -> np.ndarray:
    return np.array([r for r in rows if r[1] > r[0]], dtype=np.int64).reshape(-1, 3)


# ----------------------------------------------------------------------------------------- EK100

EK100_KEY = "EK100"
GOALSTEP_KEY = "Ego4DGoal"


def ek100_ground_truth(data_dir=None, *, fps: float = 4.0) -> OadGroundTruth:
    """EPIC-KITCHENS-100 validation: background + the 3,806 actions, frames from the video durations."""
    from actbench.datasets.epic_kitchens import EpicKitchens100

    ek = EpicKitchens100.from_data_dir(data_dir)
    space, info = ek.action_space, ek.video_info
    by_video: dict[str, list] = {}
    for clip in ek.validation:
        by_video.setdefault(clip.video_id, []).append(clip)
    lengths, intervals = {}, {}
    for video in sorted(by_video):
        if video not in info:
            raise ActbenchError.bad_value(ek.path("video_info"), "video_id", "a row for every validation video",
                                          f"none for {video}")
        length = num_frames(info[video].duration, fps)
        lengths[video] = length
        intervals[video] = _interval_array([(*frame_span(c.start, c.end, fps, length), space.index[c.class_key] + 1)
                                            for c in by_video[video]])
    files = [ek.path(n) for n in ("validation", "video_info", "train_labels", "verb_classes", "noun_classes")]
    files.append(ek.train_narration_file)
    provenance = {"class_order": "background, then the actions in sorted 'verb:noun' key order",
                  "sources": _sources(files, ek.root)}
    return OadGroundTruth("ek100", EK100_KEY, fps, (BACKGROUND, *space.labels), MappingProxyType(lengths),
                          MappingProxyType(intervals), MappingProxyType({"ignore_index": 0, "metrics": "AP"}),
                          MappingProxyType(provenance))


# ----------------------------------------------------------------------------------- Ego4D Goal-Step

def goalstep_ground_truth(data_dir=None, *, fps: float = 1.0, labels: LabelField = "category",
                          level: Level = "step") -> OadGroundTruth:
    """Ego4D Goal-Step validation: background + the distinct normalised step names, sorted."""
    from actbench.datasets.ego4d_goalstep import GoalStep, GoalStepSegment, category_name, description_name

    if labels not in ("category", "description"):
        raise ActbenchError.bad_value("--labels", "labels", "category or description", labels)
    if level not in ("step", "substep"):
        raise ActbenchError.bad_value("--level", "level", "step or substep", level)
    goalstep = GoalStep.from_data_dir(data_dir)
    field_name = f"step_{labels}"
    named: dict[str, list[tuple[GoalStepSegment, str]]] = {}
    lengths = {}
    for video in sorted(goalstep.videos, key=lambda v: v.video_uid):
        lengths[video.video_uid] = num_frames(video.last_end, fps)
        segments = video.steps if level == "step" else tuple(u for s in video.steps for u in s.substeps)
        rows = named[video.video_uid] = []
        for seg in segments:
            text = seg.category if labels == "category" else seg.description
            name = category_name(text) if labels == "category" else description_name(text)
            if not name or name == BACKGROUND:
                raise ActbenchError.bad_value(goalstep.path, f"{video.video_uid}: {field_name}",
                                              "a name that is neither empty nor 'background'", text)
            rows.append((seg, name))
    class_names = (BACKGROUND, *sorted({name for rows in named.values() for _, name in rows}))
    index = {name: i for i, name in enumerate(class_names)}
    intervals = {video: _interval_array([(*frame_span(seg.start, seg.end, fps, lengths[video]), index[name])
                                         for seg, name in rows]) for video, rows in named.items()}
    provenance = {"unit": level, "labels": field_name,
                  "class_order": "background, then the normalised names sorted",
                  "sources": _sources([goalstep.path], goalstep.path.parent)}
    return OadGroundTruth("ego4d-goalstep", GOALSTEP_KEY, fps, class_names, MappingProxyType(lengths),
                          MappingProxyType(intervals), MappingProxyType({"ignore_index": -100, "metrics": "AP"}),
                          MappingProxyType(provenance))


def ground_truth(dataset: str, data_dir=None, **options) -> OadGroundTruth:
    if dataset == "ek100":
        return ek100_ground_truth(data_dir, **options)
    if dataset == "ego4d-goalstep":
        return goalstep_ground_truth(data_dir, **options)
    raise ActbenchError(f"--dataset: unknown OAD ground truth {dataset!r}{suggestion(dataset, list(DATASETS))} "
                        f"(known: {', '.join(DATASETS)})")


def _sources(files: list[Path], root: Path) -> dict[str, str]:
    # Names relative to the dataset folder and their sha256: no absolute paths, so the output is reproducible.
    return {str(p.relative_to(root)) if p.is_relative_to(root) else p.name: sha256_file(p) for p in sorted(files)}


# --------------------------------------------------------------------------------------------- writer

def dumps_label_lists(label_lists: Mapping[str, list[str]]) -> str:
    """G.json text: one video per line (a 190k-frame file stays readable with grep and diff)."""
    lines = [f"{json.dumps(video)}: {json.dumps(labels, ensure_ascii=False, separators=(',', ':'))}"
             for video, labels in label_lists.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_ground_truth(gt: OadGroundTruth, out: str | Path, *, target_perframe: bool = False) -> dict[str, Path]:
    """Write ``data_info.json``, ``G.json`` (the label lists ``actbench score oad --gt`` reads),
    ``classes.json`` (for ``--classes``) and, if asked, ``target_perframe/<video>.npy`` (uint8, T x C:
    138 x 3,807 columns for EK100 is about 0.7 GB). Each file is written atomically."""
    out = Path(out)
    provenance = {"schema_version": SCHEMA_VERSION, "dataset": gt.dataset, "frame_rule": FRAME_RULE,
                  "label_of_a_frame": "its first active class (argmax of the target row)", **gt.provenance}
    written = {"data_info": write_data_info(out, [gt.data_info()], provenance=provenance)}
    written["labels"] = out / LABELS_FILE
    atomic_write_text(written["labels"], dumps_label_lists(gt.label_lists()))
    written["classes"] = out / CLASSES_FILE
    atomic_write_text(written["classes"], dumps_json(list(gt.class_names)))
    if target_perframe:
        for video in gt.videos:
            save_npy(out / TARGETS / f"{video}.npy", gt.targets(video))
        written["target_perframe"] = out / TARGETS
    return written
