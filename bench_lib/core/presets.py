"""Named selections of cells.

The asv parameters of a suite never change; a preset only chooses which parameter
combinations a run measures (``suite/grid.py`` turns them into asv's ``--bench``
expressions).  Cells the support table skips stay in a preset: asv records them as
skipped, and the record keeps the reason.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from bench_lib.core import workloads as registry
from bench_lib.core.cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, PRECISIONS, Cell
from bench_lib.core.models import MODELS
from bench_lib.core.workloads.hessian import LOOP_MODES


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
    # tf32 is chosen by name: on the CPU and in float64 every tf32 cell is a skip.
    precisions: tuple = ("strict",)
    gpu_sizes: bool = True  # False: leave out the sizes each workload means for a GPU
    # keyword parameter -> the values selected (a workload's parameter not named here:
    # every value asv runs; a name a workload does not take is ignored for it)
    keywords: dict = field(default_factory=dict)

    def cells(self):
        for workload, model in itertools.product(self.workloads or registry.WORKLOADS, self.models):
            spec = registry.get(workload)
            sizes = spec.sizes.get(model, ()) if self.gpu_sizes else spec.cpu_sizes(model)
            sizes = [s for s in sizes if self.sizes is None or s in self.sizes]
            modes = [m for m in spec.modes if self.modes is None or m in self.modes]
            names = tuple(spec.parameters)
            keyword_values = [self.keywords.get(name, spec.parameters[name].values) for name in names]
            for backend, mode, execution, size, device, dtype, precision, *values in itertools.product(
                self.backends, modes, self.executions, sizes, self.devices, self.dtypes, self.precisions,
                *keyword_values,
            ):
                yield Cell(
                    workload, backend, mode, execution, model, size, device, dtype, keywords=zip(names, values),
                    precision=precision,
                )


@dataclass(frozen=True)
class Preset:
    description: str
    include: tuple[Selection, ...]
    # (selection, why) pairs taken out of the preset; documented in docs/measures.md.
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


# Loop strategies call one HVP per row, n times per Hessian: at mlp XS (n = 2,442) an
# eager call takes from half a minute to minutes, and JAX's compiled loop spends much of
# its first call compiling the stack of rows (see docs/measures.md).  So the default
# preset runs the loops at mlp XXS (n = 586), every other strategy at XS, and leaves
# out TensorFlow's eager loop of HVPs, which is slow even at XXS for a cell that is
# called three times.
_LOOPS = Selection(workloads=("hessian",), modes=LOOP_MODES)
_GPU = {"devices": ("gpu",), "dtypes": ("float32",), "precisions": PRECISIONS}
_RELEASE = {"executions": ("eager", "compiled"), "devices": ("cpu",), "dtypes": ("float32",)}

PRESETS = {
    "default": Preset(
        "CPU, float32: grad and every HVP mode of mlp S and M, cnn S and transformer S; every Hessian strategy at "
        "mlp XS (loops of HVPs at XXS, but for TensorFlow's eager one) and the grad of both sizes; unrolled SGD at "
        "mlp S, K = 10, and K = 100 compiled; every backend and execution",
        include=(
            Selection(workloads=("grad", "hvp"), models=("mlp",), sizes=("S", "M"), devices=("cpu",), dtypes=("float32",)),
            Selection(
                workloads=("grad", "hvp"), models=("cnn", "transformer"), sizes=("S",), devices=("cpu",),
                dtypes=("float32",),
            ),
            # the Hessians' cost in gradients
            Selection(workloads=("grad",), models=("mlp",), sizes=("XXS", "XS"), devices=("cpu",), dtypes=("float32",)),
            Selection(workloads=("hessian",), models=("mlp",), sizes=("XS",), devices=("cpu",), dtypes=("float32",)),
            Selection(
                workloads=("hessian",), models=("mlp",), sizes=("XXS",), modes=LOOP_MODES, devices=("cpu",),
                dtypes=("float32",),
            ),
            Selection(
                workloads=("unrolled",), models=("mlp",), sizes=("S",), devices=("cpu",), dtypes=("float32",),
                keywords={"K": (10,), "optimizer": ("sgd",)},
            ),
            Selection(
                workloads=("unrolled",), models=("mlp",), sizes=("S",), executions=("compiled",), devices=("cpu",),
                dtypes=("float32",), keywords={"K": (100,), "optimizer": ("sgd",)},
            ),
        ),
        exclude=(
            (replace(_LOOPS, sizes=("XS",)), "one eager call takes from half a minute to minutes (docs/measures.md)"),
            (
                replace(_LOOPS, sizes=("XXS",), backends=("tensorflow",), modes=("loop_hvp",), executions=("eager",)),
                "TensorFlow's eager loop of HVPs is slow even at XXS (docs/measures.md)",
            ),
        ),
    ),
    "smoke": Preset(
        "A few seconds of asv: JAX grad and HVP of mlp S, two JAX Hessians, JAX first-order MAML through 10 SGD "
        "steps, on the CPU; two cells skipped by the table (JAX graph grad and HVP)",
        include=(
            Selection(
                workloads=("grad", "hvp"), models=("mlp",), sizes=("S",), backends=("jax",),
                modes=("rev", "fwd_rev"), executions=("graph", "compiled"), devices=("cpu",),
                dtypes=("float32",),
            ),
            Selection(
                workloads=("hessian",), models=("mlp",), sizes=("XXS",), backends=("jax",), modes=("vmap_hvp",),
                executions=("compiled",), devices=("cpu",), dtypes=("float32",),
            ),
            Selection(
                workloads=("hessian",), models=("rosenbrock",), sizes=(100,), backends=("jax",), modes=("loop_hvp",),
                executions=("compiled",), devices=("cpu",), dtypes=("float32",),
            ),
            Selection(
                workloads=("unrolled",), models=("mlp",), sizes=("S",), backends=("jax",), modes=("first_order",),
                executions=("compiled",), devices=("cpu",), dtypes=("float32",),
                keywords={"K": (10,), "optimizer": ("sgd",)},
            ),
        ),
    ),
    "cpu": Preset(
        "Every CPU cell of every CPU size (mlp, cnn and transformer L of grad and hvp, mlp S of hessian, mlp M "
        "of unrolled are GPU sizes), both dtypes, every K and inner optimizer, strict precision (tf32 is a GPU "
        "setting)",
        include=(Selection(devices=("cpu",), gpu_sizes=False),),
    ),
    "gpu": Preset(
        "The GPU cases, float32 at strict and tf32 precision: grad and every HVP mode of mlp, cnn and transformer "
        "S, M and L; every Hessian strategy at mlp S (n = 8,970; loops of HVPs compiled only); unrolled "
        "optimization at mlp M, every K and inner optimizer",
        include=(
            Selection(workloads=("grad", "hvp"), models=("mlp", "cnn", "transformer"), sizes=("S", "M", "L"), **_GPU),
            Selection(workloads=("hessian",), models=("mlp",), sizes=("S",), **_GPU),
            Selection(workloads=("unrolled",), models=("mlp",), sizes=("M",), **_GPU),
        ),
        exclude=(
            (
                replace(_LOOPS, sizes=("S",), executions=("eager", "graph"), devices=("gpu",), precisions=PRECISIONS),
                "one call is 8,970 HVPs dispatched from Python: minutes per call",
            ),
        ),
    ),
    "full": Preset("Every cell, at both precisions", include=(Selection(precisions=PRECISIONS),)),
    # The cells a framework release is judged by: `make history` runs them in one
    # environment per release (asv.history.conf.json).  The Hessian strategies are each
    # backend's fastest at mlp XS in the reference runs (reference/README.md).
    "history": Preset(
        "The cells a framework release is judged by (make history: one environment per release): grad and every "
        "HVP mode of mlp S and M and cnn S; the fastest Hessian strategies at mlp XS (native, vmap_hvp, "
        "jacrev_jacrev, jacobian_while); unrolled reverse and forward at mlp S, K = 10, SGD; eager and compiled, "
        "float32, CPU",
        include=(
            Selection(workloads=("grad", "hvp"), models=("mlp",), sizes=("S", "M"), **_RELEASE),
            Selection(workloads=("grad", "hvp"), models=("cnn",), sizes=("S",), **_RELEASE),
            Selection(
                workloads=("hessian",), models=("mlp",), sizes=("XS",),
                modes=("native", "vmap_hvp", "jacrev_jacrev", "jacobian_while"), **_RELEASE,
            ),
            Selection(
                workloads=("unrolled",), models=("mlp",), sizes=("S",), modes=("reverse", "forward"),
                keywords={"K": (10,), "optimizer": ("sgd",)}, **_RELEASE,
            ),
        ),
    ),
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
