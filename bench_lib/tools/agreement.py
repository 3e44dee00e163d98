"""``python -m bench_lib agreement``: asv's number for a cell against a tight loop, in
pairs of fresh processes run one after the other, repeated.

One pair: ``asv run`` of the cell's timing benchmark alone (its own process, as in a
real run; nothing is saved), then a new process that prepares the same cell and times
a tight loop over it.  Both see the machine as it is at that moment, so the spread of
the per-pair ratios shows how far a single asv run can be trusted here.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

from bench_lib.core import presets
from bench_lib.core.cells import Cell
from bench_lib.suite import asv_output, grid

def asv_median(cell: Cell, config: str, benchmark_dir: str) -> float | None:
    [regex] = [r for r in grid.asv_regexes([cell], benchmark_dir) if ".time_" in r]
    run = subprocess.run(
        [sys.executable, "-m", "asv", "run", "--config", config, "--python=same", "--bench", regex],
        capture_output=True, text=True, check=False,
    )
    return asv_output.table_time(run.stdout, grid.suite_values(cell))


_LOOP = """
import json, sys
from bench_lib import prepare
from bench_lib.tools.overhead import tight_loop_median
print(tight_loop_median(prepare(**json.loads(sys.argv[1])).call))
"""


def loop_median(cell: Cell) -> float:
    import json

    run = subprocess.run(
        [sys.executable, "-c", _LOOP, json.dumps(cell.as_dict(), default=str)],
        capture_output=True, text=True, check=True,
    )
    return float(run.stdout.strip().splitlines()[-1])


def compare(labels: list[str], pairs: int, config: str) -> int:
    cells = {cell.label: cell for cell in presets.get("full").cells()}
    unknown = [label for label in labels if label not in cells]
    if unknown:
        raise ValueError(f"unknown cells {unknown}; `python -m bench_lib cells --preset full` lists them")
    benchmark_dir = str(Path("benchmarks").resolve())
    for label in labels:
        ratios = []
        for index in range(pairs):
            asv = asv_median(cells[label], config, benchmark_dir)
            if asv is None:
                print(f"{label}: asv recorded no time (skipped or failed)")
                break
            loop = loop_median(cells[label])
            ratios.append(asv / loop)
            print(f"{label} pair {index + 1}: asv {asv * 1e3:.3f} ms, loop {loop * 1e3:.3f} ms, {asv / loop:.3f}", flush=True)
        if ratios:
            print(
                f"{label}: asv/loop median {statistics.median(ratios):.3f}, "
                f"range {min(ratios):.3f}-{max(ratios):.3f} over {len(ratios)} pairs",
                flush=True,
            )
    return 0
