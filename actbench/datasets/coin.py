"""COIN (Tang et al. 2019) as VideoLLM-online and the GAD paper use it: ``coin.json`` + per-video features at 2 fps.

``coin.json`` is the official annotation file::

    {"database": {"<video id>": {"class": "MakeSandwich", "recipe_type": 12, "subset": "training" | "testing",
                                 "start": 10.0, "end": 95.5, "duration": 120.3, "video_url": "...",
                                 "annotation": [{"id": "62", "segment": [10.0, 21.5], "label": "..."}, ...]}}}

Three benchmarks come out of it, per subset, as VideoLLM-online's ``data/coin/benchmarks.py`` builds them
(our own code, same rules):

- ``step``: the clip of each annotated step -> that step's label;
- ``next``: the clip of step ``i`` -> the label of step ``i + 1`` of the same video (steps in file order;
  a video's last step gives no sample, so nothing crosses videos);
- ``task``: the whole annotated span (the video's ``start`` .. ``end``) -> the task name.

Names: a step is its label, with VideoLLM-online's two fixes (labels whose comma would break a sentence);
a task is its CamelCase ``class`` split into lower-case words with six acronyms restored (``MakeSandwich``
-> ``make sandwich``, ``ReplaceSIMCard`` -> ``replace SIM card``, ``MakeRJ45Cable`` -> ``make RJ45 cable``).
The reference trains on ``name.capitalize() + "."`` (:func:`answer_text`). The vocabularies are the sorted
distinct names over the whole file (both subsets), so the class heads do not depend on the split or on
which features are present (VideoLLM-online keeps one unordered set per split).

Frames: a time ``t`` maps to frame ``ceil(t * fps)`` clipped to ``[0, T - 1]``; a clip is the frames from
its start's frame to its end's frame, both included (``stop = end frame + 1``), as the reference's
``ceil_time_by_fps`` then ``int(time * fps)`` (``+ 1`` at the end) computes at 2 fps, in integers here so
that other rates do not lose a frame to rounding. ``T`` is the number of feature rows (the reference's
duration is ``(T - 1) / fps``); without features it is ``ceil(duration * fps)``. Videos without a feature
file are left out, as the reference does; :attr:`CoinDataset.missing_features` lists them.

Features: ``<features_dir>/<video>.npy`` (float, ``(T, D)`` or ``(T, N, D)`` with ``N`` tokens per frame,
VideoLLM-online's ``1+3x3`` = 10) or the reference's ``<video>.pt`` tensors (read with torch).

>>> task_name("MakeSandwich"), task_name("ReplaceSIMCard"), task_name("MakeRJ45Cable")
('make sandwich', 'replace SIM card', 'make RJ45 cable')
>>> frame_range(3.2, 7.0, frames=100, fps=2.0)  # ceil(6.4) = 7 .. ceil(14.0) = 14, inclusive
(7, 15)
>>> answer_text("replace SIM card")
'Replace sim card.'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np

from actbench.datasets.oad_layout import num_frames
from actbench.errors import ActbenchError
from actbench.registry import suggestion

FPS = 2.0  # VideoLLM-online samples COIN at 2 fps (SigLIP features, 10 tokens per frame)
KINDS = ("step", "next", "task")
SUBSETS = ("training", "testing")
_SPLIT_ALIASES = {"train": "training", "training": "training", "test": "testing", "testing": "testing"}
FEATURE_SUFFIXES = (".npy", ".pt")

Kind = Literal["step", "next", "task"]

# VideoLLM-online's COIN._clean_step: the two labels that carry a comma.
_STEP_FIXES = MappingProxyType({
    "process (crop, fold) paper": "crop and fold paper",
    "try to press gun head, spray residual old grease": "try to press gun head to spray residual old grease",
})
# VideoLLM-online's COIN._clean_task: acronyms that the letter-by-letter split tears apart, in its order.
_ACRONYMS = ((" t v", " TV"), (" c d", " CD"), ("s i m", "SIM"), ("n b a", "NBA"), ("s s d", "SSD"),
             ("r j45", "RJ45"))


def task_name(camel: str) -> str:
    """``MakeSandwich`` -> ``make sandwich``: a space and the lower-case letter for every capital."""
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in camel)
    for torn, acronym in _ACRONYMS:
        words = words.replace(torn, acronym)
    return words.strip()


def step_name(label: str) -> str:
    return _STEP_FIXES.get(label, label)


def answer_text(name: str) -> str:
    """The reference's target text for a step or task name (``str.capitalize`` lower-cases the rest)."""
    return name.capitalize() + "."


