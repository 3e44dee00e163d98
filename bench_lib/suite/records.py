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

import functools
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from bench_lib.core import files
from bench_lib.core.cells import Cell
from bench_lib.core.outcome import Outcome
from bench_lib.verification.run_cache import directory, run_directory, scoped_key


# asv gives its benchmark processes no name of their environment, only the matrix's
# environment variables and the environment's Python.  The run names the matrix's
# variables here; a process's environment is its Python and their values.
MATRIX_VARS_ENV = "BENCH_MATRIX_VARS"


def environment_key(python: str, env_vars: dict) -> str:
    """The folder of a run's records from one asv environment (a run may have several):
    the same for the run (from asv's result file) and for the environment's processes."""
    scope = json.dumps({"python": os.path.abspath(python), "env": dict(sorted(env_vars.items()))})
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def this_environment() -> str:
    names = [name for name in os.environ.get(MATRIX_VARS_ENV, "").split(",") if name]
    return environment_key(sys.executable, {name: os.environ.get(name) for name in names})


def _path(run: Path, cell: Cell) -> Path:
    return run / this_environment() / f"{scoped_key(cell.as_dict())}.jsonl"


STARTED = ".started"  # <cell key>.started: a process of the run began preparing the cell


def mark_started(cell: Cell) -> None:
    """Say that a process of this run began preparing ``cell``: one that crashes or
    hangs leaves the mark without an outcome, and the cell's other benchmarks then fail
    at once instead of preparing (and hanging) again."""
    run = run_directory()
    if run is not None:
        path = _path(run, cell).with_suffix(STARTED)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cell.as_dict(), default=str))  # the cell, for the run's progress display


def started_without_outcome(cell: Cell) -> bool:
    run = run_directory()
    return run is not None and _path(run, cell).with_suffix(STARTED).exists() and load(cell) is None


def save(outcome: Outcome) -> None:
    run = run_directory()
    if run is None:
        return
    path = _path(run, outcome.cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One short line per append: a reader never sees half of it.
    with path.open("a") as out:
        out.write(json.dumps(outcome.to_json(), default=str) + "\n")


INTERFERENCE = ".interference"  # <cell key>.interference beside <cell key>.jsonl


def save_interference(cell: Cell, measured: dict) -> None:
    """What the rest of the machine did while ``cell`` was timed (``core/interference.py``),
    kept beside its outcomes: ``collect`` adds it to the cell's conditions.  Rewritten
    after every timing window; written whole or not at all."""
    run = run_directory()
    if run is None:
        return
    path = _path(run, cell).with_suffix(INTERFERENCE)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_text(path, json.dumps(measured))


def _with_interference(outcome: Outcome, path: Path) -> Outcome:
    try:
        measured = json.loads(path.with_suffix(INTERFERENCE).read_text())
    except (OSError, ValueError):
        return outcome
    return Outcome(**{**outcome.__dict__, "conditions": {**outcome.conditions, **measured}})


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


def collect(base: Path, token: str, environment: str) -> list[tuple[Outcome, int]]:
    """Everything a run recorded in one asv environment (``environment_key``): per cell
    its latest outcome and how often it was prepared."""
    result = []
    for path in sorted((directory(base, token) / environment).glob("*.jsonl")):
        outcomes = _read(path)
        if outcomes:
            result.append((_with_interference(outcomes[-1], path), len(outcomes)))
    return result


def progress(base: Path, token: str) -> tuple[dict[Cell, float], dict[Cell, float]]:
    """For the run's progress display: when each cell of a run (in any environment)
    got its outcome, and when each cell began.  A cell begun again after its outcome
    (a contended cell timed once more at the end of the run) is not done until its new
    outcome.  Times are the records' file times (seconds since the epoch)."""
    done, begun = {}, {}
    for path in directory(base, token).glob(f"*/*{STARTED}"):
        try:
            cell = _started_cell(path)
            started = path.stat().st_mtime
        except (OSError, ValueError, TypeError):
            continue  # being written, or gone with the run
        try:
            recorded = path.with_suffix(".jsonl").stat().st_mtime
        except OSError:
            recorded = None
        begun[cell] = max(started, begun.get(cell, started))
        if recorded is not None and recorded >= started:
            done[cell] = max(recorded, done.get(cell, recorded))
    return done, begun


@functools.lru_cache(maxsize=None)
def _started_cell(path: Path) -> Cell:
    """The cell a start mark names, read once per mark rather than at every poll of the
    progress display: a mark's path is its cell's key, so it always names the same cell,
    and a half-written one fails to parse (a failure is not cached)."""
    return Cell(**json.loads(path.read_text()))


def discard(base: Path, token: str) -> None:
    """Remove what a finished run recorded."""
    shutil.rmtree(directory(base, token), ignore_errors=True)
