"""The vocabulary of the suite and the Cell: one (workload, backend, mode, execution,
model, size, device, dtype, seed) combination, the unit that is verified and timed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .workloads import MODELS, WORKLOADS, check_workload, spec

BACKENDS = ("tensorflow", "jax", "torch")
# The AD composition of each workload.  `grad` has one: reverse mode.
MODES = {"grad": ("rev",), "hvp": ("rev_rev", "fwd_rev", "rev_fwd")}
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

    def __post_init__(self):
        check_workload(self.workload)
        spec(self.model, self.size)  # raises a ValueError naming a bad model or size
        for field, allowed in (
            ("backend", BACKENDS),
            ("mode", MODES[self.workload]),
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
    def argument_names(self) -> tuple[str, ...]:
        """The inputs the cell's program takes, in call order."""
        names = ["params"]
        if self.workload == "hvp":
            names.append("v")
        if self.model == "mlp":
            names += ["x", "y"]
        return tuple(names)

    @property
    def label(self) -> str:
        return (
            f"{self.workload}/{self.backend}/{self.mode}/{self.execution}/"
            f"{self.model}-{self.size}/{self.device}/{self.dtype}"
        )

    def as_dict(self) -> dict:
        return asdict(self)


__all__ = ["BACKENDS", "DEVICES", "DTYPES", "EXECUTIONS", "MODELS", "MODES", "WORKLOADS", "Cell"]
