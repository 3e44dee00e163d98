"""The cells as a table for people: times in µs, ms or s, ratios with two decimals,
sortable by any column, filtered by words typed into a box; no run ids and no empty
columns (the full tidy table is the CSV and Parquet beside the page)."""

from __future__ import annotations

import math

import pandas as pd
from bokeh.layouts import column
from bench_lib.reporting.interactive import style
from bench_lib.reporting.interactive.data import shown_case
from bokeh.models import (
    CDSView, ColumnDataSource, CustomJS, DataTable, HTMLTemplateFormatter, IndexFilter, NumberFormatter, TableColumn,
    TextInput,
)

# Seconds in the largest unit that keeps three significant digits at least 1.
SECONDS = """<%= (value == null || isNaN(value)) ? "" : value >= 1 ? value.toPrecision(3) + " s"
 : value >= 1e-3 ? (value * 1e3).toPrecision(3) + " ms" : (value * 1e6).toPrecision(3) + " µs" %>"""
_MEBIBYTES = """<%= (value == null || isNaN(value)) ? "" : (value / 1048576).toPrecision(3) + " MiB" %>"""
_LINK = """<% if (value) { %><a href="{dashboard}<%= value %>" target="_blank">asv</a><% } %>"""

# Keeps the rows whose text holds every word typed (case-insensitive).
FILTER = """
const words = box.value_input.toLowerCase().split(/\\s+/).filter(w => w.length > 0);
const data = source.data;
const kept = [];
for (let i = 0; i < data[fields[0]].length; i++) {
  const text = fields.map(f => String(data[f][i] ?? "")).join(" ").toLowerCase();
  if (words.every(w => text.includes(w))) kept.push(i);
}
view.filter.indices = kept;
source.change.emit();
"""

# A reason's first characters (the case charts show it whole on hover, the CSV has it).
REASON_CHARACTERS = 140
COLUMNS = (  # field, title, formatter kind, width
    ("case", "case", None, 260), ("backend", "backend", None, 80), ("mode", "mode", None, 90),
    ("execution", "execution", None, 80), ("status", "status", None, 70), ("value", "time", "seconds", 75),
    ("q_25", "q25", "seconds", 70), ("q_75", "q75", "seconds", 70), ("ratio_to_fastest", "/ fastest", "ratio", 70),
    ("peak_memory_bytes", "peak memory", "mebibytes", 90), ("margin", "error / tol.", "ratio3", 75),
    ("reason", "reason", None, 320), ("dashboard", "asv", "link", 40),
)


def _short(text: str, limit: int = REASON_CHARACTERS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _formatter(kind: str | None, dashboard: str):
    if kind == "seconds":
        return HTMLTemplateFormatter(template=SECONDS)
    if kind == "mebibytes":
        return HTMLTemplateFormatter(template=_MEBIBYTES)
    if kind == "ratio":
        return NumberFormatter(format="0.00", nan_format="")
    if kind == "ratio3":
        return NumberFormatter(format="0.000", nan_format="")
    if kind == "link":
        return HTMLTemplateFormatter(template=_LINK.replace("{dashboard}", dashboard))
    return None


def cells_table(cells: pd.DataFrame, dashboard: str):
    """Every cell, sortable and filterable; a column nothing in these results fills is
    left out."""
    shown = [c for c in COLUMNS if c[0] in cells and cells[c[0]].notna().any()]
    data = {}
    for field, *_ in shown:
        values = cells[field]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            data[field] = [style.rounded(v) for v in values.astype(float)]
        else:
            data[field] = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else _short(str(v)) for v in values]
    data["case"] = [shown_case(case, cells.machine.nunique()) for case in cells.case]
    source = ColumnDataSource(data)
    view = CDSView(filter=IndexFilter(indices=list(range(len(cells)))))
    table = DataTable(
        source=source, view=view, name="cells_table", sizing_mode="stretch_width", height=520, index_position=None,
        columns=[TableColumn(field=field, title=title, width=width, formatter=_formatter(kind, dashboard) or
                             TableColumn().formatter) for field, title, kind, width in shown],
    )
    box = TextInput(title="filter (every word must appear: 'hvp jax compiled skipped')", name="cells_filter",
                    sizing_mode="stretch_width")
    text_fields = [field for field, _, kind, _ in shown if kind is None]
    box.js_on_change("value_input", CustomJS(args=dict(box=box, source=source, view=view, fields=text_fields),
                                             code=FILTER))
    return column(box, table, sizing_mode="stretch_width", name="tables")
