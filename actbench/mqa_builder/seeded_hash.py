"""Counter-based random numbers: a uniform draw for each (seed, row, column) without a stream.

The builder needs "a seeded random narration of class c for clip i" to be the same whatever else is
computed (a wider candidate window, a different --limit, rows processed in any order). A hash of the
coordinates gives that; a sequential generator would not. SplitMix64's finaliser mixes well and is
vectorised here over numpy uint64 arrays.

>>> u = uniform01(0, np.array([0, 0, 1]), np.array([5, 5, 5]))
>>> bool(u[0] == u[1]), bool(u[0] != u[2]), bool(((0 <= u) & (u < 1)).all())
(True, True, True)
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def hash64(seed: int, *keys: np.ndarray) -> np.ndarray:
    """A 64-bit hash of ``seed`` and integer key arrays (broadcast together)."""
    with np.errstate(over="ignore"):
        h = _mix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) + _GOLDEN)
        for key in keys:
            h = _mix(h ^ (np.asarray(key).astype(np.uint64) + _GOLDEN))
    return h


def uniform01(seed: int, *keys: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1) from the top 53 bits of :func:`hash64`."""
    return (hash64(seed, *keys) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
