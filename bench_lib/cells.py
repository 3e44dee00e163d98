"""The vocabulary of the suite and the Cell: one (workload, backend, mode, execution,
model, size, device, dtype, seed) combination with the workload's keyword parameters
(``K`` and ``optimizer`` for unrolled), the unit that is verified and timed.

Workloads, their modes and sizes come from the workload registry, backends from the
backend registry: nothing here lists them again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import workloads
from .backends import BACKENDS
from .models import MODELS, Case, spec
from .workloads import MODES, WORKLOADS

EXECUTIONS = ("eager", "graph", "compiled")
DEVICES = ("cpu", "gpu")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Cell:
    workload: str
    backend: str
    mode: str
    execution: str
    model: str
    size: object
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    # The workload's keyword parameters as (name, value) pairs: given as a mapping or
    # pairs, stored complete (defaults filled in) in the workload's order, so that one
    # cell has one identity.
    keywords: tuple = ()

    def __post_init__(self):
        spec = workloads.get(self.workload)  # a ValueError naming an unknown workload
        spec.check_size(self.model, self.size)  # ... or a bad model or size
        object.__setattr__(self, "keywords", spec.keywords(self.keywords))  # ... or parameter
        for field, allowed in (
            ("backend", BACKENDS),
            ("mode", spec.modes),
            ("execution", EXECUTIONS),
            ("device", DEVICES),
            ("dtype", DTYPES),
        ):
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(
                    f"unknown {field} {value!r} for workload {self.workload!r}; expected one of {allowed}"
                )

    @property
    def spec(self) -> workloads.Workload:
        return workloads.get(self.workload)

    @property
    def case(self) -> Case:
        """The model case (validated with the cell)."""
        return spec(self.model, self.size)

    @property
    def argument_names(self) -> tuple[str, ...]:
        """The inputs the cell's program takes, in call order."""
        return self.spec.arguments(self.model)

    @property
    def options(self) -> dict:
        """The keyword parameters as a dict (what ``compute`` takes as keywords)."""
        return dict(self.keywords)

    @property
    def label(self) -> str:
        keywords = "".join(f"/{name}={value}" for name, value in self.keywords)
        return (
            f"{self.workload}/{self.backend}/{self.mode}/{self.execution}/"
            f"{self.model}-{self.size}/{self.device}/{self.dtype}{keywords}"
        )

    def as_dict(self) -> dict:
        return asdict(self)


__all__ = ["BACKENDS", "DEVICES", "DTYPES", "EXECUTIONS", "MODELS", "MODES", "WORKLOADS", "Cell"]
