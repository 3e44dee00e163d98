"""A time as the reports write it for people: three significant digits in the largest
unit (s, ms, µs, ns) that keeps it at least 1."""

from __future__ import annotations

import pandas as pd


def duration(seconds) -> str:
    if pd.isna(seconds):
        return "?"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"
