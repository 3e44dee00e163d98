"""What the interactive report shows, as plain pandas: one row per cell (its latest
measurement per machine) with its time, spread, status and reason, peak memory,
verification margin, n, the ratio to the fastest cell of its case and the address of
its asv dashboard page; and the case each cell belongs to.

A case is what a reader compares backends within: a workload at one model, size,
device, dtype, precision (and K and optimizer for unrolled optimization) on one
machine.  Its cells are every backend x mode x execution.
"""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pandas as pd

from bench_lib.core.cells import Cell
from bench_lib.core.models import size_from_text, spec
from bench_lib.reporting import tidy
from bench_lib.reporting.units import duration
from bench_lib.reporting.views import computes_every_output
from bench_lib.suite import grid

# The fields that make a case, in the order selectors and labels show them.
CASE_FIELDS = ("machine", "workload", "model", "size", "device", "dtype", "precision", "K", "optimizer")
SELECTOR_FIELDS = CASE_FIELDS[2:]  # the workload is the section, the machine a selector of its own
# Where a metric's value comes from in the tidy table, beside the time.
EXTRA_METRICS = {"peak_memory": "peak_memory_bytes", "first_call": "first_call_seconds"}


def cells(table: pd.DataFrame, benchmark_dir="benchmarks") -> pd.DataFrame:
    """One row per cell and machine, from the latest run that measured it: every status,
    with the numbers a reader needs beside each other."""
    latest = tidy.as_objects(tidy.latest_measurements(table))
    timed = latest[latest.metric == "time"].copy()
    if timed.empty:
        return timed.assign(case="", ratio_to_fastest=np.nan, fastest=False)
    keys = ["machine", *tidy.CELL]
    for metric, column in EXTRA_METRICS.items():
        values = latest[(latest.metric == metric) & (latest.status == tidy.OK)][keys + ["value"]]
        timed = timed.merge(values.rename(columns={"value": column}), on=keys, how="left")
    timed["K"] = timed["K"].astype(object).where(timed["K"].notna(), None)
    timed["optimizer"] = timed["optimizer"].astype(object).where(timed["optimizer"].notna(), None)
    timed["n"] = [spec(model, size_from_text(model, size)).n_params for model, size in zip(timed.model, timed["size"])]
    timed = _in_reading_order(timed)
    timed["case"] = [case_label(row) for row in timed.itertuples()]
    timed["trusted"] = (timed.status == tidy.OK) & ~timed.unstable.astype(bool) & ~timed.contended.astype(bool) & (
        timed.implausible.isna())
    timed["complete"] = [computes_every_output(w, m) for w, m in zip(timed.workload, timed["mode"])]
    best = timed[timed.trusted & timed.complete].groupby("case")["value"].min()
    timed["ratio_to_fastest"] = timed["value"] / timed["case"].map(best)
    timed["fastest"] = timed.ratio_to_fastest.eq(1.0) & timed.trusted & timed.complete
    timed["dashboard"] = dashboard_links(timed, benchmark_dir)
    return timed.reset_index(drop=True)


def _in_reading_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases in the suite's order: workload, model, then size, device, dtype, precision,
    K and optimizer; within a case, backend, mode and execution."""
    orders = {field: {value: i for i, value in enumerate(tidy.CATEGORIES[field])}
              for field in ("workload", "model", "backend", "mode", "execution", "device", "dtype", "precision",
                            "optimizer")}
    keys = frame.assign(**{f"_{field}": frame[field].map(order) for field, order in orders.items()},
                        _K=frame["K"].astype(float))
    columns = ["machine", "_workload", "_model", "n", "_device", "_dtype", "_precision", "_K", "_optimizer", "_backend",
               "_mode", "_execution"]
    return frame.loc[keys.sort_values(columns, kind="stable").index]


def case_label(row) -> str:
    """``hvp: mlp M, cpu, float32`` (with the precision when not strict, K and the
    optimizer for unrolled optimization, and the machine first)."""
    text = f"{row.workload}: {row.model} {row.size}, {row.device}, {row.dtype}"
    if row.precision != "strict":
        text += f", {row.precision}"
    if row.K is not None and not (isinstance(row.K, float) and np.isnan(row.K)):
        text += f", K={int(row.K)}, {row.optimizer}"
    return f"{row.machine} | {text}"


def shown_case(case: str, machines: int) -> str:
    """A case's label without its machine when the page has one machine."""
    return case.split(" | ", 1)[1] if machines == 1 else case


