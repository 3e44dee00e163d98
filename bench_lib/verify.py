"""Verification of a cell's output against the float64 reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Tolerance on the relative error below, per dtype.
TOLERANCE = {"float32": 1e-4, "float64": 1e-8}


class VerificationError(AssertionError):
    """A cell's output does not match the reference: a failure, never a skip."""


def relative_error(actual, expected) -> float:
    """max |x - y| / max(1, |x| + |y|) over all elements: relative for large entries,
    absolute for entries below one, so that near-zero entries do not inflate it."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.size == 0:
        return 0.0
    scale = np.maximum(1.0, np.abs(actual) + np.abs(expected))
    return float(np.max(np.abs(actual - expected) / scale))


@dataclass(frozen=True)
class Verdict:
    errors: dict[str, float]
    tolerance: float

    @property
    def error(self) -> float:
        return max(self.errors.values())

    @property
    def passed(self) -> bool:
        return self.error <= self.tolerance


def check(outputs: dict[str, np.ndarray], expected: dict[str, np.ndarray], dtype: str) -> Verdict:
    """Compare every expected output; raise VerificationError naming what is wrong
    (a missing key, a shape or dtype that differs, a non-finite value)."""
    errors = {}
    for key, want in expected.items():
        if key not in outputs:
            raise VerificationError(f"output {key!r} is missing; got {sorted(outputs)}")
        got = np.asarray(outputs[key])
        if got.shape != np.shape(want):
            raise VerificationError(f"output {key!r} has shape {got.shape}, expected {np.shape(want)}")
        if got.dtype != np.dtype(dtype):
            raise VerificationError(f"output {key!r} has dtype {got.dtype}, expected {dtype}")
        if not np.all(np.isfinite(got)):
            raise VerificationError(f"output {key!r} has non-finite values")
        errors[key] = relative_error(got, want)
    return Verdict(errors=errors, tolerance=TOLERANCE[dtype])
