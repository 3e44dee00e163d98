"""One final status per cell of a run, from what its processes left behind.

asv keeps no reason for a failure (its result is null), stores skips as NaN, and says
what happened to a process only in its console output ("For parameters: ..." blocks,
"asv: benchmark timed out").  The processes record an outcome when they prepare a cell,
but a process that crashes or hangs records nothing, and one that dies after verifying
its cell leaves a ``verified`` record beside a failed time.  After the run, each
selected cell gets exactly one status:

- ``verified`` (shown as ``ok``) and ``skipped``, as recorded, while its time stands;
- ``invalid``: the outputs did not match the reference (a wrong answer, never timed);
- ``failed``: preparing it raised another error (the message is kept);
- ``timeout``, ``oom`` (a MemoryError) or ``crashed`` (any other death of the process,
  with the last words asv printed for it): when its timing benchmark has no number
  although the cell was not skipped, or when no process recorded anything for it.
"""

from __future__ import annotations

import re

from bench_lib.core.cells import Cell
from bench_lib.suite import grid
from bench_lib.core.outcome import Outcome

# "[ 61.54%] ··· hvp.MlpHVP.time_hvp   1/648 failed": a benchmark's results begin
BENCHMARK_LINE = re.compile(r"^\[\s*[\d.]+%\] ·{3} (?P<name>\w+(?:\.\w+)+)(?:\s|$)")
# "For parameters: 'jax', 'fwd_rev', ..." (indented, or after "[ 61.54%] ····")
PARAMETERS = re.compile(r"For parameters: (?P<params>.*)$")


def failure_texts(log_text: str) -> dict[tuple[str, str], str]:
    """(benchmark name, parameter reprs as asv prints them) -> what asv printed for that
    combination: the blocks after ``For parameters:`` in asv's output."""
    found: dict[tuple[str, str], list[str]] = {}
    benchmark, current = None, None
    for line in log_text.splitlines():
        matched = BENCHMARK_LINE.match(line)
        if matched:
            benchmark, current = matched.group("name"), None
            continue
        stripped = line.strip()
        parameters = PARAMETERS.search(stripped)
        if benchmark and parameters:
            current = found.setdefault((benchmark, parameters.group("params").strip()), [])
        elif current is not None and stripped:
            current.append(stripped)
    return {key: "\n".join(lines) for key, lines in found.items()}


def classify(text: str) -> tuple[str, str]:
    """(status, reason) of a process asv reported as failed, from what it printed."""
    if "asv: benchmark timed out" in text:
        limit = re.search(r"timed out \(timeout ([\d.]+)s\)", text)
        return "timeout", f"the process was stopped after {limit.group(1) if limit else 'its'} s (asv's timeout)"
    if "MemoryError" in text:
        return "oom", "out of memory: " + _last_words(text, "MemoryError")
    words = _last_words(text)
    return "crashed", f"the process died without a result ({words})" if words else "the process died without a result"


def _last_words(text: str, containing: str = "") -> str:
    lines = [line for line in text.splitlines() if line and not line.startswith("asv: skipped")]
    chosen = [line for line in lines if containing in line] if containing else lines
    return (chosen or lines or [""])[-1][:300]


def final_outcomes(cells: list[Cell], recorded: dict[Cell, Outcome], timing_names: dict[Cell, str],
                   timed: dict[Cell, object], log_text: str) -> list[Outcome]:
    """The final outcome of each of ``cells``.  ``recorded``: what the processes
    recorded; ``timing_names``: each cell's asv timing benchmark; ``timed``: asv's
    value for the cell there (None: failed, NaN: skipped, a number: timed)."""
    texts = failure_texts(log_text)
    final = []
    for cell in cells:
        outcome = recorded.get(cell)
        params = grid.param_reprs(cell)
        text = texts.get((timing_names.get(cell), params), "")
        if outcome is None:
            status, reason = classify(text) if text else ("crashed", "no process of the run recorded an outcome")
            final.append(Outcome(cell, status, message=reason))
        elif outcome.status == "verified" and cell in timed and timed[cell] is None:
            status, reason = classify(text)  # died after verification, while being timed
            final.append(Outcome(**{**outcome.__dict__, "status": status, "message": reason}))
        elif outcome.status == "failed" and (outcome.message or "").startswith("VerificationError"):
            final.append(Outcome(**{**outcome.__dict__, "status": "invalid"}))
        else:
            final.append(outcome)
    return final
