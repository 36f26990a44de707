"""The online-action-detection data layout of TeSTra / LSTR / MAT / CMeRT (and the GAD code), and its windows.

A dataset directory holds::

    data_info.json               {"EK100": {"class_names": [...], "num_classes": C, "fps": 4,
                                            "train_session_set": [...], "test_session_set": [...], ...}}
    features/<video>.npy         (T, D) float32, one row per frame at the dataset's fps
    target_perframe/<video>.npy  (T, C) 0/1, column 0 = background

Targets are one-hot, or multi-hot where annotated actions overlap (TeSTra's EK100 targets mark every
action covering a frame and clear the background column there). The ground-truth label of a frame is its
first active class, ``np.argmax(row)``, as the reference code reads it. :func:`read_targets` checks
shapes and that each row is 0/1 with at least one active class and the background only when alone;
``exclusive=True`` asks for exactly one.

Windows (GAD ``oad_gad.py``): a prediction for frame ``t`` sees the short-term window of the last
``short_frames`` frames up to ``t`` and, before it, a long-term window of up to ``long_frames`` frames
(both truncated at the start of the video, never padded). Training takes one window every
``stride = short_frames`` frames from a random start in ``[0, short_frames)`` drawn per video;
inference streams every frame from ``t = 0``.

The window lengths are frame counts: the paper's Table 9 heads them "(s)", but the reference training
script passes them as frame counts (``--short_len 32 --long_len 128 --stride 32`` on THUMOS' 4 fps
features), so at 4 fps they span a quarter of the seconds; :meth:`WindowSpec.from_seconds` builds the
literal reading.

>>> spec = OAD_WINDOWS["ek100"]
>>> spec.short_frames, spec.stride, spec.short_seconds
(20, 20, 5.0)
>>> w = list(streaming_windows({"v": 30}, spec))[25]
>>> w.t, w.short, w.long
(25, range(6, 26), range(0, 6))
>>> [w.t for w in training_windows({"v": 50}, spec, rng=0)]
[16, 36]
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from actbench.atomic import atomic_write_bytes, atomic_write_json
from actbench.errors import ActbenchError
from actbench.registry import suggestion

DATA_INFO = "data_info.json"
FEATURES = "features"
TARGETS = "target_perframe"
BACKGROUND = "background"


# ------------------------------------------------------------------------------------------- windows

@dataclass(frozen=True)
class WindowSpec:
    """Window lengths of one dataset, in frames at ``fps`` (sample rates 1: every frame is used)."""

    dataset: str
    fps: float
    long_frames: int
    short_frames: int
    long_sample_rate: int = 1
    short_sample_rate: int = 1

    def __post_init__(self):
        if self.fps <= 0 or self.short_frames < 1 or self.long_frames < 0:
            raise ValueError(f"bad window spec {self}")
        if self.long_sample_rate < 1 or self.short_sample_rate < 1:
            raise ValueError(f"bad sample rates in {self}")

    @classmethod
    def from_seconds(cls, dataset: str, fps: float, long_seconds: float, short_seconds: float) -> "WindowSpec":
        return cls(dataset, fps, round(long_seconds * fps), round(short_seconds * fps))

    @property
    def stride(self) -> int:
        """Training samples are taken every short-term length."""
        return self.short_frames

    @property
    def long_seconds(self) -> float:
        return self.long_frames / self.fps

    @property
    def short_seconds(self) -> float:
        return self.short_frames / self.fps


# The paper's Table 9 and the GAD training script (long 128, short 32 / 20 / 20 / 16, stride = short).
OAD_WINDOWS: Mapping[str, WindowSpec] = MappingProxyType({
    "thumos": WindowSpec("thumos", 4, 128, 32),
    "crosstask": WindowSpec("crosstask", 1, 128, 20),
    "ek100": WindowSpec("ek100", 4, 128, 20),
    "ego4d-goalstep": WindowSpec("ego4d-goalstep", 1, 128, 16),
})


def window_spec(dataset: str) -> WindowSpec:
    try:
        return OAD_WINDOWS[dataset]
    except KeyError:
        raise ActbenchError(f"unknown OAD dataset {dataset!r}{suggestion(dataset, list(OAD_WINDOWS))} "
                            f"(known: {', '.join(OAD_WINDOWS)})") from None


class Window(NamedTuple):
    """One prediction: frame ``t`` of ``video`` from the frames ``long`` then ``short`` (``t == short[-1]``)."""

    video: str
    t: int
    long: range
    short: range


def _window(video: str, work_end: int, spec: WindowSpec) -> Window:
    # GAD: short = [work_end - S, work_end) clipped at 0; long = the L frames before it, sampled with
    # ``uniform_sampler`` (which restarts at (end + 1) % rate when the window would begin before 0).
    work_start = max(0, work_end - spec.short_frames)
    short = range(work_start, work_end, spec.short_sample_rate)
    long_start, long_end = work_start - spec.long_frames, work_start - 1
    if long_start < 0:
        long_start = (long_end + 1) % spec.long_sample_rate
    return Window(video, short[-1], range(long_start, long_end + 1, spec.long_sample_rate), short)


def training_windows(lengths: Mapping[str, int], spec: WindowSpec, *,
                     rng: np.random.Generator | int) -> Iterator[Window]:
    """One epoch of training windows: per video (in the order given) a random start in
    ``[0, short_frames)``, then one window every ``stride`` frames, as GAD's ``_init_dataset``.

    The window ending at ``work_end`` (exclusive) predicts frame ``work_end - 1``; ``work_end`` runs over
    ``range(start, T, stride)`` with 0 raised to 1, so the last frame is never a training target.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    for video, length in lengths.items():
        start = int(rng.integers(spec.short_frames))
        for work_end in range(start, int(length), spec.stride):
            yield _window(video, max(1, work_end), spec)


