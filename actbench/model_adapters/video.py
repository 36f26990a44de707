"""Video frames for a question: N timestamps inside its [start, end], decoded and resized the same way
for every model of a run, cached on disk.

Times follow the segment-centre convention of LLaVA-Video / LLaVAction: [start, end] is cut into N
equal bins and the centre of each is sampled, ``t_i = start + (i + 0.5) * (end - start) / N``; each
time takes the frame whose timestamp is nearest (ties go to the earlier frame).

Three layouts of a video root; the first two are EPIC-KITCHENS', the participant being the video id's prefix:

- ``video``: ``<root>/P01/videos/P01_01.MP4`` (or ``.mp4``), decoded with decord when it is importable,
  else PyAV (seek to the keyframe before a time, decode forward); times are relative to the stream's
  start, the fps comes from the stream.
- ``rgb_frames``: ``<root>/P01/rgb_frames/P01_01/frame_0000000001.jpg``, frame k (1-based) shown at
  ``(k - 1) / fps`` with ``fps`` given or 50.
- ``flat``: ``<root>/<video id>.mp4`` (or ``.MP4``, ``.mkv``, ``.webm``, ``.avi``, ``.mov``): one file per
  video named by its id, as the other datasets (Goal-Step, COIN, CrossTask, THUMOS, ...) are stored;
  decoded like ``video``.

A missing, unreadable or too-short video never raises: :meth:`FrameSampler.frames` returns a
:class:`FrameResult` whose ``error`` says why, which the runner records as status ``error``. A video id
must be a bare name (no ``..``, no separator, not absolute) and the resolved file must lie inside the
video root, so ids and symbolic links cannot reach other files.

>>> sample_times(0.0, 4.0, 4)
(0.5, 1.5, 2.5, 3.5)
>>> FrameSampler(n_frames=8, size=384, cache=None).describe()["time_convention"]
'segment-centre: t_i = start + (i + 0.5) * (end - start) / N, i = 0..N-1'
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from actbench.errors import ActbenchError
from actbench.model_adapters.frame_cache import FrameCache

Layout = Literal["video", "rgb_frames", "flat"]
LAYOUTS = ("video", "rgb_frames", "flat")
FLAT_SUFFIXES = (".mp4", ".MP4", ".mkv", ".webm", ".avi", ".mov")
BACKENDS = ("auto", "pyav", "decord")
DEFAULT_RGB_FPS = 50.0
TIME_CONVENTION = "segment-centre: t_i = start + (i + 0.5) * (end - start) / N, i = 0..N-1"
FRAME_CHOICE = "nearest frame timestamp (ties: earlier frame)"
# PyAV seeks again only when the next time is this far past the last decoded frame; closer times are
# reached by decoding forward, which is cheaper than going back to a keyframe.
SEEK_GAP_S = 2.0
_CACHE_FORMAT = 1


def sample_times(start: float, end: float, n: int) -> tuple[float, ...]:
    """N times inside ``[start, end]``: the centres of N equal bins (rounded to the microsecond).

    >>> sample_times(10.0, 11.0, 2)
    (10.25, 10.75)
    >>> sample_times(3.0, 3.0, 3)
    (3.0, 3.0, 3.0)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of frames must be an integer >= 1, found {n!r}")
    start, end = float(start), float(end)
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
        raise ValueError(f"expected 0 <= start <= end, found start={start}, end={end}")
    step = (end - start) / n
    return tuple(round(start + (i + 0.5) * step, 6) for i in range(n))


@dataclass(frozen=True, eq=False)
class FrameResult:
    """The sampled ``times`` and either ``frames`` (uint8, ``(N, H, W, 3)``, RGB) or an ``error`` reason.

    ``source`` is the file or folder read, relative to the video root; ``from_cache`` tells whether
    the frames came from the frame cache rather than a decode.
    """

    times: tuple[float, ...]
    frames: np.ndarray | None = None
    error: str | None = None
    source: str | None = None
    from_cache: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: a module in sys.modules without a spec
        return name in sys.modules


