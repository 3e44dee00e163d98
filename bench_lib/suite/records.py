"""Outcomes of preparing cells, shared between the processes of one asv run.

asv runs every benchmark method of every parameter combination in a fresh process.  The
timing process already builds, verifies and warms up its cell; it writes the outcome
here, and the processes that report the verification error and the first-call time of
the same cell read it instead of importing a framework and compiling again.

Records are kept only under an explicit run, in the run's folder and scope (see
``verification/run_cache.py``); without one every process prepares its own cell.

Each preparation of a cell appends one line to the cell's record, so a run can tell
how often a cell was prepared (once, when asv runs the timing benchmark first).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from bench_lib.core.cells import Cell
from bench_lib.core.outcome import Outcome
from bench_lib.verification.run_cache import directory, run_directory, scoped_key


ENV_NAME = "ASV_ENV_NAME"  # asv names each benchmark process's environment


def environment_folder(env_name: str | None) -> str:
    """The folder of a run's records from one asv environment (a run may have several)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in env_name) if env_name else "no-environment"


def _path(run: Path, cell: Cell) -> Path:
    return run / environment_folder(os.environ.get(ENV_NAME)) / f"{scoped_key(cell.as_dict())}.jsonl"


def mark_started(cell: Cell) -> None:
    """Say that a process of this run began preparing ``cell``: one that crashes or
    hangs leaves the mark without an outcome, and the cell's other benchmarks then fail
    at once instead of preparing (and hanging) again."""
    run = run_directory()
    if run is not None:
        path = _path(run, cell).with_suffix(".started")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def started_without_outcome(cell: Cell) -> bool:
    run = run_directory()
    return run is not None and _path(run, cell).with_suffix(".started").exists() and load(cell) is None


def save(outcome: Outcome) -> None:
    run = run_directory()
    if run is None:
        return
    path = _path(run, outcome.cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One short line per append: a reader never sees half of it.
    with path.open("a") as out:
        out.write(json.dumps(outcome.to_json(), default=str) + "\n")


def _read(path: Path) -> list[Outcome]:
    outcomes = []
    for line in path.read_text().splitlines():
        try:
            outcomes.append(Outcome.from_json(json.loads(line)))
        except (ValueError, TypeError, KeyError):
            continue  # a line cut short by a killed process
    return outcomes


def load(cell: Cell) -> Outcome | None:
    """The latest outcome of ``cell`` in this run, or None."""
    run = run_directory()
    if run is None:
        return None
    try:
        outcomes = _read(_path(run, cell))
    except OSError:
        return None
    return outcomes[-1] if outcomes else None


def collect(base: Path, token: str, env_name: str | None) -> list[tuple[Outcome, int]]:
    """Everything a run recorded in one asv environment: per cell its latest outcome and
    how often it was prepared."""
    result = []
    for path in sorted((directory(base, token) / environment_folder(env_name)).glob("*.jsonl")):
        outcomes = _read(path)
        if outcomes:
            result.append((outcomes[-1], len(outcomes)))
    return result


def discard(base: Path, token: str) -> None:
    """Remove what a finished run recorded."""
    shutil.rmtree(directory(base, token), ignore_errors=True)
