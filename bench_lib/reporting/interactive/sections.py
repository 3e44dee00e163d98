"""One section per workload: selectors for the case (machine, model, size, device,
dtype, precision, and K and optimizer where they apply) over a chart of every backend x
mode x execution of that case; for the Hessian, time and peak memory against n, and for
unrolled optimization against K, one panel per model."""

from __future__ import annotations

import math

import pandas as pd
from bokeh.layouts import column, gridplot, row
from bokeh.models import ColumnDataSource, CustomJS, Div, FactorRange, Legend, LegendItem, Select, Whisker
from bokeh.plotting import figure

from bench_lib.reporting.interactive import style
from bench_lib.reporting.interactive.data import SELECTOR_FIELDS, selector_key
from bench_lib.reporting.units import duration

BAR_HEIGHT = 20  # pixels per cell in a case's chart
PANEL_HEIGHT, LEGEND_ROW, LEGEND_COLUMNS = 330, 16, 3  # a scaling panel, and its legend below it

# Rebuilds the chart when a selector changes: the case's rows were computed in Python
# (CASES), the script only picks them by the selectors' values.
_SELECT_CASE = """
const key = selects.map(s => s.value).join("|");
const rows = cases[key];
if (rows === undefined) {
  source.data = empty;
  plot.y_range.factors = [];
  plot.title.text = "No cells for this choice: " + key.split("|").join(", ");
  return;
}
source.data = rows.data;
plot.y_range.factors = rows.factors;
plot.height = 60 + bar * rows.factors.length;
plot.title.text = rows.title;
"""


def _color(row) -> str:
    if row.status == "ok":
        return style.FASTEST_COLOR if row.fastest else style.BACKEND_COLORS.get(row.backend, "#777")
    return style.SKIPPED_COLOR if row.status == "skipped" else style.FAULT_COLOR


def _case_rows(group: pd.DataFrame) -> dict:
    """The chart's columns for one case: a bar per cell, sorted by backend, mode and
    execution, a skipped or failed cell drawn short and grey or red, with its reason."""
    group = group.iloc[::-1]  # reading order, top down: a y range lists its factors bottom up
    timed = group.value[group.status == "ok"]
    floor = style.rounded(float(timed.min()) / 4) if len(timed) else 1e-6
    factors = [(b, f"{m} {e}") for b, m, e in zip(group.backend, group["mode"], group.execution)]
    ok = group.status == "ok"
    data = {
        "factor": factors,
        "left": [floor] * len(group),
        "right": [style.rounded(v) if o else floor * 1.6 for v, o in zip(group.value, ok)],
        # the note goes right of the bar and of its whisker
        "note_x": [style.rounded(max(v, q)) if o and q == q else style.rounded(v) if o else floor * 1.6
                   for v, q, o in zip(group.value, group.q_75, ok)],
        "q_25": [style.rounded(q) if o else math.nan for q, o in zip(group.q_25, ok)],
        "q_75": [style.rounded(q) if o else math.nan for q, o in zip(group.q_75, ok)],
        "color": [_color(r) for r in group.itertuples()],
        "backend": list(group.backend),
        "cell": [f"{m} {e}" for m, e in zip(group["mode"], group.execution)],
        "time": [duration(v) if o else "" for v, o in zip(group.value, ok)],
        "status": list(group.status),
        "note": [_note(r) for r in group.itertuples()],
        "result": [_result(r) for r in group.itertuples()],
    }
    first = group.iloc[0]
    return {"data": data, "factors": factors, "title": f"{first.case.split(' | ', 1)[1]} ({first.machine})"}


def _result(row) -> str:
    """What the hover says of a cell: its time, spread, ratio and peak memory, or its
    status and reason."""
    if row.status != "ok":
        reason = row.reason if isinstance(row.reason, str) else ""
        return f"{row.status}: {reason}" if reason else row.status
    text = f"{duration(row.value)} [{duration(row.q_25)}, {duration(row.q_75)}]"
    if row.ratio_to_fastest == row.ratio_to_fastest:
        text += f", {style.ratio_text(row.ratio_to_fastest)} the fastest"
    memory = style.mebibytes(row.peak_memory_bytes)
    return text + (f", peak memory {memory}" if memory else "")


def _note(row) -> str:
    if row.status != "ok":
        return row.status
    if row.fastest:
        return "fastest"
    if not row.complete:  # first-order MAML, forward-mode unrolling: never the fastest
        return f"{style.ratio_text(row.ratio_to_fastest)} (computes less)"
    flags = [flag for flag, on in (("unstable", row.unstable), ("contended", row.contended),
                                   ("implausible", isinstance(row.implausible, str))) if on]
    return ", ".join(flags) if flags else style.ratio_text(row.ratio_to_fastest)


