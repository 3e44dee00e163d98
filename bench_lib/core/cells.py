"""The vocabulary of the suite and the Cell: one (workload, backend, mode, execution,
model, size, device, dtype, seed) combination with the workload's keyword parameters
(``K`` and ``optimizer`` for unrolled) and the float32 matmul precision, the unit that
is verified and timed.

Workloads, their modes and sizes come from the workload registry: nothing here lists
them again.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

from bench_lib.core import workloads
from bench_lib.core.models import MODELS, Case, spec
from bench_lib.core.workloads import MODES, WORKLOADS

# backend -> the framework's top-level package.  Each backend is one module,
# bench_lib/backends/<backend>.py: adding a framework is that module, this line and its
# line in DISTRIBUTIONS.
FRAMEWORKS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
BACKENDS = tuple(FRAMEWORKS)
# backend -> its distributions: the name each one's version is recorded under, and the
# names pip may have installed it as (tensorflow-cpu is TensorFlow's CPU-only wheel).
DISTRIBUTIONS = {
    "tensorflow": {"tensorflow": ("tensorflow-cpu", "tensorflow")},
    "jax": {"jax": ("jax",), "jaxlib": ("jaxlib",)},
    "torch": {"torch": ("torch",)},
}
EXECUTIONS = ("eager", "graph", "compiled")
DEVICES = ("cpu", "gpu")
DTYPES = ("float32", "float64")
# The float32 matmul precision, set alike in every framework before it touches a device:
# strict (TF32 off: JAX and TensorFlow use TF32 on NVIDIA GPUs by default, PyTorch does
# not, and that alone can decide a comparison; see docs/methodology.md) or tf32 (on in
# all three).
PRECISIONS = ("strict", "tf32")


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
    precision: str = "strict"

    def __post_init__(self):
        spec = workloads.get(self.workload)  # a ValueError naming an unknown workload
        object.__setattr__(self, "size", _exact_size(self.workload, self.model, self.size, self.seed, spec))
        object.__setattr__(self, "seed", int(self.seed))
        spec.check_size(self.model, self.size)  # ... or a bad model or size
        object.__setattr__(self, "keywords", spec.keywords(self.keywords))  # ... or parameter
        for field, allowed in (
            ("backend", BACKENDS),
            ("mode", spec.modes),
            ("execution", EXECUTIONS),
            ("device", DEVICES),
            ("dtype", DTYPES),
            ("precision", PRECISIONS),
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
        precision = "" if self.precision == "strict" else f"/{self.precision}"
        return (
            f"{self.workload}/{self.backend}/{self.mode}/{self.execution}/"
            f"{self.model}-{self.size}/{self.device}/{self.dtype}{precision}{keywords}"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def _exact_size(workload: str, model: str, size, seed, spec):
    """The size as the registry writes it (a NumPy integer becomes an int).  Values that
    compare equal to a valid one but are not it (``1000.0`` or ``True`` for a size,
    ``True`` or ``1.5`` for a seed) are refused, not silently taken: they would name the
    cell differently in every record."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        return int(size)
    sizes = spec.sizes.get(model, ())
    if size in sizes and not any(type(size) is type(s) for s in sizes if s == size):
        raise ValueError(
            f"size {size!r} ({type(size).__name__}) of model {model!r} for workload {workload!r} must be written as "
            f"one of {sizes}"
        )
    return size


__all__ = ["BACKENDS", "DISTRIBUTIONS", "FRAMEWORKS", "DEVICES", "DTYPES", "EXECUTIONS", "MODELS", "MODES", "PRECISIONS", "WORKLOADS", "Cell"]
