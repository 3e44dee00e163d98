"""``python -m bench_lib scaling``: how the time and the peak memory of each strategy of
a workload grow with the number of parameters n, or with one of the workload's keyword
parameters (``--against K``: unrolled optimization's inner steps), on the CPU.

For every supported cell of the workload's CPU sizes (one worker process per backend,
cells one after another), the cell is prepared as for asv (verified, warmed up, its
peak memory measured on a warm call), then timed: the median over 5 batches of calls
of about 0.2 s each; a call of a second or more (loops of HVPs, up to minutes) is
timed by its fastest warm-up call instead, not called again.  Then, per
strategy (backend, mode, execution), model and the other keyword values, the slope of
log(time) and of log(memory) against log(n) (or log(K)), fitted by least squares over
the sizes (or values): 1 is linear, 2 quadratic (a dense Hessian has n**2 entries), 0
flat.
"""

from __future__ import annotations

import json
import statistics
import sys


from bench_lib.core import presets, workloads
from bench_lib.backends.support import skip_reason
from bench_lib.reporting.fit import slope
from bench_lib.tools.workers import WorkerFailed, stream

SLOW_CALL_SECONDS = 1.0


def cells_to_measure(workload: str, dtype: str, backends, models, keywords=None):
    spec = workloads.get(workload)  # a ValueError naming an unknown workload
    unknown = set(keywords or {}) - set(spec.parameters)
    if unknown:
        raise ValueError(f"workload {workload!r} takes no parameter {sorted(unknown)[0]!r}")
    selection = presets.Selection(
        workloads=(workload,), models=tuple(models), backends=tuple(backends), devices=("cpu",), dtypes=(dtype,),
        gpu_sizes=False, keywords=dict(keywords or {}),
    )
    for cell in selection.cells():
        if not skip_reason(cell):
            yield cell


def _measure(cell) -> dict:
    from bench_lib.verification.prepare import prepare
    from bench_lib.tools.timing import batch_mean

    prepared = prepare(**cell.as_dict())
    warm = prepared.warm_call_seconds
    if warm >= SLOW_CALL_SECONDS:
        seconds = [warm]
    else:
        calls = max(1, int(0.2 / warm))
        seconds = [batch_mean(prepared.call, calls) for _ in range(5)]
    return {
        "n": cell.case.n_params, "seconds": statistics.median(seconds), "first_call": prepared.first_call_seconds,
        "peak_bytes": prepared.peak_memory_bytes, "margin": prepared.verdict.margin,
    }


def _worker() -> None:
    from bench_lib.core.cells import Cell

    for data in json.loads(sys.stdin.read())["cells"]:
        cell = Cell(**data)
        try:
            row = _measure(cell)
        except Exception as error:  # reported, and the other cells still run
            row = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps({"cell": data, **row}), flush=True)


def _x(row: dict, against: str):
    return row["n"] if against == "n" else dict(row["cell"]["keywords"])[against]


def fit(rows: list[dict], against: str = "n") -> list[dict]:
    """One row per (backend, mode, execution, model, other keywords): the values of
    ``against`` (n, or a keyword parameter) and both slopes."""
    groups: dict[tuple, list] = {}
    for row in rows:
        if "error" not in row:
            c = row["cell"]
            others = tuple((name, value) for name, value in c.get("keywords", ()) if name != against)
            groups.setdefault((c["backend"], c["mode"], c["execution"], c["model"], others), []).append(row)
    fitted = []
    for key, members in groups.items():
        members.sort(key=lambda r: _x(r, against))
        ns = [_x(r, against) for r in members]
        fitted.append({
            "strategy": key, "n": ns,
            "time_slope": slope(ns, [r["seconds"] for r in members]),
            "memory_slope": slope(ns, [r["peak_bytes"] for r in members]),
        })
    return fitted


def _label(cell: dict) -> str:
    keywords = "".join(f"/{name}={value}" for name, value in cell.get("keywords", ()))
    return f"{cell['backend']}/{cell['mode']}/{cell['execution']}/{cell['model']}-{cell['size']}{keywords}"


def run(workload: str, dtype: str, backends, models, json_path: str | None, against: str = "n", keywords=None) -> int:
    spec = workloads.get(workload)
    if against != "n" and against not in spec.parameters:
        raise ValueError(f"--against {against!r}: expected 'n' or a parameter of {workload!r}: {tuple(spec.parameters)}")
    cells = list(cells_to_measure(workload, dtype, backends, models, keywords))
    by_backend: dict[str, list] = {}
    for cell in cells:
        by_backend.setdefault(cell.backend, []).append(cell.as_dict())
    print(f"{len(cells)} supported {workload} cells, CPU, {dtype}; one worker process per backend")
    print(f"{'cell':72s} {'n':>6s} {'seconds':>10s} {'first s':>8s} {'peak MiB':>9s}")
    rows, failed = [], 0
    for backend, members in by_backend.items():
        try:
            for row in stream("bench_lib.tools.scaling", {"cells": members}):
                rows.append(row)
                if "error" in row:
                    failed += 1
                    print(f"{_label(row['cell']):72s} failed: {row['error']}", flush=True)
                    continue
                peak = "n/a" if row["peak_bytes"] is None else f"{row['peak_bytes'] / 2**20:.1f}"
                print(
                    f"{_label(row['cell']):72s} {row['n']:6d} {row['seconds']:10.4g} {row['first_call']:8.2f} {peak:>9s}",
                    flush=True,
                )
        except WorkerFailed as error:
            print(f"{backend}: {error}")
            failed += 1
    fitted = fit(rows, against)
    print(f"\n{'strategy':72s} {against:>18s} {'time slope':>10s} {'memory slope':>12s}")
    for row in fitted:
        backend, mode, execution, model, others = row["strategy"]
        label = "/".join([backend, mode, execution, model, *(f"{name}={value}" for name, value in others)])
        ns = ",".join(str(n) for n in row["n"])
        time_slope = "n/a" if row["time_slope"] is None else f"{row['time_slope']:.2f}"
        memory_slope = "n/a" if row["memory_slope"] is None else f"{row['memory_slope']:.2f}"
        print(f"{label:72s} {ns:>18s} {time_slope:>10s} {memory_slope:>12s}")
    if json_path:
        with open(json_path, "w") as out:
            json.dump({"cells": rows, "fits": fitted}, out, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    _worker()
