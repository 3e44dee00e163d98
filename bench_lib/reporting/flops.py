"""Operation counts of the mlp's workloads, and the machine's peak they are held against
(measured by ``run/peak.py``, kept in ``results/peaks/``).

The count is the matmul work that the cheapest schedule of each workload must do (the
tanh, bias and loss terms are O(B h) against O(B h^2) and are left out), so FLOPs /
time is a *useful* FLOP rate: every mode does at least this work, and a rate above the
machine's peak is a measurement error (an asynchronous call timed before it finished,
an input folded into a constant), never a record.

For the mlp of batch B, input width i, hidden width h and output width o, one
multiply-add counting 2 FLOPs:

- forward: Z1 = X W1, Z2 = H1 W2, Z3 = H2 W3:             F = 2B (i h + h^2 + h o)
- grad: the forward, every weight gradient (H^T G) and every activation gradient
  (G W^T) but the input's, which nothing needs:          G = 2B (2 i h + 3 h^2 + 3 h o)
- HVP, forward over reverse (Pearlmutter): the tangent of the grad, in which each
  product of two varying factors becomes two products and a product with the data X
  one:                                                    T = 2B (2 i h + 6 h^2 + 6 h o)
  plus the primal products the tangent reads: the forward and the activation
  gradients (the primal weight gradients are not returned, and XLA drops them):
                                                          P = 2B (i h + 2 h^2 + 2 h o)
                                                          HVP = P + T
- Hessian, n parameters: the primal once, shared by n tangents (a vmapped
  forward-over-reverse Hessian does exactly this):       P + n T
- unrolled optimization: no count (each mode's schedule differs by more than a
  constant, and the inner loop's own second-order terms depend on the optimizer).

``tests/test_flops.py`` holds these against XLA's own count of the compiled JAX code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench_lib.core.models import MLP, spec
from bench_lib.reporting.store import DAMAGED, move_aside

PEAKS = "peaks"  # results/peaks/<machine>.peak: the machine's measured peaks (JSON; keys: ``peak_key``)
PEAK_SUFFIX = ".peak"  # not ".json": asv's result loader reads every JSON file in results/


def _grad(m: MLP) -> int:
    return 2 * m.batch * (2 * m.n_in * m.hidden + 3 * m.hidden**2 + 3 * m.hidden * m.n_out)


def _primal(m: MLP) -> int:
    return 2 * m.batch * (m.n_in * m.hidden + 2 * m.hidden**2 + 2 * m.hidden * m.n_out)


def _tangent(m: MLP) -> int:
    return 2 * m.batch * (2 * m.n_in * m.hidden + 6 * m.hidden**2 + 6 * m.hidden * m.n_out)


def mlp_flops(workload: str, size: str) -> int | None:
    """The FLOPs of one call of ``workload`` on the mlp of ``size``; None where no
    count is known."""
    m = spec("mlp", size)
    counts = {
        "grad": lambda: _grad(m),
        "hvp": lambda: _primal(m) + _tangent(m),
        "hessian": lambda: _primal(m) + m.n_params * _tangent(m),
    }
    return counts[workload]() if workload in counts else None


def flops(workload: str, model: str, size) -> int | None:
    return mlp_flops(workload, str(size)) if model == "mlp" else None


# --- the machine's peak ----------------------------------------------------------

def peak_key(device: str, dtype: str, precision: str = "strict") -> str:
    """The key of the peak a cell is held against: the CPU's per dtype ("float32"), the
    GPU's per dtype and float32 precision ("gpu/float32", "gpu/tf32")."""
    if device == "cpu":
        return dtype
    return "gpu/tf32" if precision == "tf32" and dtype == "float32" else f"gpu/{dtype}"


class DamagedPeakFile(ValueError):
    """A kept peak that cannot be read: left out, it would silently turn off the flag
    on rates above the peak."""


def load_peaks(results_dir, move_damaged: bool = False) -> dict[str, dict[str, float]]:
    """machine -> {peak_key: FLOP/s} of every peak kept in ``results_dir``.  A damaged
    file is an error naming it; with ``move_damaged`` it goes to
    ``results/damaged/peaks/`` (said on stderr), and ``make bench`` measures the peak
    again."""
    found = {}
    for path in sorted((Path(results_dir) / PEAKS).glob(f"*{PEAK_SUFFIX}")):
        try:
            rates = json.loads(path.read_text())["flops_per_second"]
            found[path.stem] = {key: float(value) for key, value in rates.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            problem = f"{type(error).__name__}: {error}"
            target = Path(results_dir) / DAMAGED / PEAKS / f"{path.name}.damaged"
            if not move_damaged:
                raise DamagedPeakFile(
                    f"{path} is not a readable peak file ({problem}); without it no rate would be flagged as above "
                    f"the machine's peak: repair or remove it, or pass --move-damaged to move it to {target.parent}/"
                ) from None
            move_aside(path, target, "peak", problem)
    return found


def above_peak(rate: float, peak: float | None) -> bool:
    return peak is not None and not math.isnan(rate) and rate > peak
