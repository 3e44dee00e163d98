"""The workload registry: one module per workload, from which the suite derives its
vocabulary (modes, sizes, argument names, outputs, asv parameters, presets).

A workload module defines ``WORKLOAD``, a ``Workload``.  Adding a workload means one
module here, one line in ``_MODULES``, a builder per mode in each backend's table, and an
asv suite file; nothing else switches on workload names.
"""

from __future__ import annotations

import importlib
import operator
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bench_lib.core.models import MODELS, Case, data_names, draw_data, draw_params, spec

# An output is a value of the loss ("value": a 0-d array), shaped like the parameters
# ("parameters": flat, in the flattening order, split into the model's blocks when
# verified) or a matrix over the parameters ("matrix": (n, n), rows and columns in the
# flattening order, split into blocks of parameter-block pairs when verified).
OUTPUT_KINDS = ("value", "parameters", "matrix")


@dataclass(frozen=True)
class Expected:
    """A reference output.  ``alternative`` is a second, independent estimate (a finite
    difference with twice the step) when the reference is approximate; their distance
    bounds the reference's own error.  None when the reference is exact."""

    value: np.ndarray
    alternative: np.ndarray | None = None


@dataclass(frozen=True)
class Parameter:
    """A keyword parameter of ``compute`` and ``prepare`` (and an asv parameter).

    ``values`` are those asv runs; ``accept(value)`` returns the value normalised or
    raises ValueError (by default only ``values`` are accepted)."""

    values: tuple
    default: object
    description: str
    accept: Callable[[object], object] | None = None

    def normalise(self, name: str, value):
        if self.accept is None:
            if value in self.values:
                return value
            problem = f"expected one of {self.values}"
        else:
            try:
                return self.accept(value)
            except (TypeError, ValueError) as error:
                problem = str(error)
        raise ValueError(f"{name}={value!r} is not valid ({self.description}): {problem}")


