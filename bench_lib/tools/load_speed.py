"""``python -m bench_lib load-speed``: how long ``tidy.load`` and the report take over
many kept runs, measured on copies of a real run.

Each copy is the run's archived asv file and outcome records under a new run id, as a
later run at the same commit would leave them; the copies go to a temporary folder.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench_lib.reporting import store, tidy


def copy_runs(source, target, runs: int) -> str:
    """Fill ``target`` with ``runs`` copies of the latest kept run of ``source``; the
    copied run's id."""
    source, target = Path(source), Path(target)
    archives = sorted((source / store.HISTORY).glob(f"*/*{store.ARCHIVE_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    if not archives:
        raise ValueError(f"{source} keeps no run to copy (no {store.HISTORY}/<machine>/*{store.ARCHIVE_SUFFIX})")
    archive = archives[-1]
    commit, run_id = archive.name[: -len(store.ARCHIVE_SUFFIX)].split("-", 1)
    outcome = source / store.OUTCOMES / f"{commit}-{run_id}.jsonl"
    (target / store.HISTORY / archive.parent.name).mkdir(parents=True)
    (target / store.OUTCOMES).mkdir()
    for index in range(runs):
        copy_id = f"{run_id}-copy{index:03d}"
        shutil.copy(archive, target / store.HISTORY / archive.parent.name / f"{commit}-{copy_id}{store.ARCHIVE_SUFFIX}")
        if outcome.exists():
            shutil.copy(outcome, target / store.OUTCOMES / f"{commit}-{copy_id}.jsonl")
    return run_id


def measure(source="results", benchmark_dir="benchmarks", runs: int = 100, repeats: int = 3) -> dict:
    """Seconds to load ``runs`` copies (median of ``repeats``), and the rows loaded."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "results"
        copied = copy_runs(source, target, runs)
        times, rows = [], 0
        for _ in range(repeats):
            started = time.perf_counter()
            table = tidy.load(target, benchmark_dir)
            times.append(time.perf_counter() - started)
            rows = len(table)
    return {"copied": copied, "runs": runs, "rows": rows, "median_seconds": statistics.median(times), "min_seconds": min(times),
            "max_seconds": max(times)}