def streaming_windows(lengths: Mapping[str, int], spec: WindowSpec) -> Iterator[Window]:
    """Inference: every frame ``t = 0 .. T-1`` of each video once, with stride 1 from ``t = 0``."""
    for video, length in lengths.items():
        for t in range(int(length)):
            yield _window(video, t + 1, spec)


# ------------------------------------------------------------------------------------- data_info.json

@dataclass(frozen=True)
class DataInfo:
    """One dataset entry of ``data_info.json``; ``extra`` keeps the other keys (ignore_index, metrics...)."""

    key: str
    class_names: tuple[str, ...]
    fps: float
    splits: Mapping[str, tuple[str, ...]]  # "train_session_set" -> videos, ...
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def videos(self, split: str = "test_session_set") -> tuple[str, ...]:
        if split not in self.splits:
            raise ActbenchError(f"{DATA_INFO}: {self.key} has no split {split!r}{suggestion(split, list(self.splits))}"
                                f" (it has: {', '.join(self.splits) or 'none'})")
        return self.splits[split]

    def to_json(self) -> dict:
        out = {"class_names": list(self.class_names), "num_classes": self.num_classes, "fps": self.fps}
        out.update(self.extra)
        out.update({name: list(videos) for name, videos in self.splits.items()})
        return out


