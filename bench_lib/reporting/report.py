"""Views derived from the tidy results table (``store.load``), and the report:
one self-contained HTML file (tables and embedded matplotlib figures), a Markdown
summary, and the table itself as CSV and Parquet.

Views, each a DataFrame over the verified (``ok``) time rows:
- ``ratios_to_grad``: a cell's time over the gradient's at the same run, model, size,
  backend, execution, device and dtype (HVP/grad, unrolled/grad): a cost in gradients,
  comparable across machines.  The gradient runs at every size of the other
  workloads (mlp XXS to L, Rosenbrock 100 to 10^6); a case whose gradient the run did
  not measure has no ratio (NaN).
- ``side_by_side``: the backends' times per case, mode and execution, with the fastest
  backend and each one's time over the fastest's.
- ``best_per_backend``: each backend's fastest mode and execution per workload and case,
  among the modes that compute every output exactly (first-order MAML and forward-mode
  unrolling, which has no d_init, are left out: they do less work).
- ``slopes``: log-log slopes of time against n (Hessian) and against K (unrolled).
- ``achieved_flops``: the mlp's counted FLOPs (``flops``) over the time, against the
  machine's measured peak (``results/peaks/``); a rate above it is flagged as a
  measurement error.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from bench_lib.reporting import flops, store
from bench_lib.core import workloads
from bench_lib.core.models import spec
from bench_lib.reporting.fit import slope

CASE = ["run_id", "machine", "workload", "model", "size", "device", "dtype", "precision", "K", "optimizer"]


def times(table: pd.DataFrame) -> pd.DataFrame:
    """The verified time rows, with the cell's number of parameters n."""
    rows = table[(table.metric == "time") & (table.status == store.OK)].copy()
    rows["n"] = [spec(model, _size(model, size)).n_params for model, size in zip(rows.model, rows["size"])]
    return rows


def _size(model: str, size: str):
    return int(size) if model == "rosenbrock" else size


def ratios_to_grad(table: pd.DataFrame) -> pd.DataFrame:
    rows = store.as_objects(times(table))
    keys = ["run_id", "machine", "model", "size", "backend", "execution", "device", "dtype", "precision"]
    grad = rows[rows.workload == "grad"][keys + ["value"]].rename(columns={"value": "grad_seconds"})
    others = rows[rows.workload != "grad"]
    merged = others.merge(grad, on=keys, how="left")
    merged["ratio_to_grad"] = merged["value"] / merged["grad_seconds"]
    columns = ["run_id", "workload", "model", "size", "backend", "mode", "execution", "device", "dtype", "precision",
               "K", "optimizer", "value", "grad_seconds", "ratio_to_grad"]
    return merged[columns].rename(columns={"value": "seconds"})


def side_by_side(table: pd.DataFrame) -> pd.DataFrame:
    rows = store.as_objects(times(table))
    index = CASE + ["mode", "execution"]
    wide = rows.pivot_table(index=index, columns="backend", values="value", aggfunc="first", dropna=False)
    wide = wide.dropna(how="all")
    backends = list(wide.columns)
    best = wide[backends].min(axis=1)
    wide["fastest"] = wide[backends].idxmin(axis=1)
    for backend in backends:
        wide[f"{backend}/fastest"] = wide[backend] / best
    return wide.reset_index()


def _complete(workload: str, mode: str) -> bool:
    """Whether the mode computes every output of the workload exactly: a labelled
    approximation (first-order MAML) or a mode that leaves an output out (forward-mode
    unrolling has no d_init) does less work, and is no contender for the best time."""
    described = workloads.get(workload)
    return mode not in described.approximations and mode not in described.omitted_outputs


def best_per_backend(table: pd.DataFrame) -> pd.DataFrame:
    """Each backend's fastest complete mode (``_complete``) and execution per case."""
    rows = store.as_objects(times(table))
    rows = rows[[_complete(workload, mode) for workload, mode in zip(rows.workload, rows["mode"])]]
    keys = CASE + ["backend"]
    fastest = rows.loc[rows.groupby(keys, dropna=False)["value"].idxmin()]
    return fastest[keys + ["mode", "execution", "value", "q_25", "q_75", "unstable", "n"]].rename(
        columns={"value": "seconds"})


