"""Operation counts of the mlp's workloads, and the machine's peak they are held against.

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
import time
from datetime import datetime, timezone
from pathlib import Path

from .models import MLP, spec

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


def measure_peak(threads: int, dtypes=("float32", "float64"), n: int = 2048, repeats: int = 3) -> dict:
    """The best FLOP rate of a large dense matmul on this machine, per dtype, with the
    frameworks installed here (the fastest wins: NumPy's BLAS may be built for another
    core).  No cell's useful rate can beat the machine's best dense matmul."""
    rates = {}
    for name, matmul in _matmuls(threads):
        for dtype in dtypes:
            run = matmul(n, dtype)
            run()  # first call: allocation, thread start-up
            best = min(_elapsed(run) for _ in range(repeats))
            rates[dtype] = max(rates.get(dtype, 0.0), 2 * n**3 / best)
    return rates


def _elapsed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _matmuls(threads: int):
    import numpy as np

    def numpy_matmul(n, dtype):
        a, b = np.ones((n, n), dtype), np.ones((n, n), dtype)
        return lambda: a @ b

    yield "numpy", numpy_matmul
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)

    def torch_matmul(n, dtype):
        a = torch.ones((n, n), dtype=getattr(torch, dtype))
        return lambda: a @ a

    yield "torch", torch_matmul


def measure_gpu_peak(n: int = 8192, repeats: int = 10) -> dict:
    """The GPU's best dense-matmul FLOP rate per dtype and float32 precision
    (``peak_key``), measured with torch; empty without a CUDA device."""
    try:
        import torch
    except ImportError:
        return {}
    if not torch.cuda.is_available():
        return {}
    from .backends.torch import set_tf32

    rates = {}
    allowed = torch.backends.cuda.matmul.allow_tf32
    try:
        for dtype, tf32 in (("float32", False), ("float32", True), ("float64", False)):
            set_tf32(torch, tf32)
            a = torch.ones((n, n), dtype=getattr(torch, dtype), device="cuda")
            a @ a  # first call: the kernel's selection and workspace
            torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(repeats):
                a @ a
            torch.cuda.synchronize()
            rates[peak_key("gpu", dtype, "tf32" if tf32 else "strict")] = repeats * 2 * n**3 / (time.perf_counter() - started)
    finally:
        set_tf32(torch, allowed)
    return rates


def record_peak(results_dir, machine: str, threads: int) -> Path:
    """Measure the peak and keep it beside the results, for the report's flag.  Other
    work on the cores only lowers a measurement, so the file keeps the highest rate
    measured on the machine so far."""
    path = Path(results_dir) / PEAKS / f"{machine}{PEAK_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    rates = {**measure_peak(threads), **measure_gpu_peak()}
    kept = load_peaks(results_dir).get(machine, {})
    rates = {dtype: max(rate, kept.get(dtype, 0.0)) for dtype, rate in rates.items()}
    path.write_text(json.dumps({
        "flops_per_second": rates, "threads": threads,
        "method": "the best of every measurement: 3 dense 2048x2048 matmuls with NumPy and torch (CPU); 10 dense "
                  "8192x8192 torch matmuls per dtype and float32 precision, synchronised (GPU)",
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }, indent=1))
    return path


def load_peaks(results_dir) -> dict[str, dict[str, float]]:
    """machine -> {peak_key: FLOP/s} of every peak kept in ``results_dir``."""
    found = {}
    for path in sorted((Path(results_dir) / PEAKS).glob(f"*{PEAK_SUFFIX}")):
        try:
            found[path.stem] = {k: float(v) for k, v in json.loads(path.read_text())["flops_per_second"].items()}
        except (ValueError, KeyError, TypeError):
            continue  # a damaged file: that machine has no peak, and no flag
    return found


def above_peak(rate: float, peak: float | None) -> bool:
    return peak is not None and not math.isnan(rate) and rate > peak
