"""Operation counts of the workloads, and the machine's peak they are held against
(measured by ``run/peak.py``, kept in ``results/peaks/``).

The count is the work of the matrix products and convolutions that the cheapest
schedule of each workload must do (activations, biases, normalisation and the loss are
O(B h) against O(B h^2) and are left out), so FLOPs / time is a *useful* FLOP rate:
every mode does at least this work, and a rate above the machine's peak is a
measurement error (an asynchronous call timed before it finished, an input folded into
a constant), never a record.

Each model lists its products (``Model.products``: multiply-adds c, and what the two
factors are); one multiply-add counts 2 FLOPs.  Per product:

| kind | grad (G) | HVP tangent (T) | primal the tangent reads (P) |
| --- | --- | --- | --- |
| ``data``: data times parameters (x W1) | 2c: forward, weight gradient | 2c | c: forward |
| ``param``: activations times parameters | 3c: forward, weight and activation gradients | 6c | 2c: forward, activation gradient |
| ``activations``: two activations (Q K^T) | 3c: forward, both gradients | 6c | 3c: forward, both gradients |

- grad: the forward, every weight gradient and every activation gradient but the
  data's, which nothing needs: G.
- HVP, forward over reverse (Pearlmutter): the tangent of the grad, in which each
  product of two varying factors becomes two products and a product with the data one
  (T), plus the primal products the tangent reads: the forward and the activation
  gradients (the primal weight gradients are not returned, and XLA drops them): P + T.
- Hessian, n parameters: the primal once, shared by n tangents (a vmapped
  forward-over-reverse Hessian does exactly this): P + n T.
- unrolled optimization: no count (each mode's schedule differs by more than a
  constant, and the inner loop's own second-order terms depend on the optimizer).

For the mlp of batch B, input width i, hidden width h and output width o this is
G = 2B (2 i h + 3 h^2 + 3 h o), T = 2B (2 i h + 6 h^2 + 6 h o), P = 2B (i h + 2 h^2 + 2 h o).
``tests/test_flops.py`` holds the counts against XLA's own count of the compiled JAX code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench_lib.core.models import Case, size_from_text, spec
from bench_lib.reporting.store import DAMAGED, move_aside

PEAKS = "peaks"  # results/peaks/<machine>.peak: the machine's measured peaks (JSON; keys: ``peak_key``)
PEAK_SUFFIX = ".peak"  # not ".json": asv's result loader reads every JSON file in results/

# multiply-adds per product, by kind: (grad, tangent, primal read by the tangent)
_PER_PRODUCT = {"data": (2, 2, 1), "param": (3, 6, 2), "activations": (3, 6, 3)}


def _count(case: Case, part: int) -> int:
    return 2 * sum(c * _PER_PRODUCT[kind][part] for c, kind in case.products())


def case_flops(workload: str, case: Case) -> int | None:
    """The FLOPs of one call of ``workload`` on ``case``; None where no count is known."""
    if not case.products():
        return None
    grad, tangent, primal = (_count(case, part) for part in range(3))
    counts = {"grad": grad, "hvp": primal + tangent, "hessian": primal + case.n_params * tangent}
    return counts.get(workload)


def mlp_flops(workload: str, size: str) -> int | None:
    return case_flops(workload, spec("mlp", size))


def flops(workload: str, model: str, size) -> int | None:
    """The count of a table row's cell (its size as the table writes it: a string)."""
    return case_flops(workload, spec(model, size_from_text(model, str(size))))


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