def case_chart(cells: pd.DataFrame, workload: str):
    """Selectors and the chart of one case of ``workload``, the first case shown."""
    part = cells[cells.workload == workload]
    cases = {selector_key(group.iloc[0]): _case_rows(group) for _, group in part.groupby("case", sort=False)}
    first = next(iter(cases.values()))
    source = ColumnDataSource(first["data"])
    plot = figure(name=f"case_{workload}", y_range=FactorRange(*first["factors"]), x_axis_type="log",
                  height=60 + BAR_HEIGHT * len(first["factors"]), sizing_mode="stretch_width", title=first["title"],
                  tools="hover,xwheel_zoom,reset,save", toolbar_location="below", x_axis_label="time per call")
    plot.x_range.range_padding = 0.3  # room for the labels right of the longest bar
    plot.hbar(y="factor", left="left", right="right", height=0.75, color="color", source=source)
    plot.add_layout(Whisker(base="factor", lower="q_25", upper="q_75", dimension="width", source=source,
                            line_color="#333"))
    plot.text(x="note_x", y="factor", text="note", source=source, x_offset=6, text_baseline="middle",
              text_font_size="10px")
    plot.hover.tooltips = [("cell", "@backend @cell"), ("", "@result")]
    plot.yaxis.major_label_text_font_size = "11px"
    plot.xaxis.formatter = style.seconds_ticks()
    fields = ["machine", *SELECTOR_FIELDS]
    keys = [key.split("|") for key in cases]
    first_key = keys[0]
    selects = []
    for position, field in enumerate(fields):
        values = list(dict.fromkeys(key[position] for key in keys))
        selects.append(Select(title=field, value=first_key[position], options=values, width=130,
                              name=f"select_{workload}_{field}", visible=len(values) > 1 or values != ["-"]))
    empty = {name: [] for name in first["data"]}
    callback = CustomJS(args=dict(selects=selects, cases=cases, source=source, plot=plot, empty=empty,
                                  bar=BAR_HEIGHT), code=_SELECT_CASE)
    for select in selects:
        select.js_on_change("value", callback)
    return column(row(*selects, sizing_mode="stretch_width"), plot, sizing_mode="stretch_width",
                  name=f"section_{workload}")


def _scaling_panels(cells: pd.DataFrame, workload: str, against: str, label: str):
    """Time and peak memory against ``against`` (n or K), one panel per model; a line per
    backend x mode x execution (x optimizer), each backend's best line shown and the
    others one click away in the legend."""
    part = cells[(cells.workload == workload) & (cells.status == "ok") & (cells.dtype == "float32")]
    panels = []
    for model, group in part.groupby("model", sort=False):
        for metric, axis_label in (("value", "time per call"), ("peak_memory_bytes", "peak memory")):
            plot = figure(height=PANEL_HEIGHT, sizing_mode="stretch_width", x_axis_type="log", y_axis_type="log",
                          title=f"{model}: {'time' if metric == 'value' else 'peak memory'} against {label}",
                          x_axis_label=label, y_axis_label=axis_label, tools="hover,save,reset",
                          toolbar_location="below")
            items = []
            series = list(group.groupby(["machine", "device", "precision", "backend", "mode", "execution",
                                         "optimizer"], dropna=False, sort=False))
            best = _best_series(group)
            for key, line in series:
                machine, device, precision, backend, mode, execution, optimizer = key
                line = line.dropna(subset=[metric]).sort_values(against)
                if line.empty:
                    continue
                name = f"{backend} {mode} {execution}" + ("" if optimizer is None or optimizer != optimizer
                                                          else f" {optimizer}")
                source = ColumnDataSource({"x": line[against].astype(float),
                                           "y": [style.rounded(v) for v in line[metric].astype(float)],
                                           "text": [duration(v) if metric == "value" else style.mebibytes(v)
                                                    for v in line[metric]],
                                           "name": [name] * len(line), "size": list(line["size"])})
                visible = (machine, device, precision, backend, mode, execution, optimizer) in best
                dash = "dashed" if optimizer == "momentum" else "solid"
                # one renderer per line (markers would double the page's size)
                glyph = plot.line("x", "y", source=source, color=style.BACKEND_COLORS.get(backend, "#777"),
                                  line_dash=dash, line_width=2.5, visible=visible)
                items.append(LegendItem(label=name, renderers=[glyph]))
            # below the panel, three to a row, the panel growing with them (a legend taller
            # than its panel would spill over the page)
            plot.add_layout(Legend(items=items, click_policy="hide", label_text_font_size="9px", ncols=LEGEND_COLUMNS,
                                   spacing=0, padding=4, glyph_height=12, label_height=12), "below")
            plot.height = PANEL_HEIGHT + LEGEND_ROW * -(-len(items) // LEGEND_COLUMNS)
            plot.hover.tooltips = [("line", "@name"), ("size", "@size"), (label, "@x"), ("value", "@text")]
            plot.yaxis.formatter = style.seconds_ticks() if metric == "value" else style.bytes_ticks()
            panels.append(plot)
    if not panels:
        return Div(text=f"<p>No verified float32 {workload} cells in these results.</p>")
    return gridplot(panels, ncols=2, sizing_mode="stretch_width", toolbar_location=None)


def _best_series(group: pd.DataFrame) -> set:
    """Each backend's fastest complete line at the largest size or K it ran."""
    complete = group[group.complete]
    chosen = set()
    for _, backend_rows in complete.groupby(["machine", "device", "precision", "backend", "optimizer"], dropna=False):
        top = backend_rows[backend_rows.n == backend_rows.n.max()] if "n" in backend_rows else backend_rows
        if "K" in top and top.K.notna().any():
            top = backend_rows[backend_rows.K == backend_rows.K.max()]
        best = top.loc[top.value.idxmin()]
        chosen.add((best.machine, best.device, best.precision, best.backend, best["mode"], best.execution,
                    best.optimizer))
    return chosen


def hessian_scaling(cells: pd.DataFrame):
    return _scaling_panels(cells, "hessian", "n", "n (parameters)")


def unrolled_scaling(cells: pd.DataFrame):
    return _scaling_panels(cells.assign(K=cells.K.astype(float)), "unrolled", "K", "K (inner steps)")


def scaling_note() -> str:
    return ("float32 cells; a line per backend, mode and execution (dashed: momentum). Each backend's fastest line "
            "is shown; click a legend entry to show or hide the others.")

