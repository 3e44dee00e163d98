"""``compare OLD NEW --html PATH`` as a page: a bar per cell that changed or could not
be decided (new time over old, on a log scale, coloured by its verdict), regressions
first, then improvements, then the undecided; the counts of every verdict; and every
cell of either run in a sortable, filterable table."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from bokeh.core.templates import get_env
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import (
    CDSView, ColumnDataSource, CustomJS, DataTable, FactorRange, HTMLTemplateFormatter, IndexFilter, NumberFormatter,
    Span, TableColumn, TextInput,
)
from bokeh.plotting import figure
from bokeh.resources import INLINE

from bench_lib.reporting.interactive import style
from bench_lib.reporting.interactive.tables import FILTER, SECONDS
from bench_lib.reporting.units import duration

VERDICT_COLORS = {
    "slower": style.FAULT_COLOR, "newly failing": "#a50026", "faster": style.FASTEST_COLOR, "fixed": "#006837",
    "contended": "#bbbbbb", "unstable": "#bbbbbb", "not comparable": "#999999", "unchanged": "#4a90d9",
}
BAR_HEIGHT = 18

_TEMPLATE = get_env().from_string("""{% extends base %}
{% block postamble %}<style>{{ css }}</style>{% endblock %}
{% block contents %}
<h1>{{ heading }}</h1>
<p>{{ counts }}</p>
{{ notes }}
<h2>Cells that changed or could not be decided</h2>
<p class="note">New time over old, on a log scale: regressions (slower, newly failing) first, then improvements, then
cells whose times decide nothing (contended, unstable, not comparable). A failing side has no bar length: hover for the
statuses.</p>
{{ embed(roots.changes) }}
<h2>Every cell</h2>
{{ embed(roots.compared) }}
{% endblock %}""")


def page(table: pd.DataFrame, sections, counts: str, heading: str, notes: list[str]) -> str:
    """The page of ``table`` (``compare.verdicts``): ``sections`` are (title, verdicts)
    in the order they are listed."""
    order = {verdict: rank for rank, (_, verdicts) in enumerate(sections) for verdict in verdicts}
    listed = table[table.verdict.isin(order)].copy()
    listed["rank"] = listed.verdict.map(order)
    listed["distance"] = -np.abs(np.log(listed.ratio.astype(float))).fillna(0)
    listed = listed.sort_values(["rank", "distance"])
    roots = [_changes(listed), _every_cell(table)]
    notes_html = "".join(f"<p class='note'>{html.escape(note)}</p>" for note in notes)
    return file_html(roots, INLINE, heading, template=_TEMPLATE, template_variables={
        "heading": html.escape(heading), "counts": html.escape(counts), "notes": notes_html, "css": style.PAGE_CSS})


def _label(row) -> str:
    text = f"{row.workload} {row.model} {row.size} {row.backend} {row.mode} {row.execution} {row.device} {row.dtype}"
    if row.precision != "strict":
        text += f" {row.precision}"
    if pd.notna(row.K):
        text += f" K={int(row.K)} {row.optimizer}"
    return text


def _changes(listed: pd.DataFrame):
    labels = [_label(row) for row in listed.itertuples()][::-1]  # the first on top
    ratios = listed.ratio.astype(float).fillna(1.0)[::-1]
    source = ColumnDataSource({
        "label": labels, "left": [1.0] * len(labels), "right": [style.rounded(r) for r in ratios],
        "color": [VERDICT_COLORS.get(v, "#777") for v in listed.verdict[::-1]],
        "verdict": list(listed.verdict[::-1]),
        "old": [duration(v) if pd.notna(v) else "" for v in listed.old_seconds[::-1]],
        "new": [duration(v) if pd.notna(v) else "" for v in listed.new_seconds[::-1]],
        "ratio": [style.ratio_text(r) for r in listed.ratio[::-1]],
        "statuses": [f"{a} -> {b}" for a, b in zip(listed.status_old[::-1], listed.status_new[::-1])],
    })
    plot = figure(name="changes", y_range=FactorRange(*labels), x_axis_type="log", sizing_mode="stretch_width",
                  height=70 + BAR_HEIGHT * max(len(labels), 1), tools="hover,save", toolbar_location="below",
                  x_axis_label="new time / old time", title="" if labels else "every cell unchanged")
    plot.hbar(y="label", left="left", right="right", height=0.75, color="color", source=source)
    plot.add_layout(Span(location=1.0, dimension="height", line_color="#333"))
    plot.hover.tooltips = [("cell", "@label"), ("verdict", "@verdict"), ("old", "@old"), ("new", "@new"),
                           ("new / old", "@ratio"), ("status", "@statuses")]
    plot.yaxis.major_label_text_font_size = "10px"
    return plot


def _every_cell(table: pd.DataFrame):
    data = {
        "cell": [_label(row) for row in table.itertuples()], "verdict": list(table.verdict),
        "old": [style.rounded(v) for v in table.old_seconds.astype(float)],
        "new": [style.rounded(v) for v in table.new_seconds.astype(float)],
        "ratio": [style.rounded(v) for v in table.ratio.astype(float)],
        "status_old": [str(s) if pd.notna(s) else "" for s in table.status_old],
        "status_new": [str(s) if pd.notna(s) else "" for s in table.status_new],
    }
    source = ColumnDataSource(data)
    view = CDSView(filter=IndexFilter(indices=list(range(len(table)))))
    seconds = HTMLTemplateFormatter(template=SECONDS)
    columns = [TableColumn(field="cell", title="cell", width=420), TableColumn(field="verdict", title="verdict"),
               TableColumn(field="old", title="old", formatter=seconds),
               TableColumn(field="new", title="new", formatter=seconds),
               TableColumn(field="ratio", title="new / old", formatter=NumberFormatter(format="0.00", nan_format="")),
               TableColumn(field="status_old", title="old status"), TableColumn(field="status_new", title="new status")]
    grid = DataTable(source=source, view=view, columns=columns, sizing_mode="stretch_width", height=480,
                     index_position=None)
    box = TextInput(title="filter (every word must appear: 'slower jax')", sizing_mode="stretch_width")
    box.js_on_change("value_input", CustomJS(args=dict(box=box, source=source, view=view,
                                                       fields=["cell", "verdict", "status_old", "status_new"]),
                                             code=FILTER))
    return column(box, grid, sizing_mode="stretch_width", name="compared")
