"""The models every workload differentiates: specs, cases, native parameter structures
and the loss, written once for every framework.

A case is one (model, size).  Its parameters have a *native structure*, the one the
framework's users hold: six arrays (W1, b1, W2, b2, W3, b3) for the mlp, one vector for
Rosenbrock.  The flat float64 vector is the public contract at the boundary only
(``inputs()`` and ``compute()``): a backend splits it once when a cell is built and
flattens outputs only when they are copied back.  Cases are only ever appended:
changing a case changes history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

MODELS = ("mlp", "rosenbrock")


@dataclass(frozen=True)
class MLP:
    """Three-layer tanh network with a mean squared error loss.

    p = (W1, b1, W2, b2, W3, b3), each W an (in, out) matrix, flattened in that order,
    row-major.  f(p) = 0.5 * mean((tanh(tanh(x W1 + b1) W2 + b2) W3 + b3 - y)**2), the
    mean taken over batch and outputs.
    """

    batch: int
    n_in: int
    hidden: int
    n_out: int

    block_names = ("W1", "b1", "W2", "b2", "W3", "b3")
    data_names = ("x", "y")

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        h = self.hidden
        return ((self.n_in, h), (h,), (h, h), (h,), (h, self.n_out), (self.n_out,))

    @property
    def n_params(self) -> int:
        return sum(math.prod(shape) for shape in self.param_shapes)

    @property
    def value_terms(self) -> int:
        """Terms in the longest sum behind the loss: the mean over batch and outputs."""
        return self.batch * self.n_out

    @property
    def derivative_terms(self) -> int:
        """Terms in the longest sum behind one derivative entry: a contraction over the
        batch (weight gradients) or over a layer's width (backpropagation)."""
        return max(self.batch, self.n_in, self.hidden)


@dataclass(frozen=True)
class Rosenbrock:
    """Chained Rosenbrock function of n variables.

    f(x) = sum_{i<n-1} 100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2.
    """

    n: int

    block_names = ("x",)
    data_names = ()

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.n,),)

    @property
    def n_params(self) -> int:
        return self.n

    @property
    def value_terms(self) -> int:
        return self.n

    @property
    def derivative_terms(self) -> int:
        return 3  # each gradient or Hessian entry couples x[i-1], x[i], x[i+1]


Case = MLP | Rosenbrock
MODEL_TYPES = {"mlp": MLP, "rosenbrock": Rosenbrock}

# Every case of every model.  Which of them a workload runs is the workload's choice.
CASES: dict[str, dict] = {
    "mlp": {
        "S": MLP(batch=128, n_in=64, hidden=64, n_out=10),
        "M": MLP(batch=256, n_in=512, hidden=1024, n_out=10),
        "L": MLP(batch=1024, n_in=1024, hidden=4096, n_out=10),
        # Small enough for dense Hessians: n = 586 and n = 2,442.
        "XXS": MLP(batch=64, n_in=8, hidden=16, n_out=10),
        "XS": MLP(batch=128, n_in=32, hidden=32, n_out=10),
    },
    "rosenbrock": {n: Rosenbrock(n) for n in (10**3, 10**5, 10**6, 100, 4000)},
}


def spec(model: str, size) -> Case:
    """The spec of one (model, size) case; a clear ValueError for anything else."""
    table = CASES.get(model)
    if table is None:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    if size not in table:
        raise ValueError(f"unknown size {size!r} for model {model!r}; expected one of {tuple(table)}")
    return table[size]


def data_names(model: str) -> tuple[str, ...]:
    """The data a model's loss takes after the parameters, in call order."""
    return MODEL_TYPES[model].data_names


def draw_params(case: Case, rng: np.random.Generator) -> np.ndarray:
    """Flat float64 parameters: weights with variance 1/fan_in (tanh stays out of
    saturation) and small biases for the mlp; around the valley x = 1, where the
    Hessian is indefinite in places, for Rosenbrock."""
    if isinstance(case, Rosenbrock):
        return rng.uniform(-1.5, 1.5, case.n)
    blocks = []
    for shape in case.param_shapes:
        if len(shape) == 2:
            blocks.append(rng.standard_normal(shape) / np.sqrt(shape[0]))
        else:
            blocks.append(0.1 * rng.standard_normal(shape))
    return np.concatenate([b.ravel() for b in blocks])


def draw_data(case: Case, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The data the loss takes besides the parameters: a batch (x, y) for the mlp."""
    if isinstance(case, Rosenbrock):
        return {}
    return {"x": rng.standard_normal((case.batch, case.n_in)), "y": rng.standard_normal((case.batch, case.n_out))}


def block_slices(case: Case) -> tuple[slice, ...]:
    """Where each parameter block sits in the flat vector."""
    slices, start = [], 0
    for shape in case.param_shapes:
        size = math.prod(shape)
        slices.append(slice(start, start + size))
        start += size
    return tuple(slices)


def split(case: Case, flat: np.ndarray):
    """The native structure of a flat parameter-shaped vector, in NumPy: a tuple of
    the six mlp arrays, or the Rosenbrock vector itself."""
    if isinstance(case, Rosenbrock):
        return flat
    return tuple(flat[s].reshape(shape) for s, shape in zip(block_slices(case), case.param_shapes, strict=True))


def flatten(blocks) -> np.ndarray:
    """The inverse of ``split`` for NumPy arrays: one array, or a sequence of blocks."""
    if isinstance(blocks, np.ndarray):
        return blocks.reshape(-1)
    return np.concatenate([np.asarray(b).reshape(-1) for b in blocks])


@dataclass(frozen=True)
class ArrayOps:
    """The few array functions the losses need, in one framework's spelling."""

    tanh: Callable
    square: Callable
    mean: Callable
    sum: Callable


def loss_function(case: Case, ops: ArrayOps) -> Callable:
    """The loss of ``case`` written once for every framework: ``f(params, *data)`` with
    ``params`` in the native structure (six arrays, or one vector).

    Backends differ only in ``ops``, so that no backend can compute another function.
    """
    if isinstance(case, MLP):

        def mlp_loss(params, x, y):
            w1, b1, w2, b2, w3, b3 = params
            h = ops.tanh(x @ w1 + b1)
            h = ops.tanh(h @ w2 + b2)
            # square, not r * r: torch's forward-over-reverse is slower with r * r
            # (see docs/design.md)
            return 0.5 * ops.mean(ops.square(h @ w3 + b3 - y))

        return mlp_loss

    def rosenbrock_loss(x):
        head, tail = x[:-1], x[1:]
        return ops.sum(100.0 * ops.square(tail - ops.square(head)) + ops.square(1.0 - head))

    return rosenbrock_loss
