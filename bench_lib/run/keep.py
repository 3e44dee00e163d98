"""No run lost to a full disk.  asv rewrites a commit's result file in place (its JSON
writer is not atomic), and that file holds every earlier run of the commit: a full
disk or a killed asv leaves it cut short.  So a run starts only with room to work, and
each ``asv run`` goes with a copy of the commit's files, put back over any file asv
left unreadable, and over every file after a run of uncommitted code, whose numbers are
not the commit's (they stay in the run's archive only)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from bench_lib.run.control import RECORDS

MIN_FREE_ENV = "BENCH_MIN_FREE_MB"
MIN_FREE_MB = 200  # asv's result files, the suite's copies and archives, the logs and the report


def check_free_space(results_dir: Path) -> None:
    """A ValueError naming the folder, the space free and the space needed, when there
    is less than $BENCH_MIN_FREE_MB (default MIN_FREE_MB) where the results go."""
    raw = os.environ.get(MIN_FREE_ENV, "").strip()
    try:
        need_mb = float(raw) if raw else MIN_FREE_MB
    except ValueError:
        need_mb = -1.0
    if not 0 <= need_mb < float("inf"):
        raise ValueError(f"{MIN_FREE_ENV} must be a number of megabytes, 0 or more, got {raw!r}")
    existing = Path(results_dir)
    while not existing.exists():
        existing = existing.parent
    free_mb = shutil.disk_usage(existing).free / 2**20
    if free_mb < need_mb:
        raise ValueError(
            f"only {free_mb:.0f} MB free for {results_dir}; a run needs {need_mb:.0f} MB (asv rewrites the commit's "
            f"result file, the suite keeps copies): free some space (or set {MIN_FREE_ENV})"
        )


def _whole(path: Path) -> bool:
    try:
        json.loads(path.read_text())
        return True
    except (OSError, ValueError):
        return False


@contextmanager
def commit_files_kept(results_dir: Path, commit: str, token: str, put_back: bool = False):
    """Copies of the commit's asv result files while the block runs asv; any file asv
    leaves unreadable gets its copy back, said on stderr.  With ``put_back`` (a run of
    uncommitted code) every file does, and a file asv made new is removed."""
    store = Path(results_dir) / RECORDS / f"{token}-kept"
    kept = {}
    for path in _commit_files(results_dir, commit):
        copy = store / path.parent.name / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
        kept[path] = copy
    try:
        yield kept
    finally:
        for path, copy in kept.items():
            if put_back:
                os.replace(copy, path)
            elif not _whole(path):
                os.replace(copy, path)
                print(f"asv could not write {path} whole (a full disk?): the copy from before this asv run is back, "
                      "with every earlier run of the commit", file=sys.stderr)
        if put_back:
            for path in set(_commit_files(results_dir, commit)) - set(kept):
                path.unlink()
        shutil.rmtree(store, ignore_errors=True)


def _commit_files(results_dir: Path, commit: str) -> list[Path]:
    return sorted(Path(results_dir).glob(f"*/{commit[:8]}-*.json"))
