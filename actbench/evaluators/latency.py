"""Speed of the model computation alone: per-prediction latency, FPS and training throughput.

The GAD paper's FPS (Table 1) is frames predicted per second of model computation on pre-extracted
features: no video decoding, feature loading or file writing is timed. :class:`ModelTimer` times only what
runs inside ``with timer.measure(...)``; when CUDA is in use it calls ``torch.cuda.synchronize()`` before
reading the clock at both ends, since CUDA kernels run asynchronously and an unsynchronised clock would time
the kernel launches, not the work. The clock is ``time.perf_counter`` (monotonic, the finest available).

Statistics are pure functions over arrays of seconds. Percentiles use numpy's default ``"linear"``
method (Hyndman & Fan type 7: the value at rank ``q/100 * (n - 1)``, interpolated between neighbours).
One measured call is one latency sample: in the paper's streaming setting a call predicts one frame, so
per-call and per-prediction latency are the same; a batched call counts once, with all its frames in FPS.

>>> s = latency_summary([0.010, 0.020, 0.030, 0.040], predictions=[1, 1, 1, 1])
>>> round(s["p50_s"], 3), round(s["p95_s"], 4), round(s["mean_s"], 3), round(s["fps"], 1)
(0.025, 0.0385, 0.025, 40.0)
>>> frames_per_second(100, 2.0), training_throughput(samples=64, tokens=8000, seconds=4.0)
(50.0, {'samples_per_s': 16.0, 'tokens_per_s': 2000.0, 'seconds': 4.0})
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from actbench.errors import ActbenchError

PERCENTILE_METHOD = "linear"


def _seconds(values: object, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ActbenchError.bad_value(name, "shape", "a non-empty 1-D array of seconds", array.shape)
    bad = ~(np.isfinite(array) & (array >= 0))
    if bad.any():
        raise ActbenchError.bad_value(name, "values", "finite seconds >= 0", float(array[bad][0]))
    return array


def percentile(latencies_s: object, q: float) -> float:
    """The ``q``-th percentile (0..100) of the latencies, numpy's ``"linear"`` interpolation."""
    return float(np.percentile(_seconds(latencies_s, "percentile()"), q, method=PERCENTILE_METHOD))


def frames_per_second(frames: int, seconds: float) -> float:
    """Frames predicted per second of model computation (``inf`` would hide a broken timer: refused)."""
    if not seconds > 0:
        raise ActbenchError.bad_value("frames_per_second()", "seconds", "a positive model time", seconds)
    return frames / seconds


def latency_summary(latencies_s: object, *, predictions: object | None = None) -> dict[str, float]:
    """p50 / p95 / mean / max of the per-call latencies and the FPS they give.

    ``predictions[i]`` is the number of frames call ``i`` predicted (default 1 each); FPS is their sum over
    the summed time.
    """
    latencies = _seconds(latencies_s, "latency_summary()")
    counts = np.ones_like(latencies) if predictions is None else np.asarray(predictions, dtype=np.float64)
    if counts.shape != latencies.shape or (counts < 0).any():
        raise ActbenchError.bad_value("latency_summary()", "predictions",
                                      f"{latencies.size} counts >= 0, one per latency", counts.shape)
    total = float(latencies.sum())
    p50, p95 = np.percentile(latencies, [50, 95], method=PERCENTILE_METHOD)
    return {"calls": int(latencies.size), "predictions": int(counts.sum()), "seconds": total,
            "p50_s": float(p50), "p95_s": float(p95), "mean_s": float(latencies.mean()),
            "max_s": float(latencies.max()), "fps": frames_per_second(float(counts.sum()), total)}


def training_throughput(*, samples: int, tokens: int, seconds: float) -> dict[str, float]:
    """Training speed: samples and tokens (inputs + targets the model ran over) per second."""
    if not seconds > 0:
        raise ActbenchError.bad_value("training_throughput()", "seconds", "a positive training time", seconds)
    return {"samples_per_s": samples / seconds, "tokens_per_s": tokens / seconds, "seconds": seconds}


latency_summary.higher_is_better = False  # type: ignore[attr-defined]  # for the latencies; fps is the inverse
frames_per_second.higher_is_better = True  # type: ignore[attr-defined]
training_throughput.higher_is_better = True  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------- timer

def cuda_synchronize_if_used() -> None:
    """``torch.cuda.synchronize()`` when torch is loaded and has started CUDA; otherwise nothing.

    Torch is not imported here: a process that never imported it has no CUDA work to wait for, and the
    core must not pull torch in.
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


@dataclass
class ModelTimer:
    """Accumulates timed model calls.

    >>> timer = ModelTimer()
    >>> with timer.measure(predictions=4):
    ...     _ = sum(range(1000))
    >>> timer.calls, timer.predictions, timer.seconds > 0
    (1, 4, True)

    ``clock`` and ``synchronize`` are injectable so that tests drive them without timing anything real.
    """

    clock: Callable[[], float] = time.perf_counter
    synchronize: Callable[[], None] = cuda_synchronize_if_used
    latencies: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    samples: int = 0
    tokens: int = 0
    _running: bool = field(default=False, repr=False)

    @contextmanager
    def measure(self, *, predictions: int = 1, samples: int = 0, tokens: int = 0) -> Iterator[None]:
        """Time the block; it predicted ``predictions`` frames (training: ``samples`` and ``tokens``).

        A block that raises is not recorded (a failed call has no meaningful time).
        """
        if self._running:
            raise RuntimeError("ModelTimer.measure() is not re-entrant: nested blocks would be timed twice")
        self._running = True
        try:
            self.synchronize()  # earlier queued GPU work must not be billed to this call
            start = self.clock()
            yield
            self.synchronize()
            elapsed = self.clock() - start
        finally:
            self._running = False
        self.latencies.append(elapsed)
        self.counts.append(predictions)
        self.samples += samples
        self.tokens += tokens

    @property
    def calls(self) -> int:
        return len(self.latencies)

    @property
    def predictions(self) -> int:
        return sum(self.counts)

    @property
    def seconds(self) -> float:
        return float(sum(self.latencies))

    def summary(self) -> dict[str, float]:
        """:func:`latency_summary` of the recorded calls."""
        return latency_summary(self.latencies, predictions=self.counts)

    def throughput(self) -> dict[str, float]:
        """:func:`training_throughput` of the recorded training steps."""
        return training_throughput(samples=self.samples, tokens=self.tokens, seconds=self.seconds)
