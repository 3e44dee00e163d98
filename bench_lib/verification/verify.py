"""Verification of a cell's output against the float64 reference, within the
tolerances of the error model (``error_model.py``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from bench_lib.verification import error_model
from bench_lib.verification import run_cache
from bench_lib.core import workloads
from bench_lib.verification.error_model import Bound, normwise_errors
from bench_lib.core.workloads import inputs


class VerificationError(AssertionError):
    """A cell's output does not match the reference: a failure, never a skip."""


def elementwise_error(actual, expected) -> float:
    """max |x - y| / max(1, |x| + |y|) over all elements: shown beside the verdict for
    reading, not judged (cancellation makes single entries noisy in float32)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.size == 0:
        return 0.0
    # in place: a dense Hessian has millions of entries, and each temporary is a copy
    difference = np.atleast_1d(np.subtract(actual, expected))  # a scalar output too
    np.abs(difference, out=difference)
    scale = np.atleast_1d(np.abs(actual))
    scale += np.abs(expected)
    np.maximum(scale, 1.0, out=scale)
    difference /= scale
    return float(difference.max())


@dataclass(frozen=True)
class Verdict:
    """Per output: the worst block's normwise relative error, that block's tolerance and
    name (the block with the largest error / tolerance), and the elementwise error."""

    errors: dict[str, float]
    tolerances: dict[str, float]
    worst_blocks: dict[str, str]
    elementwise: dict[str, float]
    margin: float  # the largest error / tolerance over all blocks: at most 1 passes

    @property
    def error(self) -> float:
        return max(self.errors.values())

    @property
    def passed(self) -> bool:
        return self.margin <= 1.0

    def describe(self) -> str:
        return ", ".join(
            f"{key} {self.errors[key]:.2e} (tolerance {self.tolerances[key]:.1e}, block {self.worst_blocks[key]})"
            for key in self.errors
        )


def check(outputs: dict[str, np.ndarray], expected: dict, bounds: dict[str, Bound], dtype: str) -> Verdict:
    """Compare every expected output; raise VerificationError naming what is wrong
    (a missing key, a shape or dtype that differs, a non-finite value)."""
    errors, tolerances, worst_blocks, elementwise, margin = {}, {}, {}, {}, 0.0
    for key, want in expected.items():
        want = want.value
        if key not in outputs:
            raise VerificationError(f"output {key!r} is missing; got {sorted(outputs)}")
        got = np.asarray(outputs[key])
        if got.shape != np.shape(want):
            raise VerificationError(f"output {key!r} has shape {got.shape}, expected {np.shape(want)}")
        if got.dtype != np.dtype(dtype):
            raise VerificationError(f"output {key!r} has dtype {got.dtype}, expected {dtype}")
        if not np.all(np.isfinite(got)):
            raise VerificationError(f"output {key!r} has non-finite values")
        bound = bounds[key]
        block_errors = normwise_errors(got, want, bound.blocks)
        ratios = block_errors / bound.tolerance
        worst = int(np.argmax(ratios))
        errors[key] = float(block_errors[worst])
        tolerances[key] = float(bound.tolerance[worst])
        worst_blocks[key] = bound.blocks.names[worst]
        elementwise[key] = elementwise_error(got, want)
        margin = max(margin, float(ratios[worst]))
    return Verdict(errors, tolerances, worst_blocks, elementwise, margin)


def _reference(spec, keywords: tuple, approximation: str | None):
    """The reference of a cell as ``(case, arrays) -> outputs``: the workload's exact
    one, or that of the approximation a mode computes, at the cell's keywords."""
    function = spec.approximations[approximation] if approximation else spec.reference
    options = dict(spec.keywords(keywords))  # defaults filled in
    return lambda case, arrays: function(case, arrays, **options)


def _approximation(cell) -> str | None:
    return cell.mode if cell.mode in cell.spec.approximations else None


def reference_outputs(workload: str, model: str, size, seed: int, keywords: tuple = (), approximation=None):
    """The float64 reference outputs of a case (at the workload's keyword parameters;
    of the approximation named, if any), computed once per process, and once per asv
    run (a dense mlp XS Hessian and its conditioning take seconds, which dozens of cells
    would otherwise pay each)."""
    return _reference_outputs(workload, model, size, seed, tuple(keywords), approximation)


@functools.lru_cache(maxsize=16)  # one key per case, however the caller spells the call
def _reference_outputs(workload: str, model: str, size, seed: int, keywords: tuple, approximation):
    spec = workloads.get(workload)

    def compute():
        reference = _reference(spec, keywords, approximation)
        return reference(spec.check_size(model, size), inputs(workload, model, size, seed))

    return run_cache.shared(f"reference-{workload}-{model}-{size}-{seed}-{keywords}-{approximation}", compute)


def conditioning(workload: str, model: str, size, seed: int, keywords: tuple = (), approximation=None):
    """The condition number of each output block of a case; it does not depend on the
    dtype, and varies little between draws of the same case."""
    return _conditioning(workload, model, size, seed, tuple(keywords), approximation)


@functools.lru_cache(maxsize=16)
def _conditioning(workload: str, model: str, size, seed: int, keywords: tuple, approximation):
    spec = workloads.get(workload)

    def compute():
        case = spec.check_size(model, size)
        arrays = inputs(workload, model, size, seed)
        expected = reference_outputs(workload, model, size, seed, keywords, approximation)
        reference = _reference(spec, keywords, approximation)
        return error_model.conditioning(spec, case, arrays, expected, seed, reference)

    return run_cache.shared(f"conditioning-{workload}-{model}-{size}-{seed}-{keywords}-{approximation}", compute)


def expected_for(cell, seed: int | None = None, exact: bool = False) -> dict:
    """The reference outputs the cell's mode gives (from the inputs of ``seed``, the
    cell's own by default): those of its approximation unless ``exact``."""
    approximation = None if exact else _approximation(cell)
    seed = cell.seed if seed is None else seed
    expected = reference_outputs(cell.workload, cell.model, cell.size, seed, cell.keywords, approximation)
    return {key: expected[key] for key in cell.spec.outputs_of(cell.mode)}


def verdict_for(cell, outputs: dict, seed: int | None = None) -> Verdict:
    """The cell's outputs (computed from the inputs of ``seed``, the cell's own by
    default) against the reference within the error model's tolerances.  The
    conditioning is always the cell's own draw's."""
    expected = expected_for(cell, seed)
    kappa = conditioning(cell.workload, cell.model, cell.size, cell.seed, cell.keywords, _approximation(cell))
    case = cell.case
    tolerances = error_model.bounds(cell.spec, case, expected, kappa, cell.dtype, cell.precision)
    return check(outputs, expected, tolerances, cell.dtype)


def approximation_errors(cell, outputs: dict) -> dict[str, float]:
    """For a mode that computes a labelled approximation: per output, the worst block's
    normwise distance to the exact reference (what the approximation costs in
    accuracy, reported, never judged).  Empty for every other mode."""
    if _approximation(cell) is None:
        return {}
    blocks = error_model.output_blocks(cell.spec, cell.case)
    return {
        key: float(normwise_errors(outputs[key], want.value, blocks[key]).max())
        for key, want in expected_for(cell, exact=True).items()
    }
