"""Latency / FPS statistics on hand-worked arrays, and the timer driven by a fake clock (nothing timed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actbench.errors import ActbenchError
from actbench.evaluators.latency import (
    ModelTimer, cuda_synchronize_if_used, frames_per_second, latency_summary, percentile, training_throughput)


def test_percentiles_hand_worked_linear_interpolation():
    # sorted: 1, 2, 4, 10, 20 (n = 5). p50: rank 0.5 * 4 = 2 -> 4. p95: rank 3.8 -> 10 + 0.8 * (20 - 10) = 18.
    # p25: rank 1 -> 2. p90: rank 3.6 -> 10 + 0.6 * 10 = 16.
    latencies = [10, 1, 20, 2, 4]
    assert percentile(latencies, 50) == 4
    assert percentile(latencies, 95) == pytest.approx(18)
    assert percentile(latencies, 25) == 2
    assert percentile(latencies, 90) == pytest.approx(16)
    assert percentile([7.5], 95) == 7.5


def test_summary_hand_worked():
    # 4 calls of 0.1, 0.1, 0.2, 0.6 s predicting 1, 1, 2, 4 frames: 8 frames in 1.0 s -> 8 fps.
    # p50: rank 1.5 of [0.1, 0.1, 0.2, 0.6] -> 0.15; p95: rank 2.85 -> 0.2 + 0.85 * 0.4 = 0.54; mean 0.25.
    s = latency_summary(np.array([0.1, 0.2, 0.6, 0.1]), predictions=[1, 2, 4, 1])
    assert s["calls"] == 4 and s["predictions"] == 8
    assert s["seconds"] == pytest.approx(1.0) and s["fps"] == pytest.approx(8.0)
    assert s["p50_s"] == pytest.approx(0.15) and s["p95_s"] == pytest.approx(0.54)
    assert s["mean_s"] == pytest.approx(0.25) and s["max_s"] == 0.6
    one_each = latency_summary([0.5, 0.25, 0.25])  # one frame per call by default: 3 frames / 1 s
    assert one_each["fps"] == pytest.approx(3.0) and one_each["predictions"] == 3


def test_summary_is_order_invariant_and_matches_a_naive_loop():
    rng = np.random.default_rng(3)
    latencies = rng.gamma(2.0, 0.01, size=101)
    counts = rng.integers(1, 4, size=101)
    s = latency_summary(latencies, predictions=counts)
    order = rng.permutation(101)
    assert latency_summary(latencies[order], predictions=counts[order]) == pytest.approx(s)
    ranked = sorted(latencies.tolist())  # 101 values: p50 is rank 50, p95 is rank 95 exactly
    assert s["p50_s"] == ranked[50] and s["p95_s"] == ranked[95]
    assert s["fps"] == pytest.approx(sum(counts.tolist()) / math.fsum(latencies.tolist()))


def test_fps_and_training_throughput():
    assert frames_per_second(120, 4.0) == 30.0
    assert training_throughput(samples=256, tokens=51_200, seconds=8.0) == {
        "samples_per_s": 32.0, "tokens_per_s": 6400.0, "seconds": 8.0}


@pytest.mark.parametrize(("call", "message"), [
    (lambda: latency_summary([]),
     "latency_summary(): field 'shape': expected a non-empty 1-D array of seconds, found (0,)"),
    (lambda: latency_summary([0.1, -0.2]),
     "latency_summary(): field 'values': expected finite seconds >= 0, found -0.2"),
    (lambda: latency_summary([0.1, float("nan")]),
     "latency_summary(): field 'values': expected finite seconds >= 0, found nan"),
    (lambda: latency_summary([0.1, 0.2], predictions=[1]),
     "latency_summary(): field 'predictions': expected 2 counts >= 0, one per latency, found (1,)"),
    (lambda: frames_per_second(10, 0.0),
     "frames_per_second(): field 'seconds': expected a positive model time, found 0.0"),
    (lambda: training_throughput(samples=1, tokens=1, seconds=0),
     "training_throughput(): field 'seconds': expected a positive training time, found 0"),
])
def test_bad_input(call, message):
    with pytest.raises(ActbenchError) as error:
        call()
    assert str(error.value) == message


class FakeClock:
    """Each read returns the next scripted time; ``events`` records reads and synchronisations in order."""

    def __init__(self, times):
        self.times = iter(times)
        self.events: list[str] = []

    def __call__(self) -> float:
        self.events.append("clock")
        return next(self.times)

    def sync(self) -> None:
        self.events.append("sync")


def test_timer_measures_only_the_block_and_syncs_before_each_clock_read():
    clock = FakeClock([10.0, 10.5, 20.0, 20.25, 30.0, 31.0])
    timer = ModelTimer(clock=clock, synchronize=clock.sync)
    with timer.measure():
        clock.events.append("model")
    # time between blocks (I/O, feature loading) is never read: the clock jumps from 10.5 to 20.0
    with timer.measure(predictions=3):
        clock.events.append("model")
    assert clock.events == ["sync", "clock", "model", "sync", "clock"] * 2
    assert timer.latencies == [0.5, 0.25] and timer.calls == 2 and timer.predictions == 4
    assert timer.summary()["fps"] == pytest.approx(4 / 0.75)
    with timer.measure(predictions=0, samples=8, tokens=1000):
        pass
    assert timer.throughput() == {"samples_per_s": 8 / 1.75, "tokens_per_s": 1000 / 1.75, "seconds": 1.75}


def test_timer_drops_failed_calls_and_refuses_nesting():
    clock = FakeClock([0.0, 1.0, 2.0])
    timer = ModelTimer(clock=clock, synchronize=clock.sync)
    with pytest.raises(ValueError, match="boom"), timer.measure():
        raise ValueError("boom")
    assert timer.calls == 0
    with pytest.raises(RuntimeError, match="not re-entrant"), timer.measure(), timer.measure():
        pass
    assert timer.calls == 0


def test_default_timer_with_the_real_clock_records_a_positive_time():
    timer = ModelTimer()
    with timer.measure():
        sum(range(100))
    assert timer.calls == 1 and timer.latencies[0] >= 0
    cuda_synchronize_if_used()  # CPU machine: torch has no CUDA context, so this must be a no-op