def read_data_info(root: str | Path, key: str | None = None) -> DataInfo:
    """The entry ``key`` of ``root/data_info.json`` (``root`` may be the file); without ``key``, the only
    dataset entry (keys that are not objects holding ``class_names``, e.g. provenance, are skipped)."""
    path = Path(root)
    path = path / DATA_INFO if path.is_dir() else path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ActbenchError.bad_value(path, "file", f"a {DATA_INFO} of the OAD layout", "no such file") from None
    except json.JSONDecodeError as error:
        raise ActbenchError.bad_value(f"{path}:{error.lineno}", "json", "valid JSON", error.msg) from None
    entries = {k: v for k, v in data.items() if isinstance(v, dict) and "class_names" in v} \
        if isinstance(data, dict) else {}
    if key is None:
        if len(entries) != 1:
            raise ActbenchError.bad_value(path, "(top level)", "one dataset entry (or name the key)", list(entries))
        key = next(iter(entries))
    if key not in entries:
        raise ActbenchError.bad_value(path, key, "a dataset entry with class_names", f"keys {list(entries)}")
    entry = entries[key]
    names = entry["class_names"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ActbenchError.bad_value(path, f"{key}.class_names", "a non-empty list of class names", names)
    if len(set(names)) != len(names):
        raise ActbenchError.bad_value(path, f"{key}.class_names", "distinct names",
                                      next(n for n in names if names.count(n) > 1))
    if "num_classes" in entry and entry["num_classes"] != len(names):
        raise ActbenchError.bad_value(path, f"{key}.num_classes", f"{len(names)} (the class names)",
                                      entry["num_classes"])
    fps = entry.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise ActbenchError.bad_value(path, f"{key}.fps", "a positive number of frames per second", fps)
    splits = {}
    for name, videos in entry.items():
        if name.endswith("_session_set"):
            if not isinstance(videos, list) or not all(isinstance(v, str) and v for v in videos):
                raise ActbenchError.bad_value(path, f"{key}.{name}", "a list of video ids", videos)
            splits[name] = tuple(videos)
    extra = {k: v for k, v in entry.items() if k not in splits and k not in ("class_names", "num_classes", "fps")}
    return DataInfo(key, tuple(names), fps, MappingProxyType(splits), MappingProxyType(extra))


def write_data_info(root: str | Path, infos: Sequence[DataInfo], *, provenance: Mapping | None = None) -> Path:
    """Write ``root/data_info.json`` atomically; ``provenance`` goes under the top-level key ``actbench``."""
    data: dict[str, object] = {info.key: info.to_json() for info in infos}
    if provenance is not None:
        data["actbench"] = dict(provenance)
    path = Path(root) / DATA_INFO
    atomic_write_json(path, data)
    return path


# ------------------------------------------------------------------------------ per-frame .npy files

def save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` to a temp file in the same folder, then rename: never a half-written array."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(Path(path), buffer.getvalue())


def write_targets(root: str | Path, video: str, targets: np.ndarray, *, background: int | None = 0) -> Path:
    check_targets(targets, f"{video} targets", background=background)
    path = Path(root) / TARGETS / f"{video}.npy"
    save_npy(path, targets)
    return path


def write_features(root: str | Path, video: str, features: np.ndarray) -> Path:
    features = np.asarray(features, dtype=np.float32)
    check_features(features, f"{video} features")
    path = Path(root) / FEATURES / f"{video}.npy"
    save_npy(path, features)
    return path


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ActbenchError.bad_value(path, "file", "a per-frame .npy array", "no such file") from None
    except (ValueError, OSError) as error:
        raise ActbenchError.bad_value(path, "file", "a .npy array", str(error)) from None


def read_targets(root: str | Path, video: str, *, num_classes: int | None = None, background: int | None = 0,
                 exclusive: bool = False) -> np.ndarray:
    path = Path(root) / TARGETS / f"{video}.npy"
    targets = _load(path)
    check_targets(targets, path, num_classes=num_classes, background=background, exclusive=exclusive)
    return targets


def read_features(root: str | Path, video: str, *, frames: int | None = None, dim: int | None = None) -> np.ndarray:
    path = Path(root) / FEATURES / f"{video}.npy"
    features = _load(path)
    check_features(features, path, frames=frames, dim=dim)
    return features


def check_targets(targets: np.ndarray, where: object, *, num_classes: int | None = None,
                  background: int | None = 0, exclusive: bool = False) -> None:
    """Shape (T, C), values 0/1, at least one active class per row (exactly one if ``exclusive``), and
    the background column active only on rows with no other class."""
    if targets.ndim != 2 or targets.shape[0] == 0 or (num_classes is not None and targets.shape[1] != num_classes):
        want = f"(T, {num_classes})" if num_classes is not None else "(T, C)"
        raise ActbenchError.bad_value(where, "shape", f"a non-empty {want} target array", targets.shape)
    if targets.dtype.kind not in "biuf":
        raise ActbenchError.bad_value(where, "dtype", "a numeric 0/1 array", targets.dtype)
    binary = (targets == 0) | (targets == 1)
    if not binary.all():
        row, col = np.argwhere(~binary)[0]
        raise ActbenchError.bad_value(where, f"row {row}, class {col}", "0 or 1", targets[row, col])
    active = np.count_nonzero(targets, axis=1)
    bad = np.flatnonzero(active != 1) if exclusive else np.flatnonzero(active == 0)
    if bad.size:
        raise ActbenchError.bad_value(where, f"row {bad[0]}", "exactly one active class" if exclusive
                                      else "at least one active class (background included)",
                                      f"{active[bad[0]]} active")
    if background is not None:
        mixed = np.flatnonzero((targets[:, background] != 0) & (active > 1))
        if mixed.size:
            raise ActbenchError.bad_value(where, f"row {mixed[0]}", f"background (class {background}) only on rows "
                                          "with no other class", f"{active[mixed[0]] - 1} other active")


def check_features(features: np.ndarray, where: object, *, frames: int | None = None, dim: int | None = None) -> None:
    if features.ndim != 2 or features.shape[0] == 0 or features.dtype != np.float32:
        raise ActbenchError.bad_value(where, "shape", "a non-empty (T, D) float32 array",
                                      f"dtype {features.dtype}, shape {features.shape}")
    if frames is not None and features.shape[0] != frames:
        raise ActbenchError.bad_value(where, "frames", f"{frames} rows, as the targets", features.shape[0])
    if dim is not None and features.shape[1] != dim:
        raise ActbenchError.bad_value(where, "dim", f"{dim} columns", features.shape[1])
    if not np.isfinite(features).all():
        raise ActbenchError.bad_value(where, "values", "finite numbers", "NaN or infinity")


def first_active(targets: np.ndarray) -> np.ndarray:
    """Each frame's label: the index of its first active class (targets already checked)."""
    return np.argmax(targets, axis=1)


@dataclass(frozen=True)
class OadDataset:
    """A directory in the layout above, read lazily video by video, every array checked on load."""

    root: Path
    info: DataInfo

    @classmethod
    def open(cls, root: str | Path, key: str | None = None) -> "OadDataset":
        return cls(Path(root), read_data_info(root, key))

    def targets(self, video: str, *, exclusive: bool = False) -> np.ndarray:
        return read_targets(self.root, video, num_classes=self.info.num_classes, exclusive=exclusive)

    def labels(self, video: str) -> np.ndarray:
        return first_active(self.targets(video))

    def features(self, video: str) -> np.ndarray:
        """The features, checked to have one row per target frame."""
        frames = self.targets(video).shape[0] if (self.root / TARGETS / f"{video}.npy").is_file() else None
        return read_features(self.root, video, frames=frames)


def num_frames(seconds: float, fps: float) -> int:
    """Frames sampled at ``i / fps`` for ``i / fps < seconds`` (rounded to 1e-6 first: 2.5 s x 4 is 10)."""
    return math.ceil(round(seconds * fps, 6))