def slopes(table: pd.DataFrame) -> pd.DataFrame:
    """Slopes of log(time) against log(n) for Hessians (over sizes) and against log(K)
    for unrolled optimization, per strategy; NaN with fewer than two points."""
    rows = store.as_objects(times(table))
    found = []
    for (workload, against) in (("hessian", "n"), ("unrolled", "K")):
        part = rows[rows.workload == workload]
        keys = ["run_id", "model", "backend", "mode", "execution", "device", "dtype", "precision"]
        if workload == "unrolled":
            keys.append("optimizer")
        for key, group in part.groupby(keys, dropna=False):
            group = group.sort_values(against)
            xs = [int(x) for x in group[against]]
            fitted = slope(xs, list(group["value"]))
            found.append({**dict(zip(keys, key)), "workload": workload, "against": against,
                          "points": ",".join(map(str, xs)), "slope": np.nan if fitted is None else fitted})
    columns = ["run_id", "model", "backend", "mode", "execution", "device", "dtype", "precision", "optimizer",
               "workload", "against", "points", "slope"]
    return pd.DataFrame(found, columns=columns)


def achieved_flops(table: pd.DataFrame, peaks: dict | None = None) -> pd.DataFrame:
    """FLOP/s of each verified time with a known count; ``peak`` is the machine's (per
    dtype) where measured, and ``above_peak`` marks a rate no measurement can honestly
    reach."""
    rows = store.as_objects(times(table))
    rows["flops"] = [flops.flops(w, m, s) for w, m, s in zip(rows.workload, rows.model, rows["size"])]
    rows = rows[rows.flops.notna()].copy()
    rows["flops_per_second"] = rows.flops.astype(float) / rows.value
    peaks = peaks or {}
    rows["peak"] = [peaks.get(machine, {}).get(flops.peak_key(device, dtype, precision), np.nan)
                    for machine, device, dtype, precision in zip(rows.machine, rows.device, rows.dtype, rows.precision)]
    rows["above_peak"] = [flops.above_peak(rate, None if np.isnan(peak) else peak)
                          for rate, peak in zip(rows.flops_per_second, rows.peak)]
    rows["of_peak"] = rows.flops_per_second / rows.peak
    columns = ["run_id", "machine", "workload", "model", "size", "backend", "mode", "execution", "device", "dtype",
               "precision", "value", "flops", "flops_per_second", "peak", "of_peak", "above_peak"]
    return rows[columns].rename(columns={"value": "seconds"})


# --- figures ---------------------------------------------------------------------

def _figure_html(figure, title: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(title)}</figcaption></figure>'


def _panel(device: str, precision: str) -> str:
    return device if precision == "strict" else f"{device}, {precision}"


def figures(table: pd.DataFrame) -> list[str]:
    """The report's plots as HTML <figure> elements with embedded PNGs."""
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
        made.append(_figure_html(figure, "HVP / grad by backend, execution and mode"))
    rows = store.as_objects(times(table))
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
        made.append(_figure_html(figure, "Hessian time against n, log-log"))
    unrolled = store.as_objects(table[(table.workload == "unrolled") & (table.status == store.OK)])
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
        made.append(_figure_html(figure, f"Unrolled time and memory against K ({dtype}, {optimizer}, strict precision)"))
    errors = store.as_objects(table[(table.metric == "error") & (table.status == store.OK)])
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
        made.append(_figure_html(figure, "Verification errors"))
    return made


# --- the report --------------------------------------------------------------------

def _table_html(frame: pd.DataFrame, title: str, limit: int = 200) -> str:
    shown = frame.head(limit)
    more = f"<p>{len(frame) - limit} more rows in the CSV.</p>" if len(frame) > limit else ""
    return f"<h2>{html.escape(title)}</h2>" + shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="") + more


def _status_counts(table: pd.DataFrame) -> pd.DataFrame:
    cells = store.as_objects(table[table.metric == "time"])
    return cells.groupby(["run_id", "status"]).size().rename("cells").reset_index()


