"""The backends: one module per framework, named as ``core.cells.FRAMEWORKS`` names it.
Adding a framework is one module here plus its lines there (``FRAMEWORKS`` and
``DISTRIBUTIONS``).  Each module provides:

- ``framework()``: the framework, imported after ``conditions.apply_process_settings()``
  and set to the suite's threads and matmul precision;
- ``BUILDERS``: (workload, mode) -> builder of the cell's function, called with the
  framework, the loss and the cell; no entry, no cell;
- ``reported_conditions()``: thread counts and matmul precision as the framework
  reports them after set-up;
- ``unavailable(cell)``: why this machine cannot run the cell (no GPU, say), or None;
  may import the framework;
- ``gpu_conditions()``: what the framework says of the GPU it uses (``gpu``,
  ``gpu_memory_bytes``, and the ``cuda_build`` and ``cudnn`` it was built with), where
  it can say;
- ``device_peak_memory(cell, call)``: the peak device memory of one ``call()`` above
  what was allocated before it, from the framework's allocator; None for a CPU cell;
- ``host_memory_hidden(cell)``: why the process's peak resident set cannot show one
  call's host memory (an allocator of the framework's own that keeps it resident
  between calls), or None;
- ``build(cell, arrays)``: the cell as a ``base.Program``, its loss
  ``core.models.loss_function`` with the framework's ``ArrayOps``.

Backends are imported lazily, and a framework that is not installed is detected without
importing anything, so the suite works with any subset of frameworks installed.
"""

from __future__ import annotations

import importlib
import importlib.util

from bench_lib.core.cells import BACKENDS, FRAMEWORKS


def not_installed_reason(name: str) -> str | None:
    package = FRAMEWORKS[name]
    if importlib.util.find_spec(package) is None:
        return f"{name} is not installed (no module named {package!r})"
    return None


def load(name: str):
    """The backend module for ``name``; importing it does not import the framework yet."""
    if name not in FRAMEWORKS:
        raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")
    return importlib.import_module(f"{__name__}.{name}")


def modes(workload: str, backend: str) -> tuple[str, ...]:
    """The modes of ``workload`` that ``backend`` implements, in the workload's order
    (the support table still says which cells are skipped, and why)."""
    from bench_lib.core import workloads

    builders = load(backend).BUILDERS
    return tuple(mode for mode in workloads.get(workload).modes if (workload, mode) in builders)
