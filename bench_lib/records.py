"""Outcomes of preparing cells, shared between the processes of one asv run.

asv runs every benchmark method of every parameter combination in a fresh process.  The
timing process already builds, verifies and warms up its cell; it writes the outcome
here, and the processes that report the verification error and the first-call time of
the same cell read it instead of importing a framework and compiling again.

Outcomes are only shared within one run and one asv environment and commit: the key
is a run token, ``$BENCH_RUN_ID`` when set, else the identity of the parent process (the
asv process that spawns every benchmark).  Without a token nothing is shared and every
process prepares its own cell.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .cells import Cell

RUN_ID_ENV = "BENCH_RUN_ID"
RECORDS_DIR_ENV = "BENCH_RECORDS_DIR"


def _process_start_ticks(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), which tells a
    process apart from a later one that reuses its pid."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return fields[19]  # field 22 of proc(5); the first two are cut off above
    except (OSError, IndexError):
        return None


def run_token() -> str | None:
    explicit = os.environ.get(RUN_ID_ENV, "").strip()
    if explicit:
        return explicit
    parent = os.getppid()
    ticks = _process_start_ticks(parent)
    return f"ppid-{parent}-{ticks}" if ticks else None


def _directory(token: str) -> Path:
    base = os.environ.get(RECORDS_DIR_ENV) or Path(tempfile.gettempdir()) / "bench_lib-records"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in token)
    return Path(base) / safe


# One asv run can cover several environments and commits (asv.matrix.conf.json); asv
# names them to each benchmark process, and a record is only valid within the same ones.
SCOPE_ENV = ("ASV_ENV_NAME", "ASV_COMMIT")


def _path(cell: Cell, token: str) -> Path:
    scope = {**cell.as_dict(), **{name: os.environ.get(name) for name in SCOPE_ENV}}
    key = hashlib.sha256(json.dumps(scope, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return _directory(token) / f"{key}.json"


def save(cell: Cell, outcome: dict) -> None:
    token = run_token()
    if token is None:
        return
    path = _path(cell, token)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps({"cell": cell.as_dict(), **outcome}, default=str))
    partial.replace(path)  # atomic: a reader never sees half a record


def load(cell: Cell) -> dict | None:
    token = run_token()
    if token is None:
        return None
    try:
        return json.loads(_path(cell, token).read_text())
    except (OSError, ValueError):
        return None


def collect(token: str) -> list[dict]:
    """Everything a run recorded, one dict per cell."""
    outcomes = []
    for path in sorted(_directory(token).glob("*.json")):
        try:
            outcomes.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return outcomes


def discard(token: str) -> None:
    """Remove what a finished run recorded."""
    shutil.rmtree(_directory(token), ignore_errors=True)
