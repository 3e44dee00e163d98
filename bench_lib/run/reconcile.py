"""One final status per cell of a run, from what its processes left behind.

asv keeps no reason for a failure (its result is null), stores skips as NaN, and says
what happened to a process only in its console output (read by ``suite/asv_output.py``).  The processes record an outcome when they prepare a cell,
but a process that crashes or hangs records nothing, and one that dies after verifying
its cell leaves a ``verified`` record beside a failed time.  After the run, each
selected cell gets exactly one status:

- ``verified`` (shown as ``ok``) and ``skipped``, as recorded, while its time stands;
- ``invalid``: the outputs did not match the reference (a wrong answer, never timed);
- ``failed``: preparing it raised another error (the message is kept);
- ``timeout``, ``oom`` (memory ran out, in any of the forms ``core/memory_exhaustion.py``
  knows, a SIGKILL while the kernel's OOM killer was killing among them) or ``crashed``
  (any other death of the process, with the last words asv printed for it): when its
  timing benchmark has no number although the cell was not skipped, or when no process
  recorded anything for it.
"""

from __future__ import annotations

from bench_lib.core.cells import Cell
from bench_lib.suite import asv_output, grid
from bench_lib.core.outcome import Outcome

def final_outcomes(cells: list[Cell], recorded: dict[Cell, Outcome], timing_names: dict[Cell, str],
                   timed: dict[Cell, object], log_text: str, oom_kills: dict[tuple, int] | None = None) -> list[Outcome]:
    """The final outcome of each of ``cells``.  ``recorded``: what the processes
    recorded; ``timing_names``: each cell's asv timing benchmark; ``timed``: asv's
    value for the cell there (None: failed, NaN: skipped, a number: timed);
    ``oom_kills``: per (workload, backend), how many processes the kernel's OOM killer
    killed while its asv run lasted."""
    oom_kills = oom_kills or {}
    texts = asv_output.failure_texts(log_text, names=set(timing_names.values()))
    final = []
    for cell in cells:
        outcome = recorded.get(cell)
        params = grid.param_reprs(cell)
        text = texts.get((timing_names.get(cell), params), "")
        if outcome is None:
            status, reason = (asv_output.classify(text, oom_kills.get((cell.workload, cell.backend), 0)) if text
                              else ("crashed", "no process of the run recorded an outcome"))
            final.append(Outcome(cell, status, message=reason))
        elif outcome.status == "verified" and cell in timed and timed[cell] is None:
            status, reason = asv_output.classify(text, oom_kills.get((cell.workload, cell.backend), 0))  # died while being timed
            final.append(Outcome(**{**outcome.__dict__, "status": status, "message": reason}))
        elif outcome.status == "failed" and (outcome.message or "").startswith("VerificationError"):
            final.append(Outcome(**{**outcome.__dict__, "status": "invalid"}))
        else:
            final.append(outcome)
    return final
