"""How a cost grows with a size: the slope of a log-log least-squares fit (1: linear,
2: quadratic)."""

from __future__ import annotations

import numpy as np


def slope(ns, values) -> float | None:
    """Least-squares slope of log(value) against log(n); None with fewer than two points."""
    points = [(n, v) for n, v in zip(ns, values) if v]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])
