"""The one mapping between cells and asv's parameter grids.

asv knows a benchmark by ``<module>.<Class>.<method>`` and a cell by its position in
the benchmark's grid: every combination of its ``params``, flattened in C order
(``itertools.product``).  Everything that turns a cell into asv's terms or back goes
through this module: the suites' ``params`` (``suite_params``), a cell's values and
their reprs (what ``--bench`` matches and what asv prints), its index in a stored
result, and the ``--bench`` expressions of a selection of cells.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import math
import re
from dataclasses import dataclass
from pathlib import Path

from bench_lib.core import workloads
from bench_lib.core.cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, PRECISIONS, Cell


def suite_params(workload: str, model: str, modes: tuple | None = None) -> tuple[list[str], list[list]]:
    """asv's param_names and params of a suite of ``workload`` and ``model``; ``modes``
    narrows the mode axis for a suite that times some modes only."""
    spec = workloads.get(workload)
    names = ["backend"]
    values: list[list] = [list(BACKENDS)]
    if len(spec.modes) > 1:
        names.append("mode")
        values.append(list(modes or spec.modes))
    names += ["execution", "size", "device", "dtype", "precision", *spec.parameters]
    values += [list(EXECUTIONS), list(spec.sizes[model]), list(DEVICES), list(DTYPES), list(PRECISIONS)]
    values += [list(parameter.values) for parameter in spec.parameters.values()]
    return names, values


@functools.lru_cache(maxsize=None)
def _param_names(workload: str, model: str) -> tuple[str, ...]:
    return tuple(suite_params(workload, model)[0])


def suite_values(cell: Cell) -> tuple:
    """The cell's asv parameter values, in the order of its suite's ``param_names``."""
    options = cell.options
    return tuple(options[name] if name in options else getattr(cell, name) for name in _param_names(cell.workload, cell.model))


def param_reprs(cell: Cell) -> str:
    """The cell's parameters as asv writes them after a benchmark's name (``'jax',
    'fwd_rev', ...``): what ``--bench`` matches and asv's "For parameters:" names."""
    return ", ".join(repr(value) for value in suite_values(cell))


def cell_of(workload: str, model: str, param_names, values) -> Cell:
    """The cell at ``values`` of a suite's grid (the inverse of ``suite_values``)."""
    spec = workloads.get(workload)
    named = dict(zip(param_names, values, strict=True))
    named.setdefault("mode", spec.modes[0])
    keywords = {name: named.pop(name) for name in spec.parameters}
    return Cell(workload=workload, model=model, keywords=keywords, **named)


def parse_value(value_repr: str):
    """A parameter value from asv's stored repr (``"'jax'"``, ``"10"``)."""
    try:
        return ast.literal_eval(value_repr)
    except (ValueError, SyntaxError):
        return value_repr


class Grid:
    """One benchmark's grid of parameter combinations, indexed both ways in O(1)."""

    def __init__(self, axes):
        self.axes = [list(axis) for axis in axes]
        self.shape = [len(axis) for axis in self.axes]
        self._lookup = [{value: i for i, value in enumerate(axis)} for axis in self.axes]
        self._strides = [math.prod(self.shape[axis + 1:]) for axis in range(len(self.shape))]

    @classmethod
    def from_stored(cls, params) -> "Grid":
        """The grid of a stored asv result, whose params are reprs."""
        return cls([[parse_value(value) for value in axis] for axis in params])

    def index(self, values) -> int | None:
        """The position of ``values`` (one per axis); None where one is off the grid."""
        index = 0
        for lookup, stride, value in zip(self._lookup, self._strides, values, strict=True):
            position = lookup.get(value)
            if position is None:
                return None
            index += position * stride
        return index

    def values(self, index: int) -> tuple:
        found = []
        for axis, stride in zip(self.axes, self._strides):
            position, index = divmod(index, stride)
            found.append(axis[position])
        return tuple(found)


@dataclass(frozen=True)
class Benchmark:
    """One asv benchmark of the suite files: ``<module>.<class>.<method>``, its cells'
    workload and model, the modes it runs and its asv params."""

    name: str
    workload: str
    model: str
    modes: tuple
    params: tuple

    @property
    def is_timing(self) -> bool:
        return ".time_" in self.name

    def covers(self, cell: Cell) -> bool:
        return (cell.workload, cell.model) == (self.workload, self.model) and cell.mode in self.modes

    @functools.cached_property
    def grid(self) -> Grid:
        return Grid(self.params)

    def index(self, cell: Cell) -> int:
        """The cell's position in asv's list of parameter combinations."""
        index = self.grid.index(suite_values(cell))
        if index is None:
            raise ValueError(f"{cell.label} is not in the grid of {self.name}")
        return index


def _is_suite(candidate) -> bool:
    """A cell suite class declared in a benchmark file (``suite/harness.py``'s
    ``CellSuite`` subclasses that name their workload)."""
    return inspect.isclass(candidate) and "workload" in vars(candidate) and hasattr(candidate, "param_names")


@functools.lru_cache(maxsize=8)
def _benchmarks(benchmark_dir: Path) -> tuple[Benchmark, ...]:
    found = []
    for path in sorted(benchmark_dir.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_suite_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for class_name, suite in vars(module).items():
            if not _is_suite(suite):
                continue
            modes = tuple(suite.modes or workloads.get(suite.workload).modes)
            for method in sorted(dir(suite)):
                if method.startswith(("time_", "track_")):
                    found.append(
                        Benchmark(
                            f"{path.stem}.{class_name}.{method}", suite.workload, suite.model, modes,
                            tuple(tuple(values) for values in suite.params),
                        )
                    )
    return tuple(found)


def benchmarks(benchmark_dir: str | Path = "benchmarks") -> list[Benchmark]:
    """The benchmarks of the suite files, found the way asv finds them (read once per
    folder and process)."""
    return list(_benchmarks(Path(benchmark_dir).resolve()))


def timing_benchmark(cell: Cell, suite: list[Benchmark]) -> Benchmark | None:
    """The benchmark of ``suite`` that times ``cell``."""
    return next((b for b in suite if b.is_timing and b.covers(cell)), None)


def indices(cells, benchmark_dir: str | Path = "benchmarks") -> dict[str, set[int]]:
    """Per asv benchmark, the positions of ``cells`` in its parameter combinations."""
    found: dict[str, set[int]] = {}
    for benchmark in benchmarks(benchmark_dir):
        for cell in cells:
            if benchmark.covers(cell):
                found.setdefault(benchmark.name, set()).add(benchmark.index(cell))
    return found


def asv_regexes(cells, benchmark_dir: str | Path = "benchmarks") -> list[str]:
    """One ``--bench`` expression per asv benchmark, matching exactly these cells."""
    return [regex for regexes in regexes_by_workload(cells, benchmark_dir).values() for regex in regexes]


def regexes_by_workload(cells, benchmark_dir: str | Path = "benchmarks") -> dict[str, list[str]]:
    """``asv_regexes`` grouped by the workload of their benchmarks, in suite order."""
    suite = benchmarks(benchmark_dir)
    workload_of = {benchmark.name: benchmark.workload for benchmark in suite}
    by_benchmark: dict[str, list[str]] = {}
    for cell in cells:
        for benchmark in suite:
            if benchmark.covers(cell):
                by_benchmark.setdefault(benchmark.name, []).append(re.escape(param_reprs(cell)))
    grouped: dict[str, list[str]] = {}
    for name, params in by_benchmark.items():
        grouped.setdefault(workload_of[name], []).append(f"^{re.escape(name)}\\(({'|'.join(params)})\\)$")
    return grouped