def frame_range(start: float, end: float, *, frames: int, fps: float = FPS) -> tuple[int, int]:
    """The frames ``[first, stop)`` of the span ``start .. end`` seconds in a video of ``frames`` frames."""
    last = frames - 1
    first = min(max(math.ceil(start * fps), 0), last)
    return first, min(max(math.ceil(end * fps), 0), last) + 1


# ---------------------------------------------------------------------------------------------- records

@dataclass(frozen=True)
class CoinStep:
    start: float
    end: float
    name: str
    step_id: str  # the official step id ("id"), as a string


@dataclass(frozen=True)
class CoinVideo:
    video_id: str
    task: str  # the task name (words)
    task_class: str  # the official CamelCase class
    subset: str  # "training" or "testing"
    start: float  # the annotated span
    end: float
    duration: float
    steps: tuple[CoinStep, ...]


@dataclass(frozen=True)
class CoinSample:
    """One clip and its answer: frames ``[start_frame, stop_frame)`` of ``video_id`` at the dataset's fps."""

    kind: str  # "step", "next" or "task"
    video_id: str
    subset: str
    step: int | None  # index in the video of the observed step (None for task samples)
    start: float  # the observed span, seconds
    end: float
    start_frame: int
    stop_frame: int
    label: str  # the answer: a step name (step, next) or the task name (task)
    label_index: int  # in the step vocabulary (step, next) or the task vocabulary (task)
    task: str  # the video's task name, for every kind (GAD's "Step. Task." generation target)
    task_index: int

    @property
    def num_frames(self) -> int:
        return self.stop_frame - self.start_frame


# ---------------------------------------------------------------------------------------------- reading

def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _span(path: Path, field: str, start: object, end: object) -> tuple[float, float]:
    if not (_number(start) and _number(end) and 0 <= start <= end):
        raise ActbenchError.bad_value(path, field, "[start, end] seconds with 0 <= start <= end", [start, end])
    return float(start), float(end)


def _video(path: Path, video_id: str, entry: object) -> CoinVideo:
    where = f"database.{video_id}"
    if not isinstance(entry, dict):
        raise ActbenchError.bad_value(path, where, "an object describing the video", entry)
    for key in ("class", "subset", "start", "end", "duration", "annotation"):
        if key not in entry:
            raise ActbenchError.bad_value(path, f"{where}.{key}", "a value (the field is required)", "none")
    if not _text(entry["class"]):
        found = entry["class"]
        raise ActbenchError.bad_value(path, f"{where}.class", "a CamelCase task name",
                                      repr(found) if isinstance(found, str) else found)
    if entry["subset"] not in SUBSETS:
        raise ActbenchError.bad_value(path, f"{where}.subset", "training or testing", entry["subset"])
    if not (_number(entry["duration"]) and entry["duration"] > 0):
        raise ActbenchError.bad_value(path, f"{where}.duration", "a positive number of seconds", entry["duration"])
    start, end = _span(path, f"{where}.start/end", entry["start"], entry["end"])
    annotation = entry["annotation"]
    if not isinstance(annotation, list):
        raise ActbenchError.bad_value(path, f"{where}.annotation", "a list of steps", annotation)
    steps = []
    for i, step in enumerate(annotation):
        here = f"{where}.annotation[{i}]"
        if not isinstance(step, dict):
            raise ActbenchError.bad_value(path, here, "an object with id, segment, label", step)
        segment = step.get("segment")
        if not (isinstance(segment, list) and len(segment) == 2):
            raise ActbenchError.bad_value(path, f"{here}.segment", "[start, end] seconds", segment)
        label = step.get("label")
        if not _text(label):  # a blank label is shown quoted, or the message would end in nothing
            raise ActbenchError.bad_value(path, f"{here}.label", "a non-empty step label",
                                          repr(label) if isinstance(label, str) else label)
        step_id = step.get("id")
        if isinstance(step_id, bool) or not isinstance(step_id, (str, int)):
            raise ActbenchError.bad_value(path, f"{here}.id", "the step id (a string or an integer)", step_id)
        steps.append(CoinStep(*_span(path, f"{here}.segment", *segment), step_name(label), str(step_id)))
    return CoinVideo(video_id, task_name(entry["class"]), entry["class"], entry["subset"], start, end,
                     float(entry["duration"]), tuple(steps))


