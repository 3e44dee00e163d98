"""The static figures, for readers without a browser: matplotlib PNGs that the
Markdown summary links (``figures/`` beside it); the HTML report draws its own,
interactive ones (``interactive/``)."""

from __future__ import annotations

import io
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
        shown = panels(hessian)
        figure, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 4), squeeze=False)
        for axis, (device, precision) in zip(axes[0], shown):
            part = hessian[(hessian.device == device) & (hessian.precision == precision)]
            for key, group in part.groupby(["backend", "mode", "execution"]):
                group = group.sort_values("n")
                axis.plot(group.n, group.value, marker="o", label="/".join(key))
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xlabel("n (parameters)")
            axis.set_ylabel("seconds per Hessian")
            axis.set_title(f"Hessian time against n ({_panel(device, precision)})")
            axis.legend(fontsize=5, ncol=2)
        made.append(_png(figure, "hessian_scaling", "Hessian time against n, log-log"))
    unrolled = tidy.as_objects(table[(table.workload == "unrolled") & (table.status == tidy.OK)])
    if len(unrolled):
        # One panel per backend and metric, a line per mode and execution: float32 (else
        # float64) and SGD (else the first optimizer), so that each panel stays legible.
        dtype = "float32" if (unrolled.dtype == "float32").any() else unrolled.dtype.iloc[0]
        optimizer = "sgd" if (unrolled.optimizer == "sgd").any() else unrolled.optimizer.iloc[0]
        shown = unrolled[(unrolled.dtype == dtype) & (unrolled.optimizer == optimizer) & (unrolled.precision == "strict")]
        backends = sorted(set(shown.backend))
        figure, axes = plt.subplots(2, len(backends), figsize=(4.5 * len(backends), 7), squeeze=False)
        styles = {"eager": ":", "graph": "--", "compiled": "-"}
        for column, backend in enumerate(backends):
            for row, (metric, label) in enumerate((("time", "seconds per call"), ("peak_memory", "peak MiB"))):
                axis = axes[row][column]
                part = shown[(shown.backend == backend) & (shown.metric == metric)]
                for (mode, execution, device), group in part.groupby(["mode", "execution", "device"]):
                    group = group.sort_values("K")
                    values = group.value / (2**20 if metric == "peak_memory" else 1)
                    axis.plot(group.K.astype(int), values, marker="o", linestyle=styles.get(execution, "-"),
                              label=f"{mode} {execution}" + (f" ({device})" if device != "cpu" else ""))
                axis.set_xscale("log")
                axis.set_yscale("log")
                axis.set_xlabel("K (inner steps)")
                axis.set_ylabel(label)
                axis.set_title(f"{backend}: {'time' if metric == 'time' else 'peak memory'} against K", fontsize=9)
                axis.legend(fontsize=6)
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
