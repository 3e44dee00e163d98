"""Base classes of the asv suites in ``benchmarks/``.

A suite is declared by its workload and model; the parameters follow from the
workload registry and never depend on what is installed.  Cells that cannot run here
raise ``NotImplementedError`` in ``setup`` (asv's skip) with the reason from the support
table.

Each cell has two asv classes: ``TimeSuite`` prepares the cell in ``setup`` (build,
verify against the float64 reference, warm up) and times the prepared callable;
``CheckSuite`` reports the verification error and the first-call time of the same
cell, reading them from the timing process's record when one exists (see records.py),
so that a second process does not import a framework and compile again.  asv runs a
suite's benchmarks in the order of their names, so ``<Suite>.time_*`` comes before
``<Suite>Checks.track_*``; the end-to-end test checks that each cell is prepared once.

asv re-runs ``setup`` between samples; preparation is memoised per process, so that
costs a dictionary lookup, not a rebuild.

A plain ``asv run`` runs every cell of the grid (mlp L, float64, the GPU cells' skips):
hours.  ``BENCH_PRESET=<preset> asv run ...`` runs only the preset's cells; every other
is a skip that says so (``PRESET_ENV``).
"""

from __future__ import annotations

import functools
import os
import sys

from bench_lib.backends.support import CellUnsupported
from bench_lib.core import interference, presets, provenance
from bench_lib.core.cells import Cell
from bench_lib.core.outcome import Outcome
from bench_lib.suite import grid, records
from bench_lib.verification.prepare import PreparedCell, activate, prepare, verified_outcome

# The asv `version` of every suite: bump it only when a change makes old results of
# the same name incomparable; asv then starts a new history.
SUITE_VERSION = "1"

_prepared: dict[Cell, PreparedCell] = {}
# asv takes `-a timeout=N` only for benchmarks that set no timeout of their own, and
# these do: `bench --timeout N` (or `-a timeout=N` after `--`) sets this instead, read
# when asv imports the suites.
TIMEOUT_ENV = "BENCH_TIMEOUT"
PRESET_ENV = "BENCH_PRESET"


@functools.lru_cache(maxsize=1)
def _preset_cells(name: str) -> frozenset:
    return frozenset(presets.get(name).cells())  # an unknown name: a ValueError naming the presets


if os.environ.get(PRESET_ENV, "").strip():  # an unknown preset stops asv's discovery, naming the presets
    presets.get(os.environ[PRESET_ENV].strip())


_meters: dict[Cell, interference.Meter] = {}  # per cell, over all its timing windows in this process


def outside_the_preset(cell: Cell) -> str | None:
    """Why ``cell`` is not run, when $BENCH_PRESET names a preset without it."""
    name = os.environ.get(PRESET_ENV, "").strip()
    if name and cell not in _preset_cells(name):
        return f"not in preset {name!r} ({PRESET_ENV})"
    return None


