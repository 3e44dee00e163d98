"""The overview's figures: which backend is fastest per case and by how much (a
matrix), HVP cost in gradients against the theory's small constant, FLOP/s against the
machine's peak, and verification margins."""

from __future__ import annotations

import numpy as np
import pandas as pd
from bokeh.models import ColorBar, ColumnDataSource, FactorRange, Label, LinearColorMapper, Span
from bokeh.plotting import figure
from bokeh.transform import factor_cmap, factor_mark

from bench_lib.core.cells import BACKENDS
from bench_lib.reporting.interactive import style
from bench_lib.reporting.interactive.data import best_matrix, shown_case
from bench_lib.reporting.units import duration

ROW_HEIGHT = 22  # pixels per case in the matrix


def _source(frame: pd.DataFrame) -> ColumnDataSource:
    """A data source of the frame's columns (not of the frame: Bokeh would add its index)."""
    return ColumnDataSource({name: frame[name].tolist() for name in frame.columns})


def _backends(present) -> list[str]:
    return [backend for backend in BACKENDS if backend in set(present)]


def matrix(cells: pd.DataFrame):
    """Rows are cases, columns backends: each backend's best time over the case's
    fastest, coloured from 1x (green) to 10x and beyond (red), labelled with the mode
    and execution that gave it; grey where the backend has no trusted time."""
    table = best_matrix(cells)
    machines = cells.machine.nunique()
    table["row"] = [shown_case(case, machines) for case in table.case]
    rows = list(dict.fromkeys(table.row))[::-1]  # the first case on top
    table["log_ratio"] = np.log10(table.ratio.astype(float))
    source = _source(table[["row", "backend", "log_ratio", "label", "time", "status", "mode", "execution"]]
                     .assign(ratio=[style.ratio_text(r) for r in table.ratio]))
    mapper = LinearColorMapper(palette=style.RATIO_PALETTE, low=style.RATIO_RANGE[0], high=style.RATIO_RANGE[1],
                               nan_color=style.SKIPPED_COLOR)
    plot = figure(
        name="matrix", x_range=_backends(table.backend), y_range=FactorRange(*rows), height=ROW_HEIGHT * len(rows) + 90,
        sizing_mode="stretch_width", x_axis_location="above", tools="hover,save", toolbar_location="below",
        tooltips=[("case", "@row"), ("backend", "@backend"), ("best", "@time (@mode @execution)"),
                  ("over the fastest", "@ratio"), ("status", "@status")],
    )
    plot.rect(x="backend", y="row", width=0.98, height=0.92, source=source,
              fill_color={"field": "log_ratio", "transform": mapper}, line_color="white")
    plot.text(x="backend", y="row", text="label", source=source, text_align="center", text_baseline="middle",
              text_font_size="11px")
    plot.add_layout(ColorBar(color_mapper=mapper, title="log10(time / fastest)", height=8, orientation="horizontal",
                             location="bottom_left"), "below")
    plot.grid.visible = False
    plot.axis.major_tick_line_color = None
    plot.axis.axis_line_color = None
    plot.yaxis.major_label_text_font_size = "11px"
    return plot


def hvp_cost(cells: pd.DataFrame):
    """Per model, size and backend: each HVP mode's best time over the backend's best
    gradient at the same case (best execution for each), against the bound."""
    ok = cells[(cells.status == "ok") & cells.trusted]
    keys = ["machine", "model", "size", "backend", "device", "dtype", "precision"]
    grad = ok[ok.workload == "grad"].groupby(keys)["value"].min().rename("grad_seconds")
    hvp = ok[ok.workload == "hvp"].groupby([*keys, "mode"])["value"].min().rename("seconds").reset_index()
    hvp = hvp.join(grad, on=keys).dropna(subset=["grad_seconds"])
    plot = figure(name="hvp_cost", height=360, sizing_mode="stretch_width", tools="hover,save",
                  toolbar_location="below", y_axis_label="HVP time / grad time (best execution)",
                  x_range=FactorRange(), y_axis_type="log")
    if hvp.empty:
        plot.title.text = "no HVP with its gradient in these results"
        return plot
    hvp["case"] = [f"{m} {s}" + ("" if d == "cpu" else f" {d}") + ("" if t == "float32" else f" {t}")
                   for m, s, d, t in zip(hvp.model, hvp["size"], hvp.device, hvp.dtype)]
    hvp["x"] = list(zip(hvp.case, hvp.backend))
    hvp["ratio"] = hvp.seconds / hvp.grad_seconds
    hvp["hvp_text"] = [duration(v) for v in hvp.seconds]
    hvp["grad_text"] = [duration(v) for v in hvp.grad_seconds]
    factors = sorted(set(hvp.x), key=lambda f: (list(dict.fromkeys(hvp.case)).index(f[0]), BACKENDS.index(f[1])))
    plot.x_range.factors = factors
    modes = list(style.MODE_MARKERS)
    source = _source(hvp[["x", "mode", "ratio", "hvp_text", "grad_text", "backend"]]
                     .assign(ratio_text=[f"{r:.2f}" for r in hvp.ratio]))
    plot.scatter(x="x", y="ratio", source=source, size=10, legend_field="mode",
                 marker=factor_mark("mode", list(style.MODE_MARKERS.values()), modes),
                 color=factor_cmap("backend", list(style.BACKEND_COLORS.values()), list(style.BACKEND_COLORS)))
    plot.add_layout(Span(location=style.HVP_BOUND, dimension="width", line_dash="dashed", line_color="#555"))
    plot.add_layout(Label(x=5, y=style.HVP_BOUND, x_units="screen", text=f"{style.HVP_BOUND:g} gradients",
                          text_font_size="10px", y_offset=2))
    plot.hover.tooltips = [("case", "@x"), ("mode", "@mode"), ("HVP / grad", "@ratio_text"),
                           ("HVP", "@hvp_text"), ("grad", "@grad_text")]
    plot.xaxis.major_label_orientation = 0.9
    plot.xaxis.group_label_orientation = 0.0
    plot.legend.location = "top_left"
    return plot


