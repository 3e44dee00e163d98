"""The public entry points: ``compute`` a cell, ``prepare`` it for timing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from . import backends, conditions, reference
from .cells import Cell
from .support import require_supported
from .verify import Verdict, VerificationError, check
from .workloads import inputs

# Calls after the first, before timing: the first call traces and compiles, the next
# ones reach steady state and show whether the callable retraces.
WARMUP_CALLS = 2


@dataclass
class PreparedCell:
    """A cell verified against the reference and warmed up; ``call()`` runs one unit."""

    cell: Cell
    call: Callable[[], object]
    verdict: Verdict
    first_call_seconds: float
    conditions: dict = field(default_factory=dict)

    def __call__(self):
        return self.call()


def _build(cell: Cell):
    require_supported(cell)
    backend = backends.load(cell.backend)
    arrays = inputs(cell.workload, cell.model, cell.size, cell.seed)
    return backend, arrays


def _finished(program):
    def call():
        out = program.run()
        program.wait(out)
        return out

    return call


def compute(workload, backend, mode, execution, model, size, device="cpu", dtype="float32", seed=0):
    """Run one cell once and return its outputs as NumPy arrays (``"hvp"``, or
    ``"loss"`` and ``"grad"``).  Raises NotImplementedError with the reason for a cell
    that cannot run here."""
    cell = Cell(workload, backend, mode, execution, model, size, device, dtype, seed)
    module, arrays = _build(cell)
    program = module.build(cell, arrays)
    return program.to_numpy(_finished(program)())


def prepare(workload, backend, mode, execution, model, size, device="cpu", dtype="float32", seed=0):
    """Build, verify and warm up one cell; return the zero-argument callable that asv times.

    Raises NotImplementedError (with the reason) for a cell that cannot run here, and
    VerificationError when the output does not match the float64 reference, in which
    case the cell is not timed.
    """
    cell = Cell(workload, backend, mode, execution, model, size, device, dtype, seed)
    module, arrays = _build(cell)
    started = time.perf_counter()
    program = module.build(cell, arrays)
    call = _finished(program)
    out = call()
    first_call_seconds = time.perf_counter() - started

    verdict = check(program.to_numpy(out), reference.expected(workload, model, size, arrays), dtype)
    if not verdict.passed:
        raise VerificationError(
            f"{cell.label}: relative error {verdict.error:.3g} exceeds the {dtype} tolerance "
            f"{verdict.tolerance:g} ({verdict.errors})"
        )

    traces_before = program.traces() if program.traces else None
    for _ in range(WARMUP_CALLS):
        call()
    if program.traces and program.traces() != traces_before:
        raise RuntimeError(f"{cell.label}: the compiled callable retraced during warm-up")

    recorded = {
        **conditions.record(),
        **module.versions(),
        "device_name": program.device_name,
        "dtype": dtype,
    }
    return PreparedCell(cell, call, verdict, first_call_seconds, recorded)
