"""The release history in the tidy table: rows of environments asv built, one framework
release each (``make history``, asv.history.conf.json), apart from the rows of the
suite's own environment, and each history cell's time against its framework's release.

The report's other views show the suite's own environment only (its pinned versions):
the newest run of a cell is otherwise whichever release ran last.
"""

from __future__ import annotations

import pandas as pd
from packaging.version import InvalidVersion, Version

from bench_lib.core import conditions
from bench_lib.core.cells import DISTRIBUTIONS
from bench_lib.reporting import tidy

OWN_ENVIRONMENTS = ("installed-", "existing-")  # asv's names of environments it did not build


def built_by_asv(table: pd.DataFrame) -> pd.Series:
    """Rows of environments asv built (virtualenvs of framework releases)."""
    names = table.env_name.astype(object).fillna("").astype(str)
    return ~names.str.startswith(OWN_ENVIRONMENTS) & (names != "")


def split(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the suite's own environment's rows, the release matrix's rows); where a results
    folder holds only release rows, those are both."""
    built = built_by_asv(table)
    own = table[~built]
    return (own if not own.empty else table), table[built]


def release_of(row) -> str | None:
    """The version of the row's framework (its first distribution: tensorflow, jax, torch)."""
    name = next(iter(DISTRIBUTIONS[row.backend]))
    value = getattr(row, name, None)
    return conditions.release(value) if isinstance(value, str) and value else None


def _order(version: str):
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


CELL_LABEL = ["workload", "model", "size", "mode", "execution", "dtype", "K", "optimizer"]


def trend(table: pd.DataFrame) -> pd.DataFrame:
    """Each release-matrix cell's latest verified time per machine and release: columns
    machine, backend, cell (a label without the backend), release, value, q_25, q_75,
    status, reason, ordered by release."""
    _, rows = split(table)
    rows = tidy.as_objects(rows[rows.metric == "time"])
    if rows.empty:
        return pd.DataFrame(columns=["machine", "backend", "cell", "release", "value", "q_25", "q_75", "status",
                                     "reason"])
    rows = rows.assign(release=[release_of(r) for r in rows.itertuples()])
    rows = rows[rows.release.notna()]
    latest = tidy.latest_measurements(rows, by=("machine", "release"))
    latest = latest.assign(cell=[label(r) for r in latest.itertuples()])
    latest = latest.assign(order=[_order(v) for v in latest.release])
    return latest.sort_values(["machine", "backend", "cell", "order"], kind="stable")[
        ["machine", "backend", "cell", "release", "value", "q_25", "q_75", "status", "reason"]].reset_index(drop=True)


def label(row) -> str:
    text = f"{row.workload} {row.model} {row.size} {row.mode} {row.execution} {row.dtype}"
    if isinstance(row.K, (int, float)) and row.K == row.K:
        text += f" K={int(row.K)}"
    if isinstance(row.optimizer, str):
        text += f" {row.optimizer}"
    return text


def changes(trend_table: pd.DataFrame, factor: float = 1.1) -> pd.DataFrame:
    """Between consecutive releases of each machine, backend and cell (both timed): the
    ratio new / old, and the verdict: a regression or an improvement where the ratio is
    beyond ``factor`` and the interquartile ranges do not overlap, else "same".
    Regressions first, the largest first, then improvements."""
    found = []
    timed = trend_table[trend_table.status == "ok"]
    for (machine, backend, cell), group in timed.groupby(["machine", "backend", "cell"], sort=False):
        rows = list(group.itertuples())
        for old, new in zip(rows, rows[1:]):
            ratio = new.value / old.value
            apart = new.q_25 > old.q_75 or new.q_75 < old.q_25
            verdict = ("regression" if ratio > factor else "improvement" if ratio < 1 / factor else "same") \
                if apart else "same"
            found.append((machine, backend, cell, old.release, new.release, old.value, new.value, ratio, verdict))
    frame = pd.DataFrame(found, columns=["machine", "backend", "cell", "old", "new", "old_value", "new_value", "ratio",
                                         "verdict"])
    rank = frame.verdict.map({"regression": 0, "improvement": 1, "same": 2})
    key = [r if v == "regression" else 1 / r if v == "improvement" else 0 for r, v in zip(frame.ratio, frame.verdict)]
    return frame.assign(rank=rank, key=key).sort_values(["rank", "key"], ascending=[True, False]).drop(
        columns=["rank", "key"]).reset_index(drop=True)