def read_coin_json(path: str | Path) -> tuple[CoinVideo, ...]:
    """Every video of ``coin.json``, in file order, validated (errors name the file and the field)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ActbenchError.bad_value(path, "file", "the COIN annotation coin.json", "no such file") from None
    except json.JSONDecodeError as error:
        raise ActbenchError.bad_value(f"{path}:{error.lineno}", "json", "valid JSON", error.msg) from None
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict) or not database:
        raise ActbenchError.bad_value(path, "database", "an object of video id -> annotation",
                                      database if isinstance(data, dict) else data)
    return tuple(_video(path, video_id, entry) for video_id, entry in database.items())


# ---------------------------------------------------------------------------------------------- features

def _feature_file(features_dir: Path, video_id: str) -> Path | None:
    for suffix in FEATURE_SUFFIXES:
        path = features_dir / f"{video_id}{suffix}"
        if path.is_file():
            return path
    return None


def load_features(path: str | Path, *, mmap: bool = False) -> np.ndarray:
    """A feature file as a float numpy array ``(T, D)`` or ``(T, N, D)``, checked."""
    path = Path(path)
    try:
        if path.suffix == ".pt":
            import torch  # the reference's files; only they need torch

            array = torch.load(path, map_location="cpu", weights_only=True).float().numpy()
        else:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, RuntimeError, AttributeError) as error:
        raise ActbenchError.bad_value(path, "file", "a feature array (.npy or a torch tensor .pt)", str(error)) from None
    if array.ndim not in (2, 3) or array.shape[0] == 0 or array.dtype.kind != "f":
        raise ActbenchError.bad_value(path, "shape", "a non-empty float array (T, D) or (T, tokens, D)",
                                      f"dtype {array.dtype}, shape {array.shape}")
    return array


@dataclass(frozen=True)
class CoinDataset:
    """``coin.json`` with its vocabularies, frame counts and samples per kind and subset.

    ``CoinDataset.from_files("coin.json", "features/")`` keeps the videos that have a feature file;
    without ``features_dir`` every video is kept and frame counts come from the durations.
    """

    path: Path
    fps: float
    videos: tuple[CoinVideo, ...]  # those used, in file order
    frames: Mapping[str, int]  # video -> T
    steps: tuple[str, ...]  # the step vocabulary (sorted names)
    tasks: tuple[str, ...]  # the task vocabulary
    features_dir: Path | None = None
    missing_features: tuple[str, ...] = ()

    @classmethod
    def from_files(cls, coin_json: str | Path, features_dir: str | Path | None = None, *,
                   fps: float = FPS) -> CoinDataset:
        if not (_number(fps) and fps > 0):
            raise ActbenchError.bad_value("--fps", "fps", "a positive number of frames per second", fps)
        every = read_coin_json(coin_json)
        steps = tuple(sorted({s.name for v in every for s in v.steps}))
        tasks = tuple(sorted({v.task for v in every}))
        if features_dir is None:
            return cls(Path(coin_json), fps, every, MappingProxyType(
                {v.video_id: num_frames(v.duration, fps) for v in every}), steps, tasks)
        features_dir = Path(features_dir)
        if not features_dir.is_dir():
            raise ActbenchError.bad_value(features_dir, "features_dir", "a folder of <video>.npy or .pt files",
                                          "no such folder")
        frames, missing = {}, []
        for video in every:
            file = _feature_file(features_dir, video.video_id)
            if file is None:
                missing.append(video.video_id)
            else:
                frames[video.video_id] = load_features(file, mmap=True).shape[0]
        if not frames:
            raise ActbenchError.bad_value(features_dir, "features", f"a feature file for some video of {coin_json}",
                                          f"none of {len(every)} (e.g. {every[0].video_id}.npy)")
        kept = tuple(v for v in every if v.video_id in frames)
        return cls(Path(coin_json), fps, kept, MappingProxyType(frames), steps, tasks, features_dir, tuple(missing))

    def samples(self, kind: Kind, split: str) -> tuple[CoinSample, ...]:
        """The samples of one benchmark (``step``, ``next``, ``task``) on one subset, in file order."""
        if kind not in KINDS:
            raise ActbenchError.bad_value(self.path, "kind", "step, next or task", f"{kind!r}{suggestion(kind, list(KINDS))}")
        subset = _SPLIT_ALIASES.get(split)
        if subset is None:
            raise ActbenchError.bad_value(self.path, "split", "training or testing (or train, test)", split)
        step_index = {name: i for i, name in enumerate(self.steps)}
        task_index = {name: i for i, name in enumerate(self.tasks)}
        out = []
        for video in self.videos:
            if video.subset != subset:
                continue
            task = task_index[video.task]
            common = {"video_id": video.video_id, "subset": subset, "task": video.task, "task_index": task}
            frames = self.frames[video.video_id]
            if kind == "task":
                out.append(CoinSample("task", step=None, start=video.start, end=video.end, label=video.task,
                                      label_index=task, **common,
                                      **_frames(video.start, video.end, frames, self.fps)))
                continue
            shift = 1 if kind == "next" else 0
            for i in range(len(video.steps) - shift):
                seen, answer = video.steps[i], video.steps[i + shift]
                out.append(CoinSample(kind, step=i, start=seen.start, end=seen.end, label=answer.name,
                                      label_index=step_index[answer.name], **common,
                                      **_frames(seen.start, seen.end, frames, self.fps)))
        return tuple(out)

    def features(self, sample: CoinSample) -> np.ndarray:
        """The sample's feature rows, ``(stop_frame - start_frame, D)`` (or with the token axis)."""
        if self.features_dir is None:
            raise ActbenchError.bad_value(self.path, "features_dir", "a features folder to read clips from", "none")
        return feature_slice(self.features_dir, sample)


def _frames(start: float, end: float, frames: int, fps: float) -> dict[str, int]:
    first, stop = frame_range(start, end, frames=frames, fps=fps)
    return {"start_frame": first, "stop_frame": stop}


def feature_slice(features_dir: str | Path, sample: CoinSample) -> np.ndarray:
    """Rows ``[start_frame, stop_frame)`` of the sample's video features, as float32."""
    file = _feature_file(Path(features_dir), sample.video_id)
    if file is None:
        raise ActbenchError.bad_value(features_dir, sample.video_id, "a <video>.npy or <video>.pt feature file",
                                      "no such file")
    array = load_features(file, mmap=True)
    if sample.stop_frame > array.shape[0]:
        raise ActbenchError.bad_value(file, "frames", f"at least {sample.stop_frame} rows (the clip's end)",
                                      array.shape[0])
    return np.array(array[sample.start_frame:sample.stop_frame], dtype=np.float32)