def flops_against_peak(rates: pd.DataFrame):
    """Each verified time with a FLOP count, as a fraction of the machine's measured
    peak (above 1 is a measurement error)."""
    plot = figure(name="flops", height=320, sizing_mode="stretch_width", tools="hover,save", toolbar_location="below",
                  y_axis_type="log", y_axis_label="achieved FLOP/s / measured peak", x_range=FactorRange())
    rates = rates.dropna(subset=["of_peak"])
    if rates.empty:
        plot.title.text = "no FLOP counts against a measured peak in these results"
        return plot
    rates = rates.assign(x=[(f"{w} {m} {s}", b) for w, m, s, b in zip(rates.workload, rates.model, rates["size"],
                                                                       rates.backend)],
                         rate=[f"{r / 1e9:.3g} GFLOP/s" for r in rates.flops_per_second],
                         share=[f"{r:.1%}" for r in rates.of_peak], time=[duration(v) for v in rates.seconds])
    order = list(dict.fromkeys(x[0] for x in rates.x))
    plot.x_range.factors = sorted(set(rates.x), key=lambda f: (order.index(f[0]), BACKENDS.index(f[1])))
    source = _source(rates[["x", "backend", "mode", "execution", "dtype", "rate", "share", "time", "of_peak"]])
    plot.scatter(x="x", y="of_peak", source=source, size=7, alpha=0.7,
                 color=factor_cmap("backend", list(style.BACKEND_COLORS.values()), list(style.BACKEND_COLORS)))
    plot.add_layout(Span(location=1.0, dimension="width", line_color=style.FAULT_COLOR))
    plot.hover.tooltips = [("case", "@x"), ("cell", "@mode @execution @dtype"), ("rate", "@rate (@share of the peak)"),
                           ("time", "@time")]
    plot.xaxis.major_label_orientation = 0.9
    return plot


def margins(cells: pd.DataFrame):
    """Each verified cell's largest error over its tolerance (1 fails), per workload and
    backend: how far inside the error model the answers are."""
    verified = cells[cells.margin.notna() & (cells.status == "ok")]
    plot = figure(name="margins", height=300, sizing_mode="stretch_width", tools="hover,save", toolbar_location="below",
                  y_axis_type="log", y_axis_label="error / tolerance", x_range=FactorRange())
    if verified.empty:
        plot.title.text = "no verification margins in these results (runs from before they were recorded)"
        return plot
    verified = verified.assign(x=list(zip(verified.workload, verified.backend)), shown=verified.margin.clip(lower=1e-4),
                               text=[f"{m:.3g}" for m in verified.margin])
    workloads_ = list(dict.fromkeys(verified.workload))
    plot.x_range.factors = sorted(set(verified.x), key=lambda f: (workloads_.index(f[0]), BACKENDS.index(f[1])))
    source = _source(verified[["x", "case", "mode", "execution", "shown", "text", "backend"]])
    plot.scatter(x="x", y="shown", source=source, size=6, alpha=0.5,
                 color=factor_cmap("backend", list(style.BACKEND_COLORS.values()), list(style.BACKEND_COLORS)))
    plot.add_layout(Span(location=1.0, dimension="width", line_color=style.FAULT_COLOR))
    plot.hover.tooltips = [("case", "@case"), ("cell", "@mode @execution"), ("error / tolerance", "@text")]
    return plot