class _Unavailable(Exception):
    """The frames of this question cannot be had; the message is the reason recorded."""


def check_video_id(video_id: object, *, epic: bool = True) -> str:
    """The id if it is a bare name (EPIC-style ``P01_01`` unless ``epic`` is False: Goal-Step's uuids,
    YouTube ids); else :class:`ValueError` with the reason."""
    if not isinstance(video_id, str) or not video_id:
        raise ValueError(f"video id must be a non-empty string, found {video_id!r}")
    if ".." in video_id:
        raise ValueError(f"video id {video_id!r} contains '..'")
    if os.path.isabs(video_id) or video_id.startswith(("/", "\\")) or video_id[1:2] == ":":
        raise ValueError(f"video id {video_id!r} is an absolute path")
    if any(sep in video_id for sep in ("/", "\\", os.sep)) or "\x00" in video_id:
        raise ValueError(f"video id {video_id!r} contains a path separator")
    participant, _, number = video_id.partition("_")
    if epic and (not participant or not number):
        raise ValueError(f"video id {video_id!r} is not of the form <participant>_<n> (e.g. P01_01)")
    return video_id


def _inside(root: Path, path: Path, rel: str) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise _Unavailable(f"{rel}: resolves outside the video root (a symbolic link out of it)")
    return resolved


def locate(root: Path, video_id: str, layout: str) -> tuple[Path, str]:
    """The resolved file (``video``) or folder (``rgb_frames``) of a video and its path relative to
    ``root`` (already resolved); :class:`_Unavailable` when invalid, missing or outside the root."""
    try:
        check_video_id(video_id, epic=layout != "flat")
    except ValueError as exc:
        raise _Unavailable(str(exc)) from None
    if layout == "flat":
        for suffix in FLAT_SUFFIXES:
            rel = f"{video_id}{suffix}"
            if (root / rel).exists():
                found = _inside(root, root / rel, rel)
                if not found.is_file():
                    raise _Unavailable(f"{rel}: not a file")
                return found, rel
        raise _Unavailable(f"{video_id}.mp4: no such video under the video root ({', '.join(FLAT_SUFFIXES[1:])} "
                           "tried too)")
    participant = video_id.split("_", 1)[0]
    if layout == "rgb_frames":
        rel = f"{participant}/rgb_frames/{video_id}"
        if not (root / rel).exists():
            raise _Unavailable(f"{rel}: no such frame folder under the video root")
        found = _inside(root, root / rel, rel)
        if not found.is_dir():
            raise _Unavailable(f"{rel}: not a folder")
        return found, rel
    for suffix in (".MP4", ".mp4"):
        rel = f"{participant}/videos/{video_id}{suffix}"
        if (root / rel).exists():
            found = _inside(root, root / rel, rel)
            if not found.is_file():
                raise _Unavailable(f"{rel}: not a file")
            return found, rel
    raise _Unavailable(f"{participant}/videos/{video_id}.MP4: no such video under the video root "
                       "(.mp4 tried too)")


def _check_segment(rel: str, start: float, end: float, duration: float | None, period: float) -> None:
    # One frame of slack: annotation end times are rounded, and the last frame lasts one period.
    if duration is not None and (start >= duration or end > duration + period + 1e-6):
        raise _Unavailable(f"{rel}: segment [{start:.3f}, {end:.3f}] s goes beyond the end of the "
                           f"video ({duration:.3f} s)")


