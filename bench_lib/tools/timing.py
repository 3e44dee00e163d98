"""In-process timing for the measurement commands (``overhead``, ``idiom``): never used
inside asv's timed benchmarks, which asv times itself."""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass


def calls_per_batch(call, seconds: float) -> int:
    """How many back-to-back calls fill about ``seconds`` (at least one), after calling
    ``call`` for 0.1 s to reach steady state."""
    started, calls = time.perf_counter(), 0
    while time.perf_counter() - started < 0.1 or calls < 2:
        call()
        calls += 1
    return max(1, int(seconds / ((time.perf_counter() - started) / calls)))


def batch_mean(call, calls: int) -> float:
    """Mean seconds per call over ``calls`` back-to-back calls, the garbage collector off
    as asv (through timeit) has it."""
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(calls):
            call()
        return (time.perf_counter() - started) / calls
    finally:
        gc.enable()


@dataclass(frozen=True)
class Comparison:
    """A against B, interleaved in one process: per round one batch of each, in
    alternating order; the ratio is the median of the per-round ratios A/B."""

    a_seconds: float  # median per-call time of A over the rounds
    b_seconds: float
    ratio: float
    ratio_min: float
    ratio_max: float
    rounds: int


def interleaved(a, b, rounds: int = 7, seconds: float = 0.15) -> Comparison:
    n_a, n_b = calls_per_batch(a, seconds), calls_per_batch(b, seconds)
    times_a, times_b = [], []
    for index in range(rounds):
        order = ((a, n_a, times_a), (b, n_b, times_b))
        for call, calls, times in order if index % 2 == 0 else reversed(order):
            times.append(batch_mean(call, calls))
    ratios = [x / y for x, y in zip(times_a, times_b, strict=True)]
    return Comparison(
        statistics.median(times_a), statistics.median(times_b),
        statistics.median(ratios), min(ratios), max(ratios), rounds,
    )
