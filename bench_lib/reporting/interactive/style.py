"""The report's colours and the small formatting rules every figure shares."""

from __future__ import annotations

import math

from bokeh.models import CustomJSTickFormatter
from bokeh.palettes import RdYlGn

# The pages' layout (Bokeh's own page template sets the body's margins to zero, so
# these come after it): one readable column, 1240 pixels at most.
PAGE_CSS = """
html, body { height: auto; }
body { font-family: system-ui, sans-serif; margin: 0 auto !important; padding: 0 16px 40px !important;
       max-width: 1240px; color: #222; }
p.note { color: #555; font-size: 13px; max-width: 900px; }
"""
# One colour per backend, the same in every figure.
BACKEND_COLORS = {"tensorflow": "#e6741a", "jax": "#2f6fb0", "torch": "#8e44ad"}
FASTEST_COLOR = "#1a9850"
SKIPPED_COLOR = "#cfcfcf"
FAULT_COLOR = "#d73027"
# Time over the case's fastest, on a log scale from 1x (green) to 10x and beyond (red).
RATIO_PALETTE = tuple(RdYlGn[11][2:10])  # light enough for black labels
RATIO_RANGE = (0.0, 1.0)  # log10 of the ratio
# Markers per HVP mode.
MODE_MARKERS = {"rev_rev": "circle", "fwd_rev": "triangle", "rev_fwd": "square"}
# AD theory bounds an HVP by a small constant number of gradients (Griewank and Walther:
# about 2 to 5); the suite names every HVP above 5 gradients with its cause.
HVP_BOUND = 5.0


def ratio_text(ratio) -> str:
    return "" if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)) else f"{ratio:.2f}x"


def mebibytes(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value / 2**20:.3g} MiB"


def rounded(value, digits: int = 4):
    """A float to ``digits`` significant digits (NaN stays NaN): the page shows three,
    and shorter numbers keep it small."""
    if value is None or (isinstance(value, float) and (math.isnan(value) or value == 0.0)):
        return value
    return float(f"{float(value):.{digits}g}")


def seconds_ticks() -> CustomJSTickFormatter:
    """Axis ticks in s, ms or µs."""
    return CustomJSTickFormatter(code="""
const unit = tick >= 1 ? [1, " s"] : tick >= 1e-3 ? [1e-3, " ms"] : tick >= 1e-6 ? [1e-6, " µs"] : [1e-9, " ns"];
return parseFloat((tick / unit[0]).toPrecision(3)) + unit[1];""")


def bytes_ticks() -> CustomJSTickFormatter:
    """Axis ticks in KiB, MiB or GiB."""
    return CustomJSTickFormatter(code="""
const unit = tick >= 2 ** 30 ? [2 ** 30, " GiB"] : tick >= 2 ** 20 ? [2 ** 20, " MiB"] : [2 ** 10, " KiB"];
return parseFloat((tick / unit[0]).toPrecision(3)) + unit[1];""")
