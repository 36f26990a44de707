"""Where the answer goes: each letter holds the answer equally often, in a seeded order.

The answer positions are ``0, 1, ..., K-1`` repeated and shuffled, so over N questions every letter is
the answer ``floor(N/K)`` or ``ceil(N/K)`` times; the distractors fill the other slots in a seeded
random order (not in the source's rank order, which a model could learn).

>>> answer, slots = arrange(7, 3, seed=0)
>>> sorted(np.bincount(answer, minlength=3).tolist())
[2, 2, 3]
>>> bool(all(sorted([a, *s]) == [0, 1, 2] for a, s in zip(answer, slots)))
True
"""

from __future__ import annotations

import zlib

import numpy as np

_STREAM = 0x4C455454  # keeps this draw independent of the other seeded steps of a build


def arrange(n: int, k: int, *, seed: int, salt: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(answer position per question, slot of each distractor in rank order), both seeded.

    ``salt`` (the source's name) gives benchmarks of the same seed different placements.
    """
    rng = np.random.default_rng([seed, _STREAM, zlib.crc32(salt.encode("utf-8"))])
    answer = rng.permutation(np.arange(n) % k)
    others = np.array([[p for p in range(k) if p != a] for a in range(k)], dtype=np.int64)
    shuffle = np.argsort(rng.random((n, k - 1)), axis=1)
    slots = np.take_along_axis(others[answer], shuffle, axis=1)
    return answer, slots
