"""The static figures, for readers without a browser: matplotlib PNGs that the
Markdown summary links (``figures/`` beside it); the HTML report draws its own,
interactive ones (``interactive/``)."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench_lib.reporting import tidy
from bench_lib.reporting.views import ratios_to_grad, times


@dataclass(frozen=True)
class Figure:
    name: str  # the PNG's file name, without the extension
    title: str
    png: bytes


def _png(figure, name: str, title: str) -> Figure:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return Figure(name, title, buffer.getvalue())


def _panel(device: str, precision: str) -> str:
    return device if precision == "strict" else f"{device}, {precision}"


def _line(strategy: str, device: str, machine: str, part: pd.DataFrame) -> str:
    """A line's label: its strategy, with the device where it is not the CPU and the
    machine where the panel has several."""
    label = strategy + (f" ({device})" if device != "cpu" else "")
    return label + (f" [{machine}]" if part.machine.nunique() > 1 else "")


def figures(table: pd.DataFrame) -> list[Figure]:
    """The static plots, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    # a panel per device and precision (CPU and GPU side by side, strict and tf32)
    def panels(part):
        return sorted({(str(d), str(p)) for d, p in zip(part.device, part.precision) if pd.notna(d)})
    ratios = ratios_to_grad(table)
    hvp = ratios[(ratios.workload == "hvp") & ratios.ratio_to_grad.notna()]
    if len(hvp):
        shown = panels(hvp)
        figure, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 4), squeeze=False)
        for axis, (device, precision) in zip(axes[0], shown):
            part = hvp[(hvp.device == device) & (hvp.precision == precision)]
            labels = [f"{b}\n{e}" for b, e in sorted(set(zip(part.backend, part.execution)))]
            for offset, mode in enumerate(sorted(set(part["mode"]))):
                values = [part[(part.backend == b) & (part.execution == e) & (part["mode"] == mode)].ratio_to_grad.median()
                          for b, e in sorted(set(zip(part.backend, part.execution)))]
                axis.bar(np.arange(len(labels)) + 0.27 * (offset - 1), values, width=0.27, label=mode)
            axis.set_xticks(range(len(labels)), labels, fontsize=7)
            axis.set_ylabel("HVP time / grad time")
            axis.set_title(f"HVP cost in gradients ({_panel(device, precision)})")
            axis.legend(fontsize=7)
        made.append(_png(figure, "hvp_cost", "HVP / grad by backend, execution and mode"))
    rows = tidy.as_objects(times(table))
    hessian = rows[rows.workload == "hessian"]
    if len(hessian):
        # A panel per device, precision and model (each model has its own sizes, so a
        # line never joins two models), float32 (else float64); per backend the line of
        # the strategy fastest at the panel's largest n (the HTML report has every one).
        dtype = "float32" if (hessian.dtype == "float32").any() else hessian.dtype.iloc[0]
        hessian = hessian[hessian.dtype == dtype]
        shown = [(device, precision, model) for device, precision in panels(hessian)
                 for model in sorted(set(hessian[(hessian.device == device) & (hessian.precision == precision)].model))]
        figure, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 4), squeeze=False)
        for axis, (device, precision, model) in zip(axes[0], shown):
            part = hessian[(hessian.device == device) & (hessian.precision == precision) & (hessian.model == model)]
            for backend, lines in part.groupby("backend"):
                largest = lines[lines.n == lines.n.max()]
                fastest = largest.loc[largest.value.idxmin()]
                line = lines[(lines["mode"] == fastest["mode"]) & (lines.execution == fastest.execution)
                             & (lines.machine == fastest.machine)].sort_values("n")
                strategy = f"{backend} {fastest['mode']} {fastest.execution}"
                axis.plot(line.n, line.value, marker="o", label=_line(strategy, device, fastest.machine, part))
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xlabel("n (parameters)")
            axis.set_ylabel("seconds per Hessian")
            axis.set_title(f"{model}: Hessian time against n ({_panel(device, precision)})", fontsize=9)
            axis.legend(fontsize=7)
        made.append(_png(figure, "hessian_scaling",
                         f"Hessian time against n, log-log ({dtype}; each backend's fastest strategy)"))
    unrolled = tidy.as_objects(table[(table.workload == "unrolled") & table.status.isin([tidy.OK, tidy.NOT_MEASURED])])
    if len(unrolled):
        # A column per backend, two rows (time, memory) per model, a line per mode,
        # execution and machine: float32 (else float64) and SGD (else the first
        # optimizer), so that each panel stays legible.
        dtype = "float32" if (unrolled.dtype == "float32").any() else unrolled.dtype.iloc[0]
        optimizer = "sgd" if (unrolled.optimizer == "sgd").any() else unrolled.optimizer.iloc[0]
        shown = unrolled[(unrolled.dtype == dtype) & (unrolled.optimizer == optimizer) & (unrolled.precision == "strict")]
        backends = sorted(set(shown.backend))
        models = sorted(set(zip(shown.model, shown["size"])))
        figure, axes = plt.subplots(2 * len(models), len(backends), figsize=(4.5 * len(backends), 3.5 * 2 * len(models)),
                                    squeeze=False)
        styles = {"eager": ":", "graph": "--", "compiled": "-"}
        for column, backend in enumerate(backends):
            for index, (model, size) in enumerate(models):
                for offset, (metric, label) in enumerate((("time", "seconds per call"), ("peak_memory", "peak MiB"))):
                    axis = axes[2 * index + offset][column]
                    part = shown[(shown.backend == backend) & (shown.metric == metric) & (shown.model == model)
                                 & (shown["size"] == size)]
                    measured = part[part.status == tidy.OK]
                    lines = measured.groupby(["mode", "execution", "device", "machine"])
                    for (mode, execution, device, machine), group in lines:
                        group = group.sort_values("K")
                        values = group.value / (2**20 if metric == "peak_memory" else 1)
                        axis.plot(group.K.astype(int), values, marker="o", linestyle=styles.get(execution, "-"),
                                  label=_line(f"{mode} {execution}", device, machine, part))
                    what = "time" if metric == "time" else "peak memory"
                    axis.set_title(f"{backend}, {model} {size}: {what} against K", fontsize=9)
                    axis.set_xlabel("K (inner steps)")
                    axis.set_ylabel(label)
                    if len(measured):
                        axis.set_xscale("log")
                        axis.set_yscale("log")
                        axis.legend(fontsize=6)
                    else:  # say why the panel is empty (TensorFlow's CPU memory, say)
                        reasons = part.reason.dropna()
                        axis.text(0.5, 0.5, textwrap.fill(reasons.iloc[0] if len(reasons) else "no measurement", 48),
                                  ha="center", va="center", fontsize=7, transform=axis.transAxes)
        figure.tight_layout()
        made.append(_png(figure, "unrolled_scaling",
                         f"Unrolled time and memory against K ({dtype}, {optimizer}, strict precision)"))
    errors = tidy.as_objects(table[(table.metric == "error") & (table.status == tidy.OK)])
    if len(errors):
        figure, axis = plt.subplots(figsize=(8, 4))
        for offset, (backend, group) in enumerate(errors.groupby("backend")):
            workloads_ = sorted(set(errors.workload))
            xs = [workloads_.index(w) + 0.2 * (offset - 1) for w in group.workload]
            axis.scatter(xs, group.value.clip(lower=1e-18), s=8, label=backend)
        axis.set_xticks(range(len(set(errors.workload))), sorted(set(errors.workload)))
        axis.set_yscale("log")
        axis.set_ylabel("normwise relative error")
        axis.set_title("Verification errors against the float64 reference")
        axis.legend(fontsize=7)
        made.append(_png(figure, "errors", "Verification errors"))
    return made


# --- the report --------------------------------------------------------------------
