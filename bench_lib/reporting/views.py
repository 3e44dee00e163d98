"""Views derived from the tidy results table (``tidy.load``), each a DataFrame over the verified (``ok``) time rows:
- ``ratios_to_grad``: a cell's time over the gradient's at the same run, model, size,
  backend, execution, device and dtype (HVP/grad, unrolled/grad): a cost in gradients,
  comparable across machines.  The gradient runs at every size of the other
  workloads (mlp XXS to L, Rosenbrock 100 to 10^6); a case whose gradient the run did
  not measure has no ratio (NaN).
- ``side_by_side``: the backends' times per case, mode and execution, with the fastest
  backend and each one's time over the fastest's.
- ``runs``: one row per run, with whether it ran to its end, its uncommitted files
  and its cells by status.
- ``best_per_backend``: each backend's fastest mode and execution per workload and case,
  among the modes that compute every output exactly (first-order MAML and forward-mode
  unrolling, which has no d_init, are left out: they do less work), and among the times
  that are neither unstable, contended nor implausible.
- ``slopes``: log-log slopes of time against n (Hessian) and against K (unrolled).
- ``achieved_flops``: the mlp's counted FLOPs (``flops``) over the time, against the
  machine's measured peak (``results/peaks/``); a rate above it is flagged as a
  measurement error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench_lib.core import workloads
from bench_lib.core.models import size_from_text, spec
from bench_lib.reporting import flops, tidy
from bench_lib.reporting.fit import slope


CASE = ["run_id", "machine", "workload", "model", "size", "device", "dtype", "precision", "K", "optimizer"]


def times(table: pd.DataFrame) -> pd.DataFrame:
    """The verified time rows, with the cell's number of parameters n."""
    rows = table[(table.metric == "time") & (table.status == tidy.OK)].copy()
    rows["n"] = [spec(model, size_from_text(model, size)).n_params for model, size in zip(rows.model, rows["size"])]
    return rows


def ratios_to_grad(table: pd.DataFrame) -> pd.DataFrame:
    rows = tidy.as_objects(times(table))
    keys = ["run_id", "machine", "model", "size", "backend", "execution", "device", "dtype", "precision"]
    grad = rows[rows.workload == "grad"][keys + ["value"]].rename(columns={"value": "grad_seconds"})
    others = rows[rows.workload != "grad"]
    merged = others.merge(grad, on=keys, how="left")
    merged["ratio_to_grad"] = merged["value"] / merged["grad_seconds"]
    columns = ["run_id", "workload", "model", "size", "backend", "mode", "execution", "device", "dtype", "precision",
               "K", "optimizer", "value", "grad_seconds", "ratio_to_grad"]
    return merged[columns].rename(columns={"value": "seconds"})


def side_by_side(table: pd.DataFrame) -> pd.DataFrame:
    rows = tidy.as_objects(times(table))
    index = CASE + ["mode", "execution"]
    wide = rows.pivot_table(index=index, columns="backend", values="value", aggfunc="first", dropna=False)
    wide = wide.dropna(how="all")
    backends = list(wide.columns)
    best = wide[backends].min(axis=1)
    wide["fastest"] = wide[backends].idxmin(axis=1)
    for backend in backends:
        wide[f"{backend}/fastest"] = wide[backend] / best
    return wide.reset_index()


def computes_every_output(workload: str, mode: str) -> bool:
    """Whether the mode computes every output of the workload exactly: a labelled
    approximation (first-order MAML) or a mode that leaves an output out (forward-mode
    unrolling has no d_init) does less work, and is no contender for the best time."""
    described = workloads.get(workload)
    return mode not in described.approximations and mode not in described.omitted_outputs


def best_per_backend(table: pd.DataFrame) -> pd.DataFrame:
    """Each backend's fastest complete mode (``computes_every_output``) and execution per case,
    among the times that can be trusted: never an unstable, contended or implausible one."""
    rows = tidy.as_objects(times(table))
    rows = rows[~rows.unstable & ~rows.contended & rows.implausible.isna()]
    # a boolean Series, not a list: an empty list would select no columns
    complete = pd.Series([computes_every_output(workload, mode) for workload, mode in zip(rows.workload, rows["mode"])],
                         index=rows.index, dtype=bool)
    rows = rows[complete]
    keys = CASE + ["backend"]
    fastest = rows.loc[rows.groupby(keys, dropna=False)["value"].idxmin()]
    return fastest[keys + ["mode", "execution", "value", "q_25", "q_75", "unstable", "uncommitted", "n"]].rename(
        columns={"value": "seconds"})


def largest_cases(best: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``best_per_backend`` of each machine's largest case per workload,
    model, device, dtype, precision and inner optimizer: the largest n, then the largest
    K.  The README's headline shows these; the report shows every case."""
    keys = ["machine", "workload", "model", "device", "dtype", "precision", "optimizer"]
    ordered = best.assign(steps=best.K.astype(float).fillna(0)).sort_values(["n", "steps"], kind="stable")
    largest = ordered.groupby(keys, dropna=False, observed=True)[["n", "steps"]].transform("last")
    return best.loc[ordered.index[(ordered.n == largest.n) & (ordered.steps == largest.steps)]]


def runs(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run, oldest first: its machine, commit, start, whether it ran to its
    end (``run_state``), the files that differed from its commit (a run of uncommitted
    code), and its cells by status."""
    cells = tidy.as_objects(table[table.metric == "time"])
    described = cells.groupby("run_id").agg(
        machine=("machine", "first"), commit=("commit", lambda c: c.iloc[0][:8]), started=("date", "min"),
        run_state=("run_state", "first"), uncommitted=("uncommitted", "first"))
    counts = cells.groupby(["run_id", "status"]).size().unstack(fill_value=0)
    counts = counts[[status for status in tidy.STATUSES if status in counts.columns]]
    return described.join(counts).sort_values("started").reset_index()


def slopes(table: pd.DataFrame) -> pd.DataFrame:
    """Slopes of log(time) against log(n) for Hessians (over sizes) and against log(K)
    for unrolled optimization, per strategy; NaN with fewer than two points."""
    rows = tidy.as_objects(times(table))
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
    rows = tidy.as_objects(times(table))
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