def timeout_or(default: float) -> float:
    """The suite's timeout: $BENCH_TIMEOUT seconds where set, else ``default``."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    return float(raw) if raw else default


def _record(outcome: Outcome) -> None:
    """Keep the outcome for the run; a record that cannot be written is reported, and
    never changes what happened to the cell."""
    try:
        records.save(outcome)
    except OSError as error:
        print(f"warning: could not record the outcome of {outcome.cell.label}: {error}", file=sys.stderr)


def prepare_and_record(cell: Cell, prepared_in: str) -> PreparedCell:
    """Prepare the cell once per process and record the outcome for this run.

    A skip by the support table raises before any framework is imported."""
    if cell in _prepared:
        return _prepared[cell]
    if records.started_without_outcome(cell):
        raise RuntimeError(
            f"{cell.label}: an earlier process of this run began preparing it and ended without an outcome "
            "(it crashed or timed out; see the cell's timing benchmark): not prepared again"
        )
    records.mark_started(cell)
    try:
        prepared = prepare(**cell.as_dict())
    except NotImplementedError as skip:
        _record(Outcome(cell, "skipped", reason=str(skip), prepared_in=prepared_in))
        raise
    except Exception as failure:  # a MemoryError, or a framework's allocation failure, is oom
        _record(Outcome.of_failure(cell, failure, prepared_in))
        raise
    _record(verified_outcome(prepared, prepared_in))
    _prepared[cell] = prepared
    return prepared


class CellSuite:
    workload: str
    model: str
    # The workload's modes this suite runs (None: all).  Suites of one workload that
    # differ in their timing settings split its modes between them.
    modes: tuple | None = None
    rounds = 1  # every round is another process paying the framework import again
    version = provenance.suite_version(SUITE_VERSION)  # names another checkout's bench_lib, if that runs

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "workload" in cls.__dict__:
            cls.param_names, cls.params = grid.suite_params(cls.workload, cls.model, cls.modes)

    def _cell(self, params) -> Cell:
        cell = grid.cell_of(self.workload, self.model, self.param_names, params)
        reason = outside_the_preset(cell)
        if reason:
            raise CellUnsupported(reason)
        return cell


class TimeSuite(CellSuite):
    """Times one unit of a prepared cell.  Subclasses add ``time_<workload>``, calling
    ``self.prepared()``; suites of calls that take seconds sample less
    (``LongCallTimeSuite``, ``SlowTimeSuite``)."""

    # Setup already compiled and warmed the cell.  asv times one call per sample (the
    # suite has a setup hook), so the sample count is the measuring window: a fixed
    # count is a window of milliseconds for a sub-millisecond cell, which one burst of
    # another process can fill.  So: 0.5 s more warm-up, then at least 5 and at most
    # 1000 samples, stopping after about 2 s (see docs/methodology.md).
    warmup_time = 0.5
    repeat = (5, 1000, 2.0)
    # Covers a framework import, the slowest compile the default preset runs and timing.
    timeout = timeout_or(300)

    def setup(self, *params):
        cell = self._cell(params)
        self.prepared = prepare_and_record(cell, "time")
        activate(cell)  # this process may have prepared a cell of another precision since
        # asv times between setup and teardown: what the rest of the machine does meanwhile
        self.cell, self.meter = cell, _meters.setdefault(cell, interference.Meter())
        self.meter.start()

    def teardown(self, *params):
        meter = getattr(self, "meter", None)
        if meter is not None:
            meter.stop()
            records.save_interference(self.cell, meter.measured())


class LongCallTimeSuite(TimeSuite):
    """For cells whose one call takes tenths of a second to seconds at their main size
    (dense Hessians of vectorised strategies), and less at small ones: setup has warmed
    the cell up, so no more asv warm-up; at least 3 samples, up to 2 s of them."""

    warmup_time = 0.0
    repeat = (3, 1000, 2.0)


class SlowTimeSuite(TimeSuite):
    """For cells whose one call takes from tens of milliseconds to minutes (a Hessian
    built by a Python loop of n HVPs): no asv warm-up (setup did it), one call per
    sample, 1 to 5 samples within about 4 s.  The timeout covers the slowest such call
    of the cpu preset (TensorFlow's eager loop of 2,442 HVPs at mlp XS, about 2
    minutes) three times: its first call, its warm-up call and a sample."""

    warmup_time = 0.0
    number = 1
    repeat = (1, 5, 4.0)
    timeout = timeout_or(900)


class OutcomeSuite(CellSuite):
    """Track metrics of a cell's outcome: the timing process's record when one exists,
    else the cell is prepared here."""

    timeout = timeout_or(300)

    def setup(self, *params):
        cell = self._cell(params)
        outcome = records.load(cell) or verified_outcome(prepare_and_record(cell, "check"), "check")
        if outcome.status == "skipped":
            raise CellUnsupported(outcome.reason)
        if outcome.status != "verified":
            raise RuntimeError(f"{cell.label} failed in preparation: {outcome.message}")
        self.outcome = outcome


class UnrolledTimeSuite(TimeSuite):
    """For unrolled optimization, whose calls take from under a millisecond (compiled,
    K = 1) to seconds (eager JAX and TensorFlow at K = 100): asv's short warm-up stays
    for the fast cells; at least 3 samples, up to 2 s of them.  The timeout covers the
    slowest eager cell's preparation (first call and warm-up) and samples."""

    repeat = (3, 1000, 2.0)
    timeout = timeout_or(900)


class CheckSuite(OutcomeSuite):
    """The verification error and the first-call time of a cell, as asv track metrics."""

    # Raised when a metric's meaning changes, so that asv never compares results across
    # it (2: track_error is the normwise error of the worst block, not elementwise).
    version = "2"

    def track_error(self, *params):
        """Largest normwise relative error of an output block against the float64
        reference (see the error model in docs/methodology.md)."""
        return self.outcome.error

    track_error.unit = "relative error"

    def track_first_call(self, *params):
        """Seconds from building the cell to its first finished result: tracing,
        compilation and the first execution."""
        return self.outcome.first_call_seconds

    track_first_call.unit = "seconds"

    def track_peak_memory(self, *params):
        """Bytes by which one warm call raised the process's peak resident memory above
        its resident memory before the call (the work's own memory, CPU cells; NaN,
        shown as n/a, where it is not measured)."""
        peak = self.outcome.peak_memory_bytes
        return float("nan") if peak is None else peak

    track_peak_memory.unit = "bytes"

    def track_device_memory(self, *params):
        """Bytes of device memory one warm call allocated at its peak, above what was
        allocated before it (the inputs): GPU cells; NaN, shown as n/a, elsewhere."""
        peak = self.outcome.device_memory_bytes
        return float("nan") if peak is None else peak

    track_device_memory.unit = "bytes"


class ApproximationSuite(OutcomeSuite):
    """For the modes that compute a labelled approximation (``modes``): its distance to
    the exact outputs, as an asv track metric."""

    def track_approximation_error(self, *params):
        """Largest normwise relative distance of an output block to the exact float64
        reference: what the approximation gives up (reported, not judged)."""
        return self.outcome.approximation_error

    track_approximation_error.unit = "relative error"
