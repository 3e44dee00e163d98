"""The release history's section: a history cell's time against its framework's
release (asv's median with the interquartile range), one cell at a time, chosen with
selectors (machine, backend, cell); and the changes between consecutive releases,
regressions first."""

from __future__ import annotations

import pandas as pd
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, CustomJS, DataTable, FactorRange, Select, TableColumn, Whisker
from bokeh.plotting import figure

from bench_lib.reporting import releases
from bench_lib.reporting.interactive import style
from bench_lib.reporting.units import duration

_SELECT = """
const key = selects.map(s => s.value).join("|");
const chosen = series[key];
if (chosen === undefined) { source.data = empty; plot.title.text = "No release run of: " + key; return; }
source.data = chosen.data;
plot.x_range.factors = chosen.data.release;
plot.title.text = chosen.title;
"""


def _series(group: pd.DataFrame) -> dict:
    ok = group.status == "ok"
    timed = group.value[ok]
    floor = style.rounded(float(timed.min()) / 2) if len(timed) else 1e-6
    first = group.iloc[0]
    return {
        "data": {
            "release": list(group.release),
            "y": [style.rounded(v) if o else floor for v, o in zip(group.value, ok)],
            "q_25": [style.rounded(q) if o else floor for q, o in zip(group.q_25, ok)],
            "q_75": [style.rounded(q) if o else floor for q, o in zip(group.q_75, ok)],
            "color": [style.BACKEND_COLORS.get(first.backend, "#777") if o else
                      style.SKIPPED_COLOR if s == "skipped" else style.FAULT_COLOR for o, s in zip(ok, group.status)],
            "result": [f"{duration(v)} [{duration(a)}, {duration(b)}]" if o else
                       f"{s}: {r}" if isinstance(r, str) else s
                       for v, a, b, o, s, r in zip(group.value, group.q_25, group.q_75, ok, group.status, group.reason)],
        },
        "title": f"{first.backend}: {first.cell} ({first.machine})",
    }


def section(table: pd.DataFrame):
    """The section's Bokeh root, or None where the table holds no release runs."""
    trend = releases.trend(table)
    if trend.empty:
        return None
    series = {f"{m}|{b}|{c}": _series(g) for (m, b, c), g in trend.groupby(["machine", "backend", "cell"], sort=False)}
    keys = [key.split("|") for key in series]
    first = series["|".join(keys[0])]
    source = ColumnDataSource(first["data"])
    plot = figure(name="releases_chart", x_range=FactorRange(*first["data"]["release"]), y_axis_type="log", height=320,
                  sizing_mode="stretch_width", title=first["title"], tools="hover,save,reset", toolbar_location="below",
                  x_axis_label="release", y_axis_label="time per call")
    plot.line("release", "y", source=source, color="#999", line_width=1.5)
    plot.scatter("release", "y", source=source, color="color", size=11)
    plot.add_layout(Whisker(base="release", lower="q_25", upper="q_75", source=source, line_color="#333"))
    plot.hover.tooltips = [("release", "@release"), ("", "@result")]
    plot.yaxis.formatter = style.seconds_ticks()
    selects = []
    for position, field in enumerate(("machine", "backend", "cell")):
        values = list(dict.fromkeys(key[position] for key in keys))
        selects.append(Select(title=field, value=keys[0][position], options=values, name=f"select_releases_{field}",
                              width=420 if field == "cell" else 130))
    callback = CustomJS(args=dict(selects=selects, series=series, source=source, plot=plot,
                                  empty={name: [] for name in first["data"]}), code=_SELECT)
    for select in selects:
        select.js_on_change("value", callback)
    return column(row(*selects, sizing_mode="stretch_width"), plot, _changes_table(trend), sizing_mode="stretch_width",
                  name="section_releases")


def _changes_table(trend: pd.DataFrame) -> DataTable:
    found = releases.changes(trend)
    found = found[found.verdict != "same"]
    source = ColumnDataSource({
        "verdict": list(found.verdict), "machine": list(found.machine), "backend": list(found.backend),
        "cell": list(found.cell), "from": list(found.old), "to": list(found["new"]),
        "old": [duration(v) for v in found.old_value], "new": [duration(v) for v in found.new_value],
        "ratio": [style.ratio_text(r) for r in found.ratio],
    })
    columns = [TableColumn(field=name, title=title, width=width) for name, title, width in (
        ("verdict", "verdict", 90), ("machine", "machine", 70), ("backend", "backend", 80), ("cell", "cell", 330),
        ("from", "from", 60), ("to", "to", 60), ("old", "old", 80), ("new", "new", 80), ("ratio", "new / old", 70))]
    return DataTable(source=source, columns=columns, height=min(400, 30 + 25 * max(1, len(found))),
                     sizing_mode="stretch_width", index_position=None, name="releases_changes")