def summary_markdown(table: pd.DataFrame, peaks: dict | None = None) -> str:
    """Cells by status (with the skip reasons), any rate above the machine's peak, and
    each backend's best time per workload."""
    lines = ["# Results summary", ""]
    counts = _status_counts(table)
    unstable = store.as_objects(table[table.unstable])
    for run_id, group in counts.groupby("run_id"):
        run = table[table.run_id == run_id].iloc[0]
        lines.append(f"Run `{run_id}`: commit {run.commit[:8]} on {run.machine}, {run.date:%Y-%m-%d %H:%M} UTC; "
                     + ", ".join(f"{row.cells} {row.status}" for row in group.itertuples()))
    for run_id, changed in table[table.uncommitted.notna()].groupby("run_id", observed=True).uncommitted.first().items():
        lines.append(f"Run `{run_id}` ran uncommitted changes to {changed}: its results are not its commit's.")
    reasons = store.as_objects(table[(table.metric == "time") & ~table.status.isin([store.OK, store.NOT_MEASURED])])
    if len(reasons):
        lines += ["", "| status | cells | reason |", "| --- | --- | --- |"]
        for (status, reason), group in reasons.groupby(["status", "reason"]):
            lines.append(f"| {status} | {len(group)} | {str(reason).replace('|', '/')} |")
    if len(unstable):
        what = "1 time is" if len(unstable) == 1 else f"{len(unstable)} times are"
        lines += ["", f"{what} unstable (interquartile range above "
                  f"{store.UNSTABLE_SPREAD:.0%} of the median: the samples fall apart):", ""]
        lines += [f"- {row.workload} {row.model} {row.size} {row.backend} {row.mode} {row.execution} {row.dtype}: "
                  f"{_duration(row.value)} [{_duration(row.q_25)}, {_duration(row.q_75)}]" for row in unstable.itertuples()]
    rates = achieved_flops(table, peaks)
    flagged = rates[rates.above_peak]
    if len(flagged):
        lines += ["", f"{len(flagged)} times imply more FLOP/s than the machine's measured peak: measurement errors, "
                  "not records:", ""]
        lines += [f"- {row.workload} {row.model} {row.size} {row.backend} {row.mode} {row.execution} {row.dtype}: "
                  f"{row.flops_per_second / 1e9:.1f} GFLOP/s > {row.peak / 1e9:.1f}" for row in flagged.itertuples()]
    if len(table):
        lines += ["", "Best time per backend, workload and case (asv's median [quartiles], mode, execution; "
                  "the fastest in bold; modes that compute every output exactly):", "", headline(table)]
    return "\n".join(lines) + "\n"


def headline(table: pd.DataFrame) -> str:
    """A Markdown table, one row per workload and case, one column per backend: its
    best median time with asv's interquartile range, and the mode and execution that
    gave it; the fastest backend's in bold."""
    best = best_per_backend(table)
    if best.empty:
        return "(no verified times)"
    best = best.sort_values(["workload", "model", "n", "dtype", "precision", "K", "optimizer"])
    backends = [b for b in store.CATEGORIES["backend"] if b in set(best.backend)]
    lines = ["| workload | case | " + " | ".join(backends) + " |", "| --- | --- |" + " --- |" * len(backends)]
    keys = ["machine", "workload", "model", "size", "device", "dtype", "precision", "K", "optimizer"]
    several_machines = best.machine.nunique() > 1
    for key, group in best.groupby(keys, dropna=False, sort=False):
        row = dict(zip(keys, key))
        case = f"{row['model']} {row['size']}, {row['device']}, {row['dtype']}"
        if row["precision"] != "strict":
            case += f" ({row['precision']})"
        if several_machines:
            case = f"{row['machine']}: {case}"
        if pd.notna(row["K"]):
            case += f", K={row['K']}, {row['optimizer']}"
        fastest = group.seconds.min()
        cells = []
        for backend in backends:
            found = group[group.backend == backend]
            if found.empty:
                cells.append("")
                continue
            best_row = found.loc[found.seconds.idxmin()]
            time_text = _duration(best_row.seconds)
            if best_row.seconds == fastest:
                time_text = f"**{time_text}**"
            cells.append(f"{time_text} [{_duration(best_row.q_25)}, {_duration(best_row.q_75)}] "
                         f"{best_row['mode']} {best_row.execution}" + (" (unstable)" if best_row.unstable else ""))
        lines.append(f"| {row['workload']} | {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if pd.isna(seconds):
        return "?"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


README_BEGIN = "<!-- headline table: generated by `python -m bench_lib report --readme README.md`; do not edit -->"
README_END = "<!-- end of headline table -->"


def update_readme(readme, table: pd.DataFrame) -> None:
    """Replace the README's headline block with the table generated from ``table``."""
    path = Path(readme)
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{path} has no headline block: put {README_BEGIN!r} and {README_END!r} where it goes")
    before, rest = text.split(README_BEGIN, 1)
    _, after = rest.split(README_END, 1)
    path.write_text(f"{before}{README_BEGIN}\n{readme_headline(table)}\n{README_END}{after}")


def readme_headline(table: pd.DataFrame) -> str:
    """The README's headline: each cell's latest measurement on each machine, float32;
    its first line names the runs it comes from (``headline_runs`` reads them back)."""
    latest = store.latest_measurements(table)
    latest = latest[latest.dtype == "float32"]
    where = ", ".join(sorted({f"{r.machine} at commit {r.commit[:8]}" for r in latest.itertuples()}))
    runs = " ".join(sorted(set(latest.run_id.astype(str))))
    return f"Best time per backend, float32, {where} (runs: {runs}):\n\n" + headline(latest)


def headline_runs(readme) -> list[str]:
    """The run ids the README's headline table was generated from."""
    text = Path(readme).read_text()
    block = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0] if README_BEGIN in text else ""
    return block.split("(runs: ", 1)[1].split(")", 1)[0].split() if "(runs: " in block else []


