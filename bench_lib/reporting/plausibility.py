"""Times that contradict another time of the same run: ``implausible``.

Within one run, machine and case (model, size, backend, execution, device, dtype,
precision), some orders hold whatever the framework does:

- an HVP of the mlp costs at least its gradient (it differentiates the gradient, and
  matrix products dominate both).  Not so for Rosenbrock, an elementwise function: a
  compiler fuses its HVP into one pass over the arrays, while the gradient cell also
  reduces the loss, and the compiled HVP is genuinely faster (JAX, n = 10^6, on a quiet
  machine: HVP / gradient 0.75, the median of 30 interleaved pairs);
- a Hessian costs at least one HVP (it holds n of them);
- an unrolled optimization of K steps costs at least one of fewer steps.

A verified time that breaks one, beyond both times' spread (the interquartile ranges
do not overlap), is implausible, and so is the time it contradicts: one of the two was
measured wrong (a machine that was busy for one of them, most often).  Each names the
other.  They are treated like contended times: never a best, never a verdict.
"""

from __future__ import annotations

import pandas as pd

CASE = ["run_id", "machine", "model", "size", "backend", "execution", "device", "dtype", "precision"]


def contradictions(frame: pd.DataFrame) -> pd.Series:
    """Per row of ``frame`` (the tidy table), what contradicts its time, or None."""
    times = frame[(frame["metric"] == "time") & (frame["status"] == "ok")]
    times = times.assign(**{column: times[column].astype(object) for column in CASE + ["workload", "mode", "K"]})
    times = times.assign(low=times["q_25"].fillna(times["value"]), high=times["q_75"].fillna(times["value"]))
    notes: dict = {}
    rows = times.reset_index()
    grad, hvp, hessian = (rows[rows.workload == name] for name in ("grad", "hvp", "hessian"))
    _pairs(notes, hvp[hvp.model == "mlp"], grad, "HVP {mode} faster than its gradient",
           "gradient slower than the HVP {mode}")
    fastest_hvp = hvp.loc[hvp.groupby(CASE)["value"].idxmin()] if len(hvp) else hvp
    _pairs(notes, hessian, fastest_hvp, "Hessian {mode} faster than one HVP", "one HVP slower than the Hessian {mode}")
    unrolled = rows[rows.workload == "unrolled"]
    by_mode = CASE + ["mode", "optimizer"]
    for _, group in unrolled.groupby(by_mode, dropna=False):
        ordered = group.sort_values("K")
        for _, fewer in ordered.iterrows():
            for _, more in ordered[ordered.K > fewer.K].iterrows():
                if more.high < fewer.low:
                    _note(notes, more["index"], f"K={more.K} faster than K={fewer.K} ({_seconds(fewer.value)})")
                    _note(notes, fewer["index"], f"K={fewer.K} slower than K={more.K} ({_seconds(more.value)})")
    return pd.Series([("; ".join(notes[i]) if i in notes else None) for i in frame.index], index=frame.index,
                     dtype=object)


def _pairs(notes: dict, costly: pd.DataFrame, cheap: pd.DataFrame, costly_says: str, cheap_says: str) -> None:
    """Flag each pair (same case) where a ``costly`` time lies below a ``cheap`` one."""
    if costly.empty or cheap.empty:
        return
    pairs = costly.merge(cheap, on=CASE, suffixes=("", "_cheap"))
    for pair in pairs[pairs.high < pairs.low_cheap].itertuples():
        _note(notes, pair.index, f"{costly_says.format(mode=pair.mode)} ({_seconds(pair.value_cheap)})")
        _note(notes, pair.index_cheap, f"{cheap_says.format(mode=pair.mode)} ({_seconds(pair.value)})")


def _note(notes: dict, index, text: str) -> None:
    notes.setdefault(index, []).append(text)


def _seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-6:.3g} µs"
