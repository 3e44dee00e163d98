"""``python -m bench_lib verify``: cells checked against the float64 reference, one line
each, with the counts at the end.

The cells are prepared in a worker process (``python -m bench_lib.run.verify_preset``),
which reports each outcome as it has it: a cell that kills its process (a
``std::bad_alloc`` abort, the kernel's OOM killer, a segfault) is reported as ``oom`` or
``crashed`` with the process's last words, and a new worker goes on with the cells
after it, so every cell is reported.
"""

from __future__ import annotations

import collections
import contextlib
import json
import subprocess
import sys
import threading
import time

from bench_lib.backends import support
from bench_lib.backends.support import skip_reason
from bench_lib.core import memory_exhaustion
from bench_lib.core.cells import Cell
from bench_lib.core.outcome import FAULTS, Outcome

_OUTCOME = "@@verify-outcome "  # marks the worker's outcome lines among what frameworks print


def verify_one(cell) -> Outcome:
    from bench_lib.verification.prepare import prepare, verified_outcome

    reason = skip_reason(cell)
    if reason:
        return Outcome(cell, "skipped", reason=reason, prepared_in="verify")
    try:
        prepared = prepare(**cell.as_dict())
    except Exception as error:  # a failure is reported as one (oom where memory ran out), with what went wrong
        return Outcome.of_failure(cell, error, "verify")
    return verified_outcome(prepared, "verify")


def verify_cells(cells) -> int:
    """Print one line per cell and the counts; return 1 if any supported cell did not
    verify (failed, oom or crashed)."""
    cells = list(cells)
    counts = collections.Counter()
    started = time.perf_counter()
    for index, outcome in enumerate(outcomes(cells), 1):
        counts[outcome.status] += 1
        _print(outcome, index, len(cells))
    shown = ["verified", "skipped", "failed", *(status for status in FAULTS if status != "failed" and counts[status])]
    print(", ".join(f"{counts[status]} {status}" for status in shown)
          + f" in {time.perf_counter() - started:.0f} s")
    return 1 if any(counts[status] for status in FAULTS) else 0


def outcomes(cells: list[Cell], lift_known: bool = False):
    """Each cell's outcome, in order, from worker processes: a new worker goes on after
    one that died.  ``lift_known``: known-failure rules do not apply (the cells they
    skip are attempted)."""
    remaining = list(cells)
    while remaining:
        done = 0
        for outcome in _in_a_worker(remaining, lift_known):
            done += 1
            yield outcome
        remaining = remaining[done:]


def _print(outcome: Outcome, index: int, total: int) -> None:
    prefix = f"[{index}/{total}] {outcome.status:8s} {outcome.cell.label:58s}"
    if outcome.status == "verified":
        worst = max(outcome.errors, key=lambda key: outcome.errors[key] / outcome.tolerances[key])
        print(f"{prefix} error {outcome.errors[worst]:.2e} <= {outcome.tolerances[worst]:.1e} "
              f"({worst}; margin {outcome.margin:.2f})", flush=True)
    else:
        print(f"{prefix} {outcome.reason or outcome.message}", flush=True)


def _in_a_worker(cells: list[Cell], lift_known: bool = False):
    """The outcomes of ``cells`` in order, from one worker process; if it dies, the
    cell it was preparing gets ``oom`` or ``crashed`` and the outcomes end there."""
    kills_before = memory_exhaustion.oom_kills()
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench_lib.run.verify_preset"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    last_words: collections.deque = collections.deque(maxlen=40)
    echo = threading.Thread(target=_echo, args=(worker.stderr, last_words), daemon=True)
    echo.start()
    worker.stdin.write(json.dumps({"cells": [cell.as_dict() for cell in cells], "lift_known": lift_known}))
    worker.stdin.close()
    reported = 0
    for line in worker.stdout:
        if line.startswith(_OUTCOME):
            reported += 1
            yield Outcome.from_json(json.loads(line[len(_OUTCOME):]))
        else:
            print(line, end="", flush=True)  # what a framework printed
    status = worker.wait()
    echo.join()
    if reported < len(cells):
        yield _died(cells[reported], status, "\n".join(last_words), memory_exhaustion.killed_by_the_oom_killer(kills_before))


def _echo(stream, kept: collections.deque) -> None:
    for line in stream:
        kept.append(line.rstrip())
        print(line, end="", file=sys.stderr, flush=True)


def _died(cell: Cell, status: int, words: str, oom_kills: int) -> Outcome:
    """The outcome of the cell whose preparation ended its process."""
    said = memory_exhaustion.in_text(words)
    if said or (status == memory_exhaustion.SIGKILL_EXIT and oom_kills):
        reason = said or f"killed by SIGKILL while the kernel's OOM killer killed {oom_kills} processes (/proc/vmstat)"
        return Outcome(cell, "oom", message=f"out of memory: {reason} (the process died, exit status {status})",
                       prepared_in="verify")
    last = next((line for line in reversed(words.splitlines()) if line.strip()), "")
    return Outcome(cell, "crashed", message=f"the process died (exit status {status})" + (f": {last[:300]}" if last else ""),
                   prepared_in="verify")


def _work() -> None:
    """The worker: the cells (JSON on stdin), each outcome a marked line on stdout."""
    asked = json.loads(sys.stdin.read())
    lifted = support.lifted_known_failures() if asked["lift_known"] else contextlib.nullcontext()
    with lifted:
        for fields in asked["cells"]:
            outcome = verify_one(Cell(**fields))
            print(_OUTCOME + json.dumps(outcome.to_json(), default=str), flush=True)


if __name__ == "__main__":
    _work()