def selector_key(row: pd.Series) -> str:
    """The key the page's selectors build for a case of a workload: its fields joined."""
    return "|".join(_text(row[field]) for field in ("machine", *SELECTOR_FIELDS))


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def dashboard_links(frame: pd.DataFrame, benchmark_dir="benchmarks") -> list[str | None]:
    """Each cell's page on asv's dashboard (``html/index.html``): its timing benchmark,
    with the machine and every parameter of the cell selected."""
    suite = grid.benchmarks(benchmark_dir)
    links = []
    for row in frame.itertuples():
        keywords = {name: value for name, value in (("K", row.K), ("optimizer", row.optimizer)) if value is not None}
        if "K" in keywords:
            keywords["K"] = int(keywords["K"])
        cell = Cell(row.workload, row.backend, row.mode, row.execution, row.model, size_from_text(row.model, row.size),
                    row.device, row.dtype, keywords=tuple(sorted(keywords.items())), precision=row.precision)
        benchmark = grid.timing_benchmark(cell, suite)
        if benchmark is None:
            links.append(None)
            continue
        names, _ = grid.suite_params(cell.workload, cell.model)
        parameters = "".join(f"&p-{quote(name)}={quote(repr(value))}"
                             for name, value in zip(names, grid.suite_values(cell), strict=True))
        links.append(f"#{benchmark.name}?machine={quote(str(row.machine))}{parameters}")
    return links


def best_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """The overview: per case and backend, the backend's fastest trusted complete cell,
    its time over the case's fastest, and its mode and execution; a backend with no such
    cell shows why (every cell skipped, or failed)."""
    rows = []
    for case, group in frame.groupby("case", sort=False):
        first = group.iloc[0]
        for backend, cells_ in group.groupby("backend", sort=False):
            contenders = cells_[cells_.trusted & cells_.complete]
            if len(contenders):
                best = contenders.loc[contenders.value.idxmin()]
                rows.append({**_case_fields(first), "case": case, "backend": backend, "seconds": best.value,
                             "ratio": best.ratio_to_fastest, "label": f"{best.ratio_to_fastest:.2f}x {best['mode']} "
                             f"{best.execution}", "time": duration(best.value), "mode": best["mode"],
                             "execution": best.execution, "status": "ok"})
            else:
                statuses = sorted(set(cells_.status))
                rows.append({**_case_fields(first), "case": case, "backend": backend, "seconds": np.nan,
                             "ratio": np.nan, "label": "/".join(statuses), "time": "", "mode": "", "execution": "",
                             "status": "/".join(statuses)})
    return pd.DataFrame(rows)


def _case_fields(row) -> dict:
    return {field: row[field] for field in CASE_FIELDS}


def answer(frame: pd.DataFrame, case: str) -> dict | None:
    """The case's fastest cell and its ratio to the next backend's best: what the
    overview says for that case."""
    matrix = best_matrix(frame[frame.case == case])
    ranked = matrix.dropna(subset=["seconds"]).sort_values("seconds")
    if ranked.empty:
        return None
    first = ranked.iloc[0]
    following = ranked.iloc[1] if len(ranked) > 1 else None
    return {
        "backend": first.backend, "mode": first["mode"], "execution": first.execution, "seconds": first.seconds,
        "next_backend": None if following is None else following.backend,
        "next_ratio": None if following is None else following.seconds / first.seconds,
    }
