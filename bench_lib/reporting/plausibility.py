"""Times that contradict another time of the same run: ``implausible``.

Within one run, machine and case (model, size, backend, execution, device, dtype,
precision), some orders hold whatever the framework does:

- an HVP of the mlp, the ConvNet or the Transformer block costs at least its gradient
  (it differentiates the gradient, and matrix products and convolutions dominate both).
  Not so for logistic regression, one product whose gradient cell also computes the
  loss, nor for Rosenbrock, an elementwise function: a
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

from bench_lib.reporting.units import duration

CASE = ["run_id", "machine", "model", "size", "backend", "execution", "device", "dtype", "precision"]
# Models whose HVP does more of the same products than their gradient
PRODUCT_BOUND = ("mlp", "cnn", "transformer")


def contradictions(frame: pd.DataFrame) -> pd.Series:
    """Per row of ``frame`` (the tidy table), what contradicts its time, or None."""
    times = frame[(frame["metric"] == "time") & (frame["status"] == "ok")]
    times = times.assign(**{column: times[column].astype(object) for column in CASE + ["workload", "mode", "K"]})
    times = times.assign(low=times["q_25"].fillna(times["value"]), high=times["q_75"].fillna(times["value"]))
    notes: dict = {}
    rows = times.reset_index()
    grad, hvp, hessian, unrolled = (rows[rows.workload == name] for name in ("grad", "hvp", "hessian", "unrolled"))
    _pairs(notes, hvp[hvp.model.isin(PRODUCT_BOUND)], grad, "HVP {mode} faster than its gradient",
           "gradient slower than the HVP {mode}")
    fastest_hvp = hvp.loc[hvp.groupby(CASE)["value"].idxmin()] if len(hvp) else hvp
    _pairs(notes, hessian, fastest_hvp, "Hessian {mode} faster than one HVP", "one HVP slower than the Hessian {mode}")
    _pairs(notes, unrolled, unrolled, "K={K} faster than K={K_cheap}", "K={K_cheap} slower than K={K}",
           on=CASE + ["mode", "optimizer"], costlier=lambda pairs: pairs.K > pairs.K_cheap)
    return pd.Series([("; ".join(notes[i]) if i in notes else None) for i in frame.index], index=frame.index,
                     dtype=object)


def _pairs(notes: dict, costly: pd.DataFrame, cheap: pd.DataFrame, costly_says: str, cheap_says: str, on=CASE,
           costlier=None) -> None:
    """Flag each pair (same ``on``; of those, the pairs ``costlier`` keeps) where a
    ``costly`` time lies below a ``cheap`` one.  The texts name the pair's fields (the
    cheap side's with ``_cheap``)."""
    if costly.empty or cheap.empty:
        return
    pairs = costly.merge(cheap, on=on, suffixes=("", "_cheap"))
    if costlier is not None:
        pairs = pairs[costlier(pairs)]
    for pair in pairs[pairs.high < pairs.low_cheap].to_dict("records"):
        _note(notes, pair["index"], f"{costly_says.format(**pair)} ({duration(pair['value_cheap'])})")
        _note(notes, pair["index_cheap"], f"{cheap_says.format(**pair)} ({duration(pair['value'])})")


def _note(notes: dict, index, text: str) -> None:
    notes.setdefault(index, []).append(text)