def positive_int(value) -> int:
    """An integer of at least 1 (a bool is not one)."""
    if isinstance(value, bool):
        raise TypeError("expected an int, got a bool")
    number = operator.index(value)  # a TypeError for 2.5 or "10"
    if number < 1:
        raise ValueError("expected an int >= 1")
    return number


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    modes: tuple[str, ...]
    # model -> the sizes this workload runs, and the smallest one (tests, quick checks)
    sizes: dict[str, tuple]
    smallest: dict[str, object]
    # output key -> kind, in the order compute() documents them
    outputs: dict[str, str]
    # the float64 reference: (case, inputs, **keywords) -> {output key: Expected}
    reference: Callable[..., dict[str, Expected]]
    # inputs after the parameters, in call order, drawn after the data: those in
    # ``shaped_like_params`` standard normal (hvp's "v"), the others by ``draw_extra``
    extra_inputs: tuple[str, ...] = ()
    shaped_like_params: tuple[str, ...] = ()
    draw_extra: Callable[[Case, np.random.Generator], dict] | None = None
    # keyword parameters of compute/prepare, in asv's order
    parameters: dict[str, Parameter] = field(default_factory=dict)
    # model -> sizes meant for a GPU: the CPU presets leave them out
    gpu_sizes: dict[str, tuple] = field(default_factory=dict)
    # mode -> what it computes with; the skip reason of a backend that has no such mode
    mode_descriptions: dict[str, str] = field(default_factory=dict)
    # mode -> {output key: why the mode cannot give it}; the mode's result omits them
    omitted_outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    # mode -> the float64 reference of the labelled approximation the mode computes
    # (signature as ``reference``); its cells are verified against that, and their
    # distance to the exact outputs is reported as the approximation error
    approximations: dict[str, Callable[..., dict[str, Expected]]] = field(default_factory=dict)

    def __post_init__(self):
        assert set(self.sizes) == set(self.smallest) and set(self.sizes) <= set(MODELS), self.name
        assert all(kind in OUTPUT_KINDS for kind in self.outputs.values()), self.name
        assert all(set(sizes) <= set(self.sizes[model]) for model, sizes in self.gpu_sizes.items()), self.name
        assert set(self.mode_descriptions) <= set(self.modes), self.name
        assert set(self.omitted_outputs) <= set(self.modes) and set(self.approximations) <= set(self.modes), self.name
        assert all(set(o) < set(self.outputs) for o in self.omitted_outputs.values()), self.name
        assert set(self.shaped_like_params) <= set(self.extra_inputs), self.name
        assert self.draw_extra or set(self.extra_inputs) == set(self.shaped_like_params), self.name
        assert "keywords" not in self.parameters, self.name  # compute's argument of that name

    def outputs_of(self, mode: str) -> tuple[str, ...]:
        """The output keys a mode's result holds."""
        omitted = self.omitted_outputs.get(mode, {})
        return tuple(key for key in self.outputs if key not in omitted)

    def keywords(self, given) -> tuple[tuple[str, object], ...]:
        """The keyword parameters of a cell as (name, value) pairs in the workload's
        order, defaults filled in; ``given`` a mapping or pairs.  A ValueError names an
        unknown parameter or a bad value."""
        given = dict(given)
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            expected = tuple(self.parameters) or "none"
            raise ValueError(f"workload {self.name!r} takes no parameter {unknown[0]!r}; its parameters: {expected}")
        return tuple(
            (name, parameter.normalise(name, given.get(name, parameter.default)))
            for name, parameter in self.parameters.items()
        )

    def cpu_sizes(self, model: str) -> tuple:
        """The sizes of ``model`` that the CPU presets run."""
        return tuple(s for s in self.sizes.get(model, ()) if s not in self.gpu_sizes.get(model, ()))

    def check_size(self, model: str, size) -> Case:
        case = spec(model, size)  # a ValueError naming an unknown model or size
        if size not in self.sizes.get(model, ()):
            raise ValueError(
                f"size {size!r} of model {model!r} is not a case of workload {self.name!r}; "
                f"expected one of {self.sizes.get(model, ())}"
            )
        return case

    def arguments(self, model: str) -> tuple[str, ...]:
        """The inputs a cell's program takes, in call order."""
        return ("params", *self.extra_inputs, *data_names(model))

    @property
    def parameter_shaped(self) -> tuple[str, ...]:
        return ("params", *self.shaped_like_params)


_MODULES = ("grad", "hvp", "hessian", "unrolled")
REGISTRY: dict[str, Workload] = {
    name: importlib.import_module(f"{__name__}.{name}").WORKLOAD for name in _MODULES
}
WORKLOADS = tuple(REGISTRY)
MODES = {name: workload.modes for name, workload in REGISTRY.items()}


def get(name: str) -> Workload:
    if name not in REGISTRY:
        raise ValueError(f"unknown workload {name!r}; expected one of {WORKLOADS}")
    return REGISTRY[name]


def inputs(workload: str, model: str, size, seed: int = 0) -> dict[str, np.ndarray]:
    """The float64 inputs of one case: flat ``params``, the model's data (``x``, ``y``
    for the mlp), then the workload's extra inputs (``v`` for hvp; ``lr``, ``xv`` and
    ``yv`` for unrolled).

    The generator draws params, then data, then the extra inputs, so that every
    workload of a case is evaluated at the same point.
    """
    spec_ = get(workload)
    case = spec_.check_size(model, size)
    rng = np.random.default_rng(seed)
    arrays = {"params": draw_params(case, rng), **draw_data(case, rng)}
    for name in spec_.shaped_like_params:
        arrays[name] = rng.standard_normal(case.n_params)
    if spec_.draw_extra is not None:
        arrays.update(spec_.draw_extra(case, rng))
    return arrays


__all__ = ["Expected", "MODELS", "MODES", "Parameter", "REGISTRY", "WORKLOADS", "Workload", "get", "inputs", "positive_int"]
