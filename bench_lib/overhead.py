"""``python -m bench_lib overhead``: asv's median against a tight in-process loop.

For every timed cell of a preset whose asv median is at least ``--min-ms``, this prepares
the same cell in this process and times back-to-back calls of the same callable asv
timed; the ratio shows the harness's share of the number.  Run it on a quiet machine
right after the asv run whose results it reads.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from pathlib import Path

from asv.config import Config

from . import presets
from .api import prepare
from .harness import suite_params
from .support import skip_reason


def latest_results_file(results_dir: Path, commit: str) -> Path:
    files = [p for p in results_dir.glob(f"*/{commit[:8]}-*.json")]
    if not files:
        raise SystemExit(f"no asv results for commit {commit[:8]} under {results_dir}; run `make bench` first")
    return max(files, key=lambda p: p.stat().st_mtime)


def asv_medians(results: dict, cells) -> dict:
    """The asv median (its 'result') of each cell's timing benchmark."""
    columns = results["result_columns"]
    names = presets.benchmark_names()
    medians = {}
    for cell in cells:
        timing = next(n for n in names[(cell.workload, cell.model)] if ".time_" in n)
        entry = results["results"].get(timing)
        if entry is None:
            continue
        param_names, _ = suite_params(cell.workload, cell.model)
        combos = list(itertools.product(*entry[columns.index("params")]))
        key = tuple(repr(getattr(cell, name)) for name in param_names)
        if key in combos:
            value = entry[columns.index("result")][combos.index(key)]
            if value is not None and value == value:  # not a failure (None) or skip (NaN)
                medians[cell] = value
    return medians


def tight_loop_median(call, seconds: float = 1.5, batches: int = 7) -> float:
    """Median over batches of the mean time per call in a batch of back-to-back calls."""
    started = time.perf_counter()
    calls = 0
    while time.perf_counter() - started < 0.2 or calls < 2:
        call()
        calls += 1
    per_call = (time.perf_counter() - started) / calls
    batch = max(1, int(seconds / batches / per_call))
    means = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(batch):
            call()
        means.append((time.perf_counter() - t0) / batch)
    return statistics.median(means)


def compare(preset: str, config: str, commit: str, min_ms: float) -> int:
    settings = Config.load(config)
    results = json.loads(latest_results_file(Path(settings.results_dir), commit).read_text())
    cells = [c for c in presets.get(preset).cells() if skip_reason(c) is None]
    medians = asv_medians(results, cells)
    print(f"{'cell':60s} {'asv ms':>9s} {'loop ms':>9s} {'asv/loop':>8s}")
    worst = 0.0
    for cell, asv_seconds in medians.items():
        if asv_seconds * 1e3 < min_ms:
            continue
        prepared = prepare(**cell.as_dict())
        loop = tight_loop_median(prepared.call)
        ratio = asv_seconds / loop
        worst = max(worst, abs(ratio - 1))
        print(f"{cell.label:60s} {asv_seconds * 1e3:9.3f} {loop * 1e3:9.3f} {ratio:8.3f}", flush=True)
    print(f"largest deviation of asv from the tight loop: {worst:.1%}")
    return 0