def _decode_pyav(path: Path, rel: str, times: tuple[float, ...], start: float, end: float,
                 finish: Callable[[Any], np.ndarray]) -> list[np.ndarray]:
    import av
    from av.video.reformatter import VideoReformatter

    # One reformatter for the clip: a frame's own to_image() builds a new swscale context each time,
    # which costs more than decoding a small frame.
    to_rgb = VideoReformatter()
    out: list[np.ndarray] = []
    with av.open(str(path), metadata_errors="ignore") as container:
        if not container.streams.video:
            raise _Unavailable(f"{rel}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base or Fraction(1, 90000)
        origin = stream.start_time or 0
        rate = stream.average_rate or stream.guessed_rate
        period = float(1 / rate) if rate else 0.0
        if stream.duration:
            duration = float(stream.duration * tb)
        else:
            duration = container.duration / av.time_base if container.duration else None
        _check_segment(rel, start, end, duration, period)

        def timed():
            for frame in container.decode(stream):
                if frame.pts is not None:
                    yield float((frame.pts - origin) * tb), frame

        def seek(t: float):
            # Demuxers may seek by decode time, landing on a keyframe shown after t (B-frames): step
            # further back until the first frame decoded is not after t.
            back = 0.0
            while True:
                target = max(t - back, 0.0)
                container.seek(origin + int(target / tb), stream=stream, backward=True, any_frame=False)
                frames = timed()
                first = next(frames, None)
                if first is None or first[0] <= t or target <= 0.0:
                    return frames, first
                back = max(2 * back, 1.0)

        frames = None
        prev = cur = None  # (time, frame) around the current time
        last: tuple[Any, np.ndarray] | None = None  # the last frame chosen and its pixels
        for t in times:
            if cur is None or t - cur[0] > SEEK_GAP_S:
                prev = None
                frames, cur = seek(t)
                if cur is None:
                    raise _Unavailable(f"{rel}: no frame decoded at or after {t:.3f} s")
            while cur[0] < t and (nxt := next(frames, None)) is not None:
                prev, cur = cur, nxt
            if cur[0] < t and t - cur[0] > period + 1e-6:
                raise _Unavailable(f"{rel}: the video ends at {cur[0] + period:.3f} s, before the "
                                   f"sample at {t:.3f} s")
            chosen = prev if prev is not None and t - prev[0] <= cur[0] - t else cur
            if last is None or last[0] is not chosen[1]:
                last = (chosen[1], finish(to_rgb.reformat(chosen[1], format="rgb24").to_image()))
            out.append(last[1])
    return out


def nearest_indices(stamps: np.ndarray, times: tuple[float, ...]) -> list[int]:
    """Index of the nearest of the sorted ``stamps`` for each time (ties: the earlier).

    >>> nearest_indices(np.array([0.0, 0.04, 0.08]), (0.0, 0.02, 0.021, 1.0))
    [0, 0, 1, 2]
    """
    out = []
    for t in times:
        j = int(np.searchsorted(stamps, t, side="left"))
        if j >= len(stamps) or (j > 0 and t - stamps[j - 1] <= stamps[j] - t):
            j -= 1
        out.append(max(j, 0))
    return out


def _decode_decord(path: Path, rel: str, times: tuple[float, ...], start: float, end: float,
                   finish: Callable[[Any], np.ndarray]) -> list[np.ndarray]:
    import decord
    from PIL import Image

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    count = len(reader)
    if count == 0:
        raise _Unavailable(f"{rel}: no frames")
    fps = float(reader.get_avg_fps() or 0)
    stamps = np.asarray(reader.get_frame_timestamp(np.arange(count)), dtype=float)[:, 0]
    period = 1 / fps if fps > 0 else 0.0
    _check_segment(rel, start, end, float(stamps[-1]) + period, period)
    indices = nearest_indices(stamps, times)
    pixels: dict[int, np.ndarray] = {}
    for index in dict.fromkeys(indices):  # unique, in order; one frame in memory at a time
        pixels[index] = finish(Image.fromarray(reader[index].asnumpy()))
    return [pixels[i] for i in indices]


def rgb_frame_number(t: float, fps: float) -> int:
    """The 1-based number of the frame nearest to time ``t``, ties to the earlier one.

    Rounded before the ceiling: ``0.07 * 50 - 0.5`` is ``3.0000000000000004`` in floating point, which
    would turn that exact tie into the later frame.

    >>> rgb_frame_number(0.0, 50), rgb_frame_number(0.01, 50), rgb_frame_number(0.07, 50), rgb_frame_number(0.0701, 50)
    (1, 1, 4, 5)
    """
    return max(math.ceil(round(t * fps - 0.5, 6)), 0) + 1


def _read_jpegs(folder: Path, rel: str, times: tuple[float, ...], fps: float, root: Path,
                finish: Callable[[Any], np.ndarray]) -> list[np.ndarray]:
    from PIL import Image

    out: list[np.ndarray] = []
    for t in times:
        k = rgb_frame_number(t, fps)
        name = f"frame_{k:010d}.jpg"
        if not (folder / name).exists():
            raise _Unavailable(f"{rel}/{name}: missing frame (t={t:.3f} s at {fps:g} fps)")
        path = _inside(root, folder / name, f"{rel}/{name}")
        try:
            with Image.open(path) as image:
                out.append(finish(image.convert("RGB")))
        except OSError as exc:
            raise _Unavailable(f"{rel}/{name}: unreadable JPEG ({exc})") from None
    return out


@dataclass(frozen=True)
class FrameSampler:
    """How a run turns a question into frames: N, the output size, the video layout, the decoder.

    ``size``: an int resizes the short side to it; ``(w, h)`` fits the frame inside that box; both keep
    the aspect ratio (bicubic, Pillow); None keeps the decoded size. ``fps`` applies to ``rgb_frames``
    (default 50). ``cache``: a :class:`FrameCache` (default folder if not given), or None for none.
    """

    n_frames: int = 8
    size: int | tuple[int, int] | None = 384
    layout: Layout = "video"
    fps: float | None = None
    backend: Literal["auto", "pyav", "decord"] = "auto"
    cache: FrameCache | None = field(default_factory=FrameCache, compare=False, repr=False)

    def __post_init__(self) -> None:
        where = "frame sampler"
        if isinstance(self.n_frames, bool) or not isinstance(self.n_frames, int) or self.n_frames < 1:
            raise ActbenchError.bad_value(where, "n_frames", "an integer >= 1", self.n_frames)
        size = self.size
        if isinstance(size, list):
            object.__setattr__(self, "size", size := tuple(size))
        ok_int = lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0  # noqa: E731
        if not (size is None or ok_int(size)
                or (isinstance(size, tuple) and len(size) == 2 and all(map(ok_int, size)))):
            raise ActbenchError.bad_value(where, "size", "a positive int (short side), (w, h) or None",
                                          size)
        if self.layout not in LAYOUTS:
            raise ActbenchError.bad_value(where, "layout", " or ".join(LAYOUTS), self.layout)
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and self.fps > 0):
            raise ActbenchError.bad_value(where, "fps", "a positive number", self.fps)
        if self.backend not in BACKENDS:
            raise ActbenchError.bad_value(where, "backend", " or ".join(BACKENDS), self.backend)

    @property
    def decoder(self) -> str:
        """What reads the pixels: ``pillow-jpeg``, ``decord`` or ``pyav`` (``auto``: decord if importable)."""
        if self.layout == "rgb_frames":
            return "pillow-jpeg"
        if self.backend == "auto":
            return "decord" if _importable("decord") else "pyav"
        return self.backend

    def describe(self) -> dict[str, Any]:
        """The sampling, as recorded in a run spec: every model of the run sees these frames."""
        size = list(self.size) if isinstance(self.size, tuple) else self.size
        mode = "native" if size is None else "short side" if isinstance(size, int) else "fit in (w, h)"
        out: dict[str, Any] = {"n_frames": self.n_frames, "size": size, "size_mode": mode,
                               "layout": self.layout, "time_convention": TIME_CONVENTION,
                               "frame_choice": FRAME_CHOICE, "resample": "bicubic",
                               "decoder": self.decoder}
        if self.layout == "rgb_frames":
            out["fps"] = self.fps or DEFAULT_RGB_FPS
        return out

    def cache_key(self, rel: str, found: Path, times: tuple[float, ...]) -> dict[str, Any]:
        """What decides the pixels: the source (and a video's byte size, so a replaced file misses),
        the times in ms, N, size, layout and fps. The decoder is left out: both pick the same frames."""
        size = list(self.size) if isinstance(self.size, tuple) else self.size
        key: dict[str, Any] = {"format": _CACHE_FORMAT, "path": rel, "layout": self.layout,
                               "times_ms": [round(t * 1000) for t in times], "n": self.n_frames,
                               "size": size, "resample": "bicubic"}
        if self.layout != "rgb_frames":  # a video file
            key["bytes"] = found.stat().st_size
        else:
            key["fps"] = float(self.fps or DEFAULT_RGB_FPS)
        return key

    def _finish(self, image: Any) -> np.ndarray:
        from PIL import Image

        w, h = image.size
        if isinstance(self.size, int):
            scale = self.size / min(w, h)
        elif isinstance(self.size, tuple):
            scale = min(self.size[0] / w, self.size[1] / h)
        else:
            scale = 1.0
        new = (max(1, round(w * scale)), max(1, round(h * scale)))
        if new != (w, h):
            image = image.resize(new, Image.Resampling.BICUBIC)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)

    def frames(self, video_root: str | os.PathLike[str], video_id: str, start: float,
               end: float) -> FrameResult:
        """The question's frames, or a :class:`FrameResult` with ``error`` set; never raises for a
        bad video (an :class:`ActbenchError` only when PyAV / Pillow are not installed)."""
        self._require()
        try:
            times = sample_times(start, end, self.n_frames)
        except ValueError as exc:
            return FrameResult((), error=f"{video_id}: bad segment: {exc}")
        rel = None
        try:
            root = Path(video_root).expanduser().resolve()
            if not root.is_dir():
                raise _Unavailable(f"video root {video_root} is not a folder")
            found, rel = locate(root, video_id, self.layout)
            key = self.cache_key(rel, found, times) if self.cache is not None else None
            if key is not None and (hit := self.cache.get(key, n_frames=self.n_frames)) is not None:
                return FrameResult(times, hit, source=rel, from_cache=True)
            if self.layout == "rgb_frames":
                fps = float(self.fps or DEFAULT_RGB_FPS)
                pixels = _read_jpegs(found, rel, times, fps, root, self._finish)
            else:
                decode = _decode_decord if self.decoder == "decord" else _decode_pyav
                pixels = decode(found, rel, times, float(start), float(end), self._finish)
            array = np.stack(pixels)
        except _Unavailable as exc:
            return FrameResult(times, error=str(exc), source=rel)
        except Exception as exc:  # a corrupt file surfaces as many error types; none may stop the run
            reason = " ".join(str(exc).split()) or type(exc).__name__
            return FrameResult(times, error=f"{rel or video_id}: cannot read frames: "
                                            f"{type(exc).__name__}: {reason}", source=rel)
        if key is not None:
            self.cache.put(key, array)
        return FrameResult(times, array, source=rel)

    def frames_for(self, video_root: str | os.PathLike[str], question: Any) -> FrameResult:
        """:meth:`frames` for a :class:`~actbench.records.Question` (its video id, start and end)."""
        return self.frames(video_root, question.video_id, question.start, question.end)

    def _require(self) -> None:
        needed = ["PIL"] + (["av"] if self.decoder == "pyav" else [])
        missing = [name for name in needed if not _importable(name)]
        if missing:
            raise ActbenchError(f"video frames need {' and '.join(missing)}: "
                                "pip install 'actbench[video]' (PyAV and Pillow)")