def write(table: pd.DataFrame, out_dir, peaks: dict | None = None) -> dict[str, Path]:
    """Write report.html, summary.md, results.csv and results.parquet into ``out_dir``:
    the tables cover every run of ``table``, the figures each cell's latest measurement
    on each machine."""
    if table.empty:
        raise ValueError("no results to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("report.html", "summary.md", "results.csv", "results.parquet")}
    table.to_csv(paths["results.csv"], index=False)
    table.to_parquet(paths["results.parquet"], index=False)
    summary = summary_markdown(table, peaks)
    paths["summary.md"].write_text(summary)
    rates = achieved_flops(table, peaks)
    sections = [
        _table_html(_status_counts(table), "Cells by status"),
        *figures(store.latest_measurements(table)),
        _table_html(best_per_backend(table), "Best mode and execution per backend"),
        _table_html(side_by_side(table), "Backends side by side (time, and over the fastest)"),
        _table_html(ratios_to_grad(table).dropna(subset=["ratio_to_grad"]), "Cost in gradients"),
        _table_html(slopes(table).dropna(subset=["slope"]), "Slopes of time against n (Hessian) and K (unrolled)"),
        _table_html(rates.sort_values("flops_per_second", ascending=False),
                    "Achieved FLOP/s (mlp; the count is in bench_lib/reporting/flops.py) against the machine's measured peak"),
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Higher-order AD benchmarks: report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}</style></head><body>"
        "<h1>Higher-order AD benchmarks</h1>"
        "<p>asv's dashboard (per commit): <a href='../../html/index.html'>html/index.html</a>. "
        "The full table: <a href='results.csv'>results.csv</a>, <a href='results.parquet'>results.parquet</a>.</p>"
        + "".join(sections) + "</body></html>"
    )
    paths["report.html"].write_text(page)
    return paths


def run(results_dir: str, out_dir: str, machine: str | None, commit: str | None, benchmark_dir: str = "benchmarks",
        readme: str | None = None, move_damaged: bool = False) -> int:
    table = store.load(results_dir, benchmark_dir, machine=machine, commit=commit, move_damaged=move_damaged)
    if table.empty:
        what = ", ".join(f"{k} {v!r}" for k, v in (("machine", machine), ("commit", commit)) if v) or "any selection"
        known = store.load(results_dir, benchmark_dir)
        raise ValueError(
            f"no results in {results_dir} for {what}; machines: {sorted(set(known.machine))}, "
            f"commits: {sorted({c[:8] for c in known.commit})}"
        )
    if readme is not None:
        update_readme(readme, table)  # first: a README without its block writes nothing
    paths = write(table, out_dir, flops.load_peaks(results_dir))
    for path in paths.values():
        print(path)
    if readme is not None:
        print(f"{readme}: headline table updated")
    return 0
