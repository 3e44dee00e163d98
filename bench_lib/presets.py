"""Named selections of cells, turned into asv ``--bench`` regular expressions.

The asv parameters of a suite never change; a preset only chooses which parameter
combinations a run measures.  asv matches ``--bench`` against
``<suite>.<method>(<param reprs>)``, so a preset becomes one anchored alternation per
asv benchmark, listing its cells exactly.  Cells the support table skips stay in a
preset: asv records them as skipped, and the record keeps the reason.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import workloads as registry
from .cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, Cell
from .harness import CellSuite, suite_values
from .models import MODELS


@dataclass(frozen=True)
class Selection:
    """Every combination of the listed values (all values where a field is not given).

    Sizes and modes are each workload's own: a size or mode a workload does not have
    is simply not selected for it."""

    workloads: tuple | None = None  # None: every workload of the registry
    models: tuple = MODELS
    sizes: tuple | None = None  # None: every size the workload runs for each model
    backends: tuple = BACKENDS
    modes: tuple | None = None  # None: every mode of each workload
    executions: tuple = EXECUTIONS
    devices: tuple = DEVICES
    dtypes: tuple = DTYPES

    def cells(self):
        for workload, model in itertools.product(self.workloads or registry.WORKLOADS, self.models):
            spec = registry.get(workload)
            sizes = [s for s in spec.sizes.get(model, ()) if self.sizes is None or s in self.sizes]
            modes = [m for m in spec.modes if self.modes is None or m in self.modes]
            for backend, mode, execution, size, device, dtype in itertools.product(
                self.backends, modes, self.executions, sizes, self.devices, self.dtypes
            ):
                yield Cell(workload, backend, mode, execution, model, size, device, dtype)


@dataclass(frozen=True)
class Preset:
    description: str
    include: tuple[Selection, ...]
    # (selection, why) pairs taken out of the preset; documented in the README.
    exclude: tuple[tuple[Selection, str], ...] = field(default=())

    def cells(self) -> list[Cell]:
        excluded = {cell for selection, _ in self.exclude for cell in selection.cells()}
        seen, ordered = set(), []
        for selection in self.include:
            for cell in selection.cells():
                if cell not in excluded and cell not in seen:
                    seen.add(cell)
                    ordered.append(cell)
        return ordered


PRESETS = {
    "default": Preset(
        "CPU, float32: grad and every HVP mode of mlp S and M, in every backend and execution",
        include=(Selection(models=("mlp",), sizes=("S", "M"), devices=("cpu",), dtypes=("float32",)),),
    ),
    "smoke": Preset(
        "A few seconds of asv: JAX grad and HVP of mlp S on the CPU, one cell skipped by the table",
        include=(
            Selection(
                workloads=("grad", "hvp"), models=("mlp",), sizes=("S",), backends=("jax",),
                modes=("rev", "fwd_rev"), executions=("graph", "compiled"), devices=("cpu",),
                dtypes=("float32",),
            ),
        ),
    ),
    "cpu": Preset(
        "Every CPU cell of every CPU size (mlp L is a GPU size), both dtypes",
        include=(
            Selection(models=("mlp",), sizes=("S", "M"), devices=("cpu",)),
            Selection(models=("rosenbrock",), devices=("cpu",)),
        ),
    ),
    "gpu": Preset("Every GPU cell", include=(Selection(devices=("gpu",)),)),
    "full": Preset("Every cell", include=(Selection(),)),
}


def smallest(workloads=None, models=MODELS, **fields) -> Preset:
    """The smallest size of each workload and model (what tests and quick checks run);
    ``fields`` narrow the other axes as in a Selection."""
    return Preset(
        "the smallest size of every workload and model",
        include=tuple(
            Selection(workloads=(name,), models=(model,), sizes=(size,), **fields)
            for name, spec in registry.REGISTRY.items()
            if workloads is None or name in workloads
            for model, size in spec.smallest.items()
            if model in models
        ),
    )


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]


def _param_string(cell: Cell) -> str:
    return ", ".join(repr(value) for value in suite_values(cell))


def benchmark_names(benchmark_dir: str | Path = "benchmarks") -> dict[tuple[str, str], list[str]]:
    """asv's names of the benchmarks of each (workload, model), found in the suite files
    the way asv finds them: ``<module>.<class>.<method>``."""
    names: dict[tuple[str, str], list[str]] = {}
    for path in sorted(Path(benchmark_dir).glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_suite_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for class_name, suite in vars(module).items():
            if not (inspect.isclass(suite) and issubclass(suite, CellSuite) and "workload" in suite.__dict__):
                continue
            for method in sorted(dir(suite)):
                if method.startswith(("time_", "track_")):
                    key = (suite.workload, suite.model)
                    names.setdefault(key, []).append(f"{path.stem}.{class_name}.{method}")
    return names


def asv_regexes(cells, benchmark_dir: str | Path = "benchmarks") -> list[str]:
    """One ``--bench`` expression per asv benchmark, matching exactly these cells."""
    benchmarks = benchmark_names(benchmark_dir)
    by_benchmark: dict[str, list[str]] = {}
    for cell in cells:
        for benchmark in benchmarks[(cell.workload, cell.model)]:
            by_benchmark.setdefault(benchmark, []).append(re.escape(_param_string(cell)))
    return [
        f"^{re.escape(name)}\\(({'|'.join(params)})\\)$" for name, params in by_benchmark.items()
    ]
