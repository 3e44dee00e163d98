"""The machine's peak FLOP rate: dense matmuls with the frameworks installed here,
kept in ``results/peaks/<machine>.peak`` for the report's above-peak flag
(``reporting/flops.py`` reads it).  A run measures it only when none is kept for the
same CPU, thread count, GPU and library versions, or when asked (``--measure-peak``)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

from bench_lib.core.cells import DTYPES
from bench_lib.core import files, gpu
from bench_lib.reporting.flops import PEAK_SUFFIX, PEAKS, load_peaks, peak_key


def measure_peak(threads: int, dtypes=DTYPES, n: int = 2048, repeats: int = 3) -> dict:
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
    from bench_lib.backends.torch import set_tf32

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


def measured_under(threads: int) -> dict:
    """What a peak depends on: the CPU, the thread count, the GPU, and the versions of
    the libraries whose matmuls are measured."""
    from bench_lib.core import conditions

    return {
        "cpu": conditions.cpu_name(), "threads": threads, "gpu": gpu.driver_conditions().get("gpu"),
        "versions": {name: conditions.package_version(name) for name in ("numpy", "torch")},
    }


def _kept(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def ensure(results_dir, machine: str, threads: int, force: bool = False) -> bool:
    """Measure the machine's peak only where none is kept under the same conditions
    (``measured_under``), or when asked (``force``).  Whether it measured."""
    path = Path(results_dir) / PEAKS / f"{machine}{PEAK_SUFFIX}"
    if not force and _kept(path).get("conditions") == measured_under(threads):
        return False
    record_peak(results_dir, machine, threads)
    return True


def record_peak(results_dir, machine: str, threads: int) -> Path:
    """Measure the peak and keep it beside the results, for the report's flag.  Other
    work on the cores only lowers a measurement, so the file keeps the highest rate
    measured under the same conditions; other conditions start afresh."""
    path = Path(results_dir) / PEAKS / f"{machine}{PEAK_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    under = measured_under(threads)
    rates = {**measure_peak(threads), **measure_gpu_peak()}
    kept = load_peaks(results_dir).get(machine, {}) if _kept(path).get("conditions") == under else {}
    rates = {dtype: max(rate, kept.get(dtype, 0.0)) for dtype, rate in rates.items()}
    files.write_text(path, json.dumps({
        "flops_per_second": rates, "threads": threads, "conditions": under,
        "method": "the best of every measurement: 3 dense 2048x2048 matmuls with NumPy and torch (CPU); 10 dense "
                  "8192x8192 torch matmuls per dtype and float32 precision, synchronised (GPU)",
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }, indent=1))
    return path
