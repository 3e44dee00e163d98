"""Base classes of the asv suites in ``benchmarks/``.

A suite is declared by its workload and model; the parameters follow from the
vocabulary and never depend on what is installed.  Cells that cannot run here raise
``NotImplementedError`` in ``setup`` (asv's skip) with the reason from the support table.

Each cell has two asv classes: ``TimeSuite`` prepares the cell in ``setup`` (build,
verify against the float64 reference, warm up) and times the prepared callable;
``CheckSuite`` reports the verification error and the first-call time of the same
cell, reading them from the timing process's record when one exists (see records.py),
so that a second process does not import a framework and compile again.

asv re-runs ``setup`` between samples; preparation is memoised per process, so that
costs a dictionary lookup, not a rebuild.
"""

from __future__ import annotations

from . import records
from .api import PreparedCell, prepare
from .cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, MODES, Cell
from .support import CellUnsupported
from .workloads import SIZES

# The asv `version` of every suite: bump it only when a change makes old results of
# the same name incomparable; asv then starts a new history.
SUITE_VERSION = "1"

_prepared: dict[Cell, PreparedCell] = {}


def suite_params(workload: str, model: str) -> tuple[list[str], list[list]]:
    names = ["backend"]
    values: list[list] = [list(BACKENDS)]
    if len(MODES[workload]) > 1:
        names.append("mode")
        values.append(list(MODES[workload]))
    names += ["execution", "size", "device", "dtype"]
    values += [list(EXECUTIONS), list(SIZES[model]), list(DEVICES), list(DTYPES)]
    return names, values


def suite_values(cell: Cell) -> tuple:
    """The cell's asv parameter values, in the order of its suite's ``param_names``."""
    names, _ = suite_params(cell.workload, cell.model)
    return tuple(getattr(cell, name) for name in names)


def verified_outcome(prepared: PreparedCell) -> dict:
    return {
        "status": "verified",
        "errors": prepared.verdict.errors,
        "error": prepared.verdict.error,
        "tolerance": prepared.verdict.tolerance,
        "first_call_seconds": prepared.first_call_seconds,
        "conditions": prepared.conditions,
    }


def prepare_and_record(cell: Cell) -> PreparedCell:
    """Prepare the cell once per process and record the outcome for this run.

    A skip by the support table raises before any framework is imported."""
    if cell in _prepared:
        return _prepared[cell]
    try:
        prepared = prepare(**cell.as_dict())
    except NotImplementedError as skip:
        records.save(cell, {"status": "skipped", "reason": str(skip)})
        raise
    except Exception as failure:
        records.save(cell, {"status": "failed", "message": f"{type(failure).__name__}: {failure}"})
        raise
    records.save(cell, verified_outcome(prepared))
    _prepared[cell] = prepared
    return prepared


class CellSuite:
    workload: str
    model: str
    rounds = 1  # every round is another process paying the framework import again
    version = SUITE_VERSION

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "workload" in cls.__dict__:
            cls.param_names, cls.params = suite_params(cls.workload, cls.model)

    def _cell(self, params) -> Cell:
        values = dict(zip(self.param_names, params, strict=True))
        values.setdefault("mode", MODES[self.workload][0])
        return Cell(workload=self.workload, model=self.model, **values)


class TimeSuite(CellSuite):
    """Times one unit of a prepared cell.  Subclasses add ``time_<workload>``, calling
    ``self.prepared()``."""

    # Setup already compiled and warmed the cell; asv then takes at least 5 samples,
    # at most 50, stopping after about 2 s.
    warmup_time = 0.1
    repeat = (5, 50, 2.0)
    # Covers a framework import, the slowest compile the default preset runs and timing.
    timeout = 300

    def setup(self, *params):
        self.prepared = prepare_and_record(self._cell(params))


class CheckSuite(CellSuite):
    """The verification error and the first-call time of a cell, as asv track metrics."""

    timeout = 300

    def setup(self, *params):
        cell = self._cell(params)
        outcome = records.load(cell) or verified_outcome(prepare_and_record(cell))
        if outcome["status"] == "skipped":
            raise CellUnsupported(outcome["reason"])
        if outcome["status"] == "failed":
            raise RuntimeError(f"{cell.label} failed in preparation: {outcome['message']}")
        self.outcome = outcome

    def track_error(self, *params):
        """Largest relative error of the outputs against the float64 reference."""
        return self.outcome["error"]

    track_error.unit = "relative error"

    def track_first_call(self, *params):
        """Seconds from building the cell to its first finished result: tracing,
        compilation and the first execution."""
        return self.outcome["first_call_seconds"]

    track_first_call.unit = "seconds"
