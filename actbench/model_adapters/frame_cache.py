"""A disk cache of sampled clip frames, so a second model or a resumed run does not decode again.

An entry is one clip's ``(N, H, W, 3)`` uint8 array stored as ``<dir>/<h[:2]>/<h>.npy``, where ``h``
is the sha256 of the key: the video path relative to the video root, the sample times rounded to
milliseconds, N, the output size and whatever else decides the pixels (see
:meth:`FrameSampler.cache_key <actbench.model_adapters.video.FrameSampler>`). Entries are written
atomically (temp file in the same folder, then ``os.replace``), so concurrent runs sharing the
folder and runs killed mid-write never see half a file; an entry that does not load as the expected
array counts as a miss and is rewritten. Errors are never cached.

The folder is ``$ACTBENCH_FRAME_CACHE``, else ``$XDG_CACHE_HOME/actbench/frames``, else
``~/.cache/actbench/frames``, unless given.

>>> import tempfile, numpy as np
>>> cache = FrameCache(tempfile.mkdtemp())
>>> key = {"path": "P01/videos/P01_01.MP4", "times_ms": [500, 1500], "n": 2, "size": 8}
>>> cache.get(key, n_frames=2) is None
True
>>> cache.put(key, np.zeros((2, 8, 8, 3), np.uint8))
>>> cache.get(key, n_frames=2).shape
(2, 8, 8, 3)
>>> cache.stats()
{'hits': 1, 'misses': 1, 'writes': 1}
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from actbench.datasets.location import user_cache_dir

ENV_VAR = "ACTBENCH_FRAME_CACHE"


def default_frame_cache_dir() -> Path:
    """``$ACTBENCH_FRAME_CACHE``, else ``$XDG_CACHE_HOME/actbench/frames``, else ``~/.cache/...``."""
    return user_cache_dir("frames", ENV_VAR)


def key_digest(key: dict[str, Any]) -> str:
    """sha256 of the key's canonical JSON (sorted keys, no whitespace): the entry's file name."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class FrameCache:
    """Clip frames on disk, keyed by a JSON-able dict; counts hits, misses and writes.

    Thread-safe: the counters are guarded by a lock, and files are published by an atomic rename.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        self.directory = Path(directory) if directory is not None else default_frame_cache_dir()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def __repr__(self) -> str:
        return f"FrameCache({str(self.directory)!r})"

    def path_for(self, key: dict[str, Any]) -> Path:
        digest = key_digest(key)
        return self.directory / digest[:2] / f"{digest}.npy"

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def get(self, key: dict[str, Any], *, n_frames: int) -> np.ndarray | None:
        """The cached array, or None (a miss) when absent or not a valid ``(n_frames, H, W, 3)`` uint8."""
        path = self.path_for(key)
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            array = None
        if (array is None or array.dtype != np.uint8 or array.ndim != 4 or array.shape[0] != n_frames
                or array.shape[3] != 3):
            self._count("misses")
            return None
        self._count("hits")
        return array

    def put(self, key: dict[str, Any], frames: np.ndarray) -> None:
        """Store ``frames`` atomically. A failure to write (full disk, read-only folder) is not an error
        of the question: the frames are still returned to the caller, only not cached."""
        path = self.path_for(key)
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(frames), allow_pickle=False)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(buffer.getbuffer())
            # No fsync: a cache entry lost or truncated by a crash only fails validation in get().
            os.replace(tmp, path)
            tmp = None
        except OSError:
            return
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        self._count("writes")

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "writes": self.writes}
