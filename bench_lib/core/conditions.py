"""Fairness settings, applied in one place before any framework starts, and recorded.

Every backend calls ``apply_process_settings()`` before importing its framework and then
applies ``threads()`` and ``precision()`` through the framework's own API.  A cell
chooses its precision with ``use_precision`` before its framework is first asked for
anything (the framework applies it on that first call, before it lists a device), and
again before it is timed.  Nothing here runs at import time.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from bench_lib.core import provenance

THREADS_ENV = "BENCH_THREADS"
# Set by `bench --allow-uncommitted` to the changed files: recorded with every cell.
UNCOMMITTED_ENV = "BENCH_UNCOMMITTED"
_applied = False
_precision = "strict"


def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def threads() -> int:
    """The intra-op thread count every framework gets: $BENCH_THREADS, else all usable
    cores.  More threads than usable cores cannot hold (the process is pinned to those
    cores), so such a value is refused rather than recorded as what ran."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    usable = len(available_cpus())
    if not raw:
        return usable
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= usable:
        raise ValueError(f"{THREADS_ENV} must be an integer from 1 to {usable} (the CPUs this process may use), got {raw!r}")
    return value


def use_precision(precision: str) -> None:
    """The float32 matmul precision (``cells.PRECISIONS``) the backends apply from now on."""
    global _precision
    from bench_lib.core.cells import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    _precision = precision


def precision() -> str:
    return _precision


def tf32() -> bool:
    """Whether float32 matmuls may use TF32 (the ``tf32`` precision)."""
    return _precision == "tf32"


def apply_process_settings() -> None:
    """Environment and CPU affinity that the frameworks read when they start.

    XLA's CPU client sizes its thread pool from the CPUs the process may use, with no
    public knob, so a thread count below the usable cores is enforced by pinning the
    process to that many cores; every framework then sees the same cores.
    """
    global _applied
    if _applied:
        return
    n = threads()
    cpus = available_cpus()
    if n < len(cpus) and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus[:n])
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    # No framework grabs all device memory up front, so backends do not fight over it.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _applied = True


def package_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def framework_versions(backend: str) -> dict[str, str | None]:
    """The installed version of each of ``backend``'s distributions
    (``cells.DISTRIBUTIONS``), under the name it is recorded as; None where not installed."""
    from bench_lib.core.cells import DISTRIBUTIONS

    return {
        name: next(filter(None, map(package_version, installed_as)), None)
        for name, installed_as in DISTRIBUTIONS[backend].items()
    }


def distribution_key(name: str) -> str:
    """A distribution name as pip compares them (``PyYAML``, ``pyyaml``; ``a_b``, ``a-b``)."""
    return name.strip().lower().replace("_", "-").replace(".", "-")


def release(version: str) -> str:
    """A version without its local build label: torch 2.13.0+cpu (its CPU wheel) is the
    release 2.13.0, what asv installs under that name and what the history compares."""
    return version.split("+")[0]


def pinned_versions(constraints) -> dict[str, str]:
    """``distribution_key(name) -> version`` of every ``name==version`` line of a pip
    constraints file; empty when there is no such file."""
    pins = {}
    path = Path(constraints)
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[distribution_key(name)] = version.strip()
    return pins


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def record() -> dict:
    """The conditions that go with every result of this process."""
    return {
        "threads": threads(),
        "usable_cpus": len(available_cpus()),
        "precision": _precision,
        # OpenMP threads (torch's ATen and inductor kernels) spin at barriers unless told
        # otherwise, which slows calls many times over when another process is busy on
        # the cores (see docs/methodology.md).
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset (spinning)"),
        # A loaded machine slows every framework: readers must see it.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "numpy": package_version("numpy"),
        # which code ran (provenance.py), and whether the run allowed uncommitted changes
        **provenance.imported(),
        "uncommitted": os.environ.get(UNCOMMITTED_ENV) or None,
    }
