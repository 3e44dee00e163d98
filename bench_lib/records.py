"""Outcomes of preparing cells, shared between the processes of one asv run.

asv runs every benchmark method of every parameter combination in a fresh process.  The
timing process already builds, verifies and warms up its cell; it writes the outcome
here, and the processes that report the verification error and the first-call time of
the same cell read it instead of importing a framework and compiling again.

Sharing happens only under an explicit run: ``$BENCH_RUN_ID`` names it and
``$BENCH_RECORDS_DIR`` says where its records go (``make bench`` sets both and removes
the folder when the run ends).  Without them nothing is shared and every process
prepares its own cell.  A record is scoped to the asv environment and commit too.

Each preparation of a cell appends one line to the cell's record, so a run can tell
how often a cell was prepared (once, when asv runs the timing benchmark first).

The processes of a run also share what every cell of a case needs and is costly to
compute, such as the float64 reference (``shared``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

from .cells import Cell
from .outcome import Outcome

RUN_ID_ENV = "BENCH_RUN_ID"
RECORDS_DIR_ENV = "BENCH_RECORDS_DIR"
# One asv run can cover several environments and commits (asv.matrix.conf.json); asv
# names them to each benchmark process, and a record is only valid within the same ones.
SCOPE_ENV = ("ASV_ENV_NAME", "ASV_COMMIT")


def run_directory() -> Path | None:
    """The folder of this run's records, or None outside an explicit run."""
    token = os.environ.get(RUN_ID_ENV, "").strip()
    base = os.environ.get(RECORDS_DIR_ENV, "").strip()
    if not token or not base:
        return None
    return directory(Path(base), token)


def directory(base: Path, token: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in token)
    return base / safe


def _key(fields: dict) -> str:
    scope = {**fields, **{name: os.environ.get(name) for name in SCOPE_ENV}}
    return hashlib.sha256(json.dumps(scope, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _path(run: Path, cell: Cell) -> Path:
    return run / f"{_key(cell.as_dict())}.jsonl"


def shared(name: str, compute):
    """``compute()`` once per run: the first process of the run to need ``name`` stores
    it, the others read it.  Outside an explicit run, simply ``compute()``."""
    run = run_directory()
    if run is None:
        return compute()
    path = run / "shared" / f"{_key({'name': name})}.pickle"
    try:
        return pickle.loads(path.read_bytes())  # written by this run's own processes
    except (OSError, pickle.UnpicklingError, EOFError):
        pass
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(partial, path)  # a reader sees all of it or nothing
    return value


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


def collect(base: Path, token: str) -> list[tuple[Outcome, int]]:
    """Everything a run recorded: per cell its latest outcome and how often it was prepared."""
    result = []
    for path in sorted(directory(base, token).glob("*.jsonl")):
        outcomes = _read(path)
        if outcomes:
            result.append((outcomes[-1], len(outcomes)))
    return result


def discard(base: Path, token: str) -> None:
    """Remove what a finished run recorded."""
    shutil.rmtree(directory(base, token), ignore_errors=True)
