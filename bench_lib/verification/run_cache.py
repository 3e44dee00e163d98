"""What every cell of a case needs and is costly to compute (the float64 reference, its
conditioning), computed once per run and shared between the run's processes.

asv runs every benchmark in a fresh process.  Sharing happens only under an explicit
run: ``$BENCH_RUN_ID`` names it and ``$BENCH_RECORDS_DIR`` says where its files go
(``make bench`` sets both and removes the folder when the run ends).  Without them
nothing is shared.  A file is scoped to the asv environment and commit too.  The
suite's outcome records (``suite/records.py``) live in the same per-run folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

RUN_ID_ENV = "BENCH_RUN_ID"
RECORDS_DIR_ENV = "BENCH_RECORDS_DIR"
# One asv run can cover several environments and commits (asv.matrix.conf.json): asv
# names them to the processes of a virtualenv (not to those of an existing environment,
# which suite/records.py tells apart by their Python and matrix variables), and a file
# is only valid within the same ones.
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


def scoped_key(fields: dict) -> str:
    scope = {**fields, **{name: os.environ.get(name) for name in SCOPE_ENV}}
    return hashlib.sha256(json.dumps(scope, sort_keys=True, default=str).encode()).hexdigest()[:24]


def shared(name: str, compute):
    """``compute()`` once per run: the first process of the run to need ``name`` stores
    it, the others read it.  Outside an explicit run, simply ``compute()``."""
    run = run_directory()
    if run is None:
        return compute()
    path = run / "shared" / f"{scoped_key({'name': name})}.pickle"
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
