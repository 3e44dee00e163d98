"""What the rest of the machine did while a cell was timed.

The load average says little about one cell: it trails by a minute and counts the
run's own processes.  So the timing process measures, from the start of the cell's
timing to its end, the CPU time the usable cores spent busy (``/proc/stat``, per core)
less its own CPU time (``getrusage``, with its children): the others' CPU time, as a
share of what those cores could give in that wall time.  A share above
``CONTENDED_SHARE``, over at least ``CONTENDED_MIN_SECONDS``, makes the cell's time
``contended`` (docs/methodology.md has the measurements the threshold comes from).
Where ``/proc/stat`` is not there, nothing is measured.

Runs recorded before this measurement have the 1-minute load average each cell ran
under, and nothing finer: such a time is contended where that load exceeds the usable
cores by more than ``LOAD_MARGIN``.
"""

from __future__ import annotations

import math
import os
import resource
import time
from pathlib import Path

# Above this share of the cell's cores used by the rest of the machine, a time is
# contended: twice the most the suite's own processes left on a quiet machine, below
# every run beside a spinning process (docs/methodology.md#interference).
CONTENDED_SHARE = 0.10
# ... over at least this many seconds of timing: /proc/stat counts in 10 ms ticks, and
# a cell of a few short samples (a loop-of-HVPs Hessian at Rosenbrock 100: five samples
# of 2 ms) is timed for too short a span to say (its interference is kept).
CONTENDED_MIN_SECONDS = 0.25

# A run's own processes keep at most its cores busy: the cells that the committed runs
# timed at loads of 3.1 to 7.2 on 2 cores ran at 1.1 to 1.8 when timed again alone
# (docs/methodology.md#interference).
LOAD_MARGIN = 1.0

_TICK = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
_IDLE = (3, 4)  # idle and iowait, among /proc/stat's per-core fields


def _busy_seconds(cpus: set[int]) -> float | None:
    """CPU seconds the cores ``cpus`` have spent busy since boot."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            # user nice system idle iowait irq softirq steal (guest is within user)
            busy += sum(int(value) for index, value in enumerate(fields[:8]) if index not in _IDLE)
    return busy * _TICK


def _own_seconds() -> float:
    """CPU seconds this process (all its threads) and its waited-for children used."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class Meter:
    """The others' CPU time on this process's cores from the first ``start`` to the
    latest ``stop``: one window over all of a cell's samples.  (Windows of one sample
    each, under a millisecond, read 0.66 of two cores busy on an idle machine:
    ``/proc/stat`` is not exact over spans that short.  One window of a second read
    0.017.)"""

    def __init__(self):
        self.cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
        self.others = 0.0  # CPU seconds
        self.wall = 0.0  # seconds
        self._started: tuple | None = None

    def start(self) -> None:
        if self._started is None:
            busy = _busy_seconds(self.cpus)
            if busy is not None:
                self._started = (time.monotonic(), busy, _own_seconds())

    def stop(self) -> None:
        if self._started is None:
            return
        began, busy, own = self._started
        busy_now = _busy_seconds(self.cpus)
        if busy_now is not None:
            self.wall = time.monotonic() - began
            self.others = max(0.0, (busy_now - busy) - (_own_seconds() - own))

    def measured(self) -> dict:
        """What the cell records: the others' share of its cores' time (None before any
        window), the seconds measured and the cores."""
        share = self.others / (self.wall * len(self.cpus)) if self.wall > 0 else None
        return {"interference": share, "interference_seconds": self.wall, "interference_cpus": len(self.cpus)}


def contended(conditions: dict) -> bool:
    """Whether a cell's recorded conditions say its time was contended."""
    share, seconds, load, cpus = (
        math.nan if conditions.get(name) is None else float(conditions[name])
        for name in ("interference", "interference_seconds", "load_average_1min", "usable_cpus"))
    return bool(contended_where(share, seconds, load, cpus))


def contended_where(share, seconds, load, cpus):
    """The rule, on numbers or elementwise on pandas Series alike (NaN: not recorded):
    the measured interference decides; where none was measured, the load average above
    the usable cores by more than ``LOAD_MARGIN``."""
    measured = (share > CONTENDED_SHARE) & (seconds >= CONTENDED_MIN_SECONDS)
    unmeasured = share != share  # NaN
    return measured | (unmeasured & (load > cpus + LOAD_MARGIN))


def busy_share(seconds: float = 1.0) -> float | None:
    """The share of this process's cores that other processes used over the next
    ``seconds`` (this process waits meanwhile)."""
    meter = Meter()
    meter.start()
    time.sleep(seconds)
    meter.stop()
    return meter.measured()["interference"]
