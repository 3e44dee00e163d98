"""The overview's side-by-side tables: a case on the CPU beside the same case on a GPU
(strict precision; usually two machines), and a GPU case at strict precision beside
tf32, each backend's best trusted time that computes every output on either side and
the speed-up.  Where no case has both sides the table says so."""

from __future__ import annotations

import pandas as pd
from bokeh.models import ColumnDataSource, DataTable, Div, TableColumn

from bench_lib.reporting.interactive import style
from bench_lib.reporting.units import duration

_CASE = ["workload", "model", "size", "dtype", "K", "optimizer"]


def _best(cells: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Each group's best trusted time that computes every output, with its mode and execution."""
    usable = cells[cells.trusted & cells.complete]
    if usable.empty:
        return usable
    chosen = usable.loc[usable.groupby(keys, dropna=False)["value"].idxmin()]
    return chosen[[*keys, "value", "mode", "execution"]]


def _label(row) -> str:
    text = f"{row.workload}: {row.model} {row.size}, {row.dtype}"
    if row.K is not None and row.K == row.K:
        text += f", K={int(row.K)}, {row.optimizer}"
    return text


def pairs(cells: pd.DataFrame, axis: str) -> pd.DataFrame:
    """``axis`` "device": CPU beside GPU at strict precision; "precision": strict beside
    tf32 on a GPU.  Columns: case, backend, the two sides' machine, time, mode and
    execution (suffixes _a, _b), and speedup = a / b."""
    if axis == "device":
        strict = cells[cells.precision == "strict"]
        a, b = strict[strict.device == "cpu"], strict[strict.device == "gpu"]
        keys, on = ["machine", *_CASE, "backend"], [*_CASE, "backend"]
    elif axis == "precision":
        gpu = cells[cells.device == "gpu"]
        a, b = gpu[gpu.precision == "strict"], gpu[gpu.precision == "tf32"]
        keys, on = ["machine", *_CASE, "backend"], ["machine", *_CASE, "backend"]
    else:
        raise ValueError(f"unknown axis {axis!r}; expected 'device' or 'precision'")
    best_a, best_b = _best(a, keys), _best(b, keys)
    if best_a.empty or best_b.empty:
        return pd.DataFrame()
    joined = best_a.merge(best_b, on=on, suffixes=("_a", "_b"))
    if "machine" in on:
        joined = joined.assign(machine_a=joined.machine, machine_b=joined.machine)
    return joined.assign(case=[_label(r) for r in joined.itertuples()], speedup=joined.value_a / joined.value_b)


def table(cells: pd.DataFrame, axis: str):
    """A sortable table of ``pairs``, or a note that no case has both sides."""
    sides = {"device": ("CPU", "GPU"), "precision": ("strict", "tf32")}[axis]
    found = pairs(cells, axis)
    if found.empty:
        return Div(text=f"<p class='note'>No case has both {sides[0]} and {sides[1]} results here.</p>",
                   name=f"pairs_{axis}")
    source = ColumnDataSource({
        "case": list(found.case), "backend": list(found.backend),
        "a": [f"{duration(v)} ({m} {e}, {machine})" for v, m, e, machine in
              zip(found.value_a, found.mode_a, found.execution_a, found.machine_a)],
        "b": [f"{duration(v)} ({m} {e}, {machine})" for v, m, e, machine in
              zip(found.value_b, found.mode_b, found.execution_b, found.machine_b)],
        "speedup": [style.ratio_text(r) for r in found.speedup],
    })
    columns = [TableColumn(field="case", title="case", width=260), TableColumn(field="backend", title="backend", width=80),
               TableColumn(field="a", title=f"{sides[0]}: best", width=260),
               TableColumn(field="b", title=f"{sides[1]}: best", width=260),
               TableColumn(field="speedup", title=f"{sides[1]} speed-up", width=90)]
    return DataTable(source=source, columns=columns, height=min(420, 30 + 25 * len(found)), index_position=None,
                     sizing_mode="stretch_width", name=f"pairs_{axis}")
