"""The public entry points: ``compute`` a cell, ``prepare`` it for timing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from bench_lib import backends
from bench_lib.core import conditions, gpu
from bench_lib.verification import memory, verify
from bench_lib.core.cells import Cell
from bench_lib.core.outcome import Outcome
from bench_lib.backends import support
from bench_lib.backends.support import CellUnsupported, require_supported
from bench_lib.verification.verify import Verdict, VerificationError
from bench_lib.core.workloads import inputs

# Calls after the first, before timing: the first call traces and compiles, the next
# ones reach steady state and show whether the callable retraces.  A sub-millisecond
# cell in a fresh process reaches steady state only after several calls (see
# docs/methodology.md), so up to WARMUP_CALLS while WARMUP_SECONDS last, and at least
# one: a call of a second or more is its own warm-up (a Hessian built by a loop of
# HVPs in eager execution, say).
WARMUP_CALLS, WARMUP_SECONDS = 10, 1.0
# A call on fresh input values slower than this many warm calls, plus the slack, is
# taken for a recompilation (TensorFlow's XLA bridge recompiles for every new value of
# an input it has folded into a constant).
RECOMPILE_FACTOR, RECOMPILE_SLACK_SECONDS = 4.0, 0.05
# Fresh input draws tried before slow first calls count as a recompilation: a busy
# machine can stall one call, not every one.
FRESH_SEEDS = 3


@dataclass
class PreparedCell:
    """A cell verified against the reference and warmed up; ``call()`` runs one unit."""

    cell: Cell
    call: Callable[[], object]
    to_numpy: Callable[[object], dict]  # the call's outputs, flat, as NumPy
    verdict: Verdict
    first_call_seconds: float
    warm_call_seconds: float
    conditions: dict = field(default_factory=dict)
    peak_memory_bytes: int | None = None
    device_memory_bytes: int | None = None
    # a labelled approximation's distance to the exact outputs (see verify.py)
    approximation_errors: dict = field(default_factory=dict)

    def __call__(self):
        return self.call()


def activate(cell: Cell) -> None:
    """Give the cell's framework the cell's settings (its matmul precision): before the
    framework is first asked for anything, and again before a prepared cell is timed
    (a process may have prepared another cell since)."""
    conditions.use_precision(cell.precision)
    if backends.not_installed_reason(cell.backend) is None:
        backends.load(cell.backend).framework()


def _build(cell: Cell):
    # The table and a missing framework first (a skip imports nothing), then the cell's
    # settings, then the machine: its framework lists devices only after it has them.
    reason = support.static_reason(cell) or backends.not_installed_reason(cell.backend)
    if reason:
        raise CellUnsupported(reason)
    activate(cell)
    require_supported(cell)
    return backends.load(cell.backend), inputs(cell.workload, cell.model, cell.size, cell.seed)


def _finished(program, args=None):
    def call():
        out = program.fn(*(program.args if args is None else args))
        program.wait(out)
        return out

    return call


def compute(
    workload, backend, mode, execution, model, size, device="cpu", dtype="float32", seed=0, keywords=(),
    precision="strict", **options,
):
    """Run one cell once and return its outputs as flat NumPy arrays (``"hvp"``, or
    ``"loss"`` and ``"grad"``, ...; a mode that cannot give an output omits it).  The
    workload's keyword parameters come as keywords (``K=10, optimizer="sgd"``) or as
    ``keywords`` pairs; ``precision`` is the float32 matmul precision (``strict`` or
    ``tf32``).  Raises NotImplementedError with the reason for a cell that
    cannot run here."""
    cell = Cell(workload, backend, mode, execution, model, size, device, dtype, seed, {**dict(keywords), **options}, precision)
    module, arrays = _build(cell)
    program = module.build(cell, arrays)
    return program.to_numpy(_finished(program)())


def _require_verified(cell: Cell, verdict: Verdict, what: str = "") -> None:
    if not verdict.passed:
        raise VerificationError(
            f"{cell.label}{what}: error exceeds the {cell.dtype} tolerance of the error model: {verdict.describe()}"
        )


def _timed(call) -> tuple[float, object]:
    """Seconds one call took, and what it returned."""
    started = time.perf_counter()
    out = call()
    return time.perf_counter() - started, out


def warm_up(call, measure_memory: bool = False) -> tuple[float, int | None]:
    """Call until steady state; return the fastest call's seconds and, when asked, the
    peak memory increase of the first of these calls (so that a slow cell is not called
    once more just for it)."""
    started, peak = time.perf_counter(), None
    if measure_memory:
        begun = time.perf_counter()
        peak, _ = memory.peak_increase(call)
        times = [time.perf_counter() - begun]
    else:
        times = [_timed(call)[0]]
    while len(times) < WARMUP_CALLS and time.perf_counter() - started < WARMUP_SECONDS:
        times.append(_timed(call)[0])
    return min(times), peak


def check_fresh_inputs(cell: Cell, program, arrays, warm_seconds: float) -> None:
    """A compiled callable must compute from its inputs at call time: called on fresh
    input values it must match the reference for those values, without retracing and
    without the time of a recompilation.  A compiler that folded the inputs into
    constants returns the old answer; one that recompiles per value is slow every time.
    The cell's own inputs are put back afterwards (a program may hold state, such as
    TensorFlow variables)."""
    try:
        _check_fresh_inputs(cell, program, warm_seconds)
    finally:
        program.place(arrays)


def _check_fresh_inputs(cell: Cell, program, warm_seconds: float) -> None:
    limit = RECOMPILE_FACTOR * warm_seconds + RECOMPILE_SLACK_SECONDS
    for seed in range(cell.seed + 1, cell.seed + 1 + FRESH_SEEDS):
        args = program.place(inputs(cell.workload, cell.model, cell.size, seed))
        traces_before = program.traces() if program.traces else None
        seconds, out = _timed(_finished(program, args))
        verdict = verify.verdict_for(cell, program.to_numpy(out), seed)
        _require_verified(cell, verdict, f" on fresh inputs (seed {seed})")
        if program.traces and program.traces() != traces_before:
            raise RuntimeError(f"{cell.label}: the compiled callable retraced on fresh input values")
        if seconds <= limit:
            return
    raise RuntimeError(
        f"{cell.label}: calls on fresh input values took {seconds:.3g} s against {warm_seconds:.3g} s warm, "
        f"{FRESH_SEEDS} times: the compiled callable recompiles for new values"
    )


def prepare(
    workload, backend, mode, execution, model, size, device="cpu", dtype="float32", seed=0, keywords=(),
    precision="strict", **options,
):
    """Build, verify and warm up one cell; return the zero-argument callable that asv times.

    Keyword parameters as for ``compute``.  Raises NotImplementedError (with the
    reason) for a cell that cannot run here, and VerificationError when the output does
    not match the float64 reference, in which case the cell is not timed.
    """
    cell = Cell(workload, backend, mode, execution, model, size, device, dtype, seed, {**dict(keywords), **options}, precision)
    module, arrays = _build(cell)
    started = time.perf_counter()
    program = module.build(cell, arrays)
    call = _finished(program)
    out = call()
    first_call_seconds = time.perf_counter() - started

    outputs = program.to_numpy(out)
    verdict = verify.verdict_for(cell, outputs)
    _require_verified(cell, verdict)
    approximation_errors = verify.approximation_errors(cell, outputs)

    traces_before = program.traces() if program.traces else None
    # Host memory is the work's memory on the CPU only (device memory: GPU cells), and
    # only where no allocator of the framework's own keeps it out of the resident set.
    host_memory_hidden = module.host_memory_hidden(cell)
    warm_seconds, peak_memory = warm_up(call, measure_memory=device == "cpu" and host_memory_hidden is None)
    if program.traces and program.traces() != traces_before:
        raise RuntimeError(f"{cell.label}: the compiled callable retraced during warm-up")
    if execution != "eager":
        check_fresh_inputs(cell, program, arrays, warm_seconds)
    # One more warm call on a GPU (the backend's allocator keeps the peak); None elsewhere.
    device_memory = module.device_peak_memory(cell, call)

    recorded = {
        **conditions.record(),
        **module.reported_conditions(),
        **conditions.framework_versions(cell.backend),
        **(gpu.conditions(module) if device == "gpu" else {}),
        "device_name": program.device_name,
        "dtype": dtype,
        **{f"{operation}_form": form for operation, form in program.forms.items()},
        **({"host_memory_hidden": host_memory_hidden} if device == "cpu" else {}),
    }
    return PreparedCell(
        cell, call, program.to_numpy, verdict, first_call_seconds, warm_seconds, recorded, peak_memory,
        device_memory, approximation_errors,
    )


def verified_outcome(prepared: PreparedCell, prepared_in: str) -> Outcome:
    verdict = prepared.verdict
    return Outcome(
        cell=prepared.cell,
        status="verified",
        errors=verdict.errors,
        tolerances=verdict.tolerances,
        elementwise_errors=verdict.elementwise,
        margin=verdict.margin,
        first_call_seconds=prepared.first_call_seconds,
        warm_call_seconds=prepared.warm_call_seconds,
        peak_memory_bytes=prepared.peak_memory_bytes,
        device_memory_bytes=prepared.device_memory_bytes,
        approximation_errors=prepared.approximation_errors,
        conditions=prepared.conditions,
        prepared_in=prepared_in,
    )
