"""The outcome of preparing one cell: verified (with its errors, first-call time and
conditions), skipped (with the reason) or failed (with the message); after the run,
``reconcile`` turns what the processes left into one final status per cell, adding
invalid (a wrong answer), crashed, timeout and oom.

One type for everything that reports on cells: the asv harness, the records shared
between asv processes, ``verify``, and the reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bench_lib.core import memory_exhaustion
from bench_lib.core.cells import Cell

# Every status a cell can end with, in the order reports list them: the one list the
# tidy table's statuses derive from (``reporting.store.STATUSES``).
STATUSES = ("verified", "skipped", "invalid", "failed", "crashed", "timeout", "oom")
FAULTS = ("failed", "invalid", "crashed", "timeout", "oom")  # what makes a run fail


@dataclass(frozen=True)
class Outcome:
    cell: Cell
    status: str
    reason: str | None = None  # why a skipped cell cannot run
    message: str | None = None  # what went wrong in a failed one
    errors: dict[str, float] = field(default_factory=dict)  # per output: normwise error
    tolerances: dict[str, float] = field(default_factory=dict)
    elementwise_errors: dict[str, float] = field(default_factory=dict)
    margin: float | None = None  # largest error / tolerance; at most 1 when verified
    first_call_seconds: float | None = None
    warm_call_seconds: float | None = None  # fastest warm-up call, for reading asv's median
    # how far one warm call raised the peak resident memory (CPU cells; see memory.py)
    peak_memory_bytes: int | None = None
    # the peak device memory of one warm call, less what was allocated before it (GPU
    # cells; see each backend's device_peak_memory)
    device_memory_bytes: int | None = None
    # a labelled approximation's distance to the exact outputs, per output (first_order)
    approximation_errors: dict[str, float] = field(default_factory=dict)
    conditions: dict = field(default_factory=dict)
    prepared_in: str | None = None  # which process prepared it: "time", "check", "verify"

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {STATUSES}")
        if self.status == "skipped" and not self.reason:
            raise ValueError("a skipped outcome needs its reason")
        if self.status in FAULTS and not self.message:
            raise ValueError(f"a {self.status} outcome needs its message")

    @property
    def error(self) -> float | None:
        return max(self.errors.values()) if self.errors else None

    @property
    def approximation_error(self) -> float | None:
        return max(self.approximation_errors.values()) if self.approximation_errors else None

    def to_json(self) -> dict:
        data = asdict(self)
        data["cell"] = self.cell.as_dict()
        return data

    @classmethod
    def of_failure(cls, cell: Cell, error: BaseException, prepared_in: str) -> "Outcome":
        """What an exception while preparing ``cell`` makes of it: ``oom`` when memory
        ran out (``memory_exhaustion``), else ``failed``; the message names it."""
        message = f"{type(error).__name__}: {error}"
        status = "oom" if memory_exhaustion.in_text(message) else "failed"
        return cls(cell, status, message=message, prepared_in=prepared_in)

    @classmethod
    def from_json(cls, data: dict) -> "Outcome":
        return cls(**{**data, "cell": Cell(**data["cell"])})
