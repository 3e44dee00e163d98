"""Backend-neutral workload specs and their inputs.

A spec fixes the mathematics every backend must compute; the inputs are made once
here, in NumPy float64 from a seed, so that every backend receives identical numbers.
Cases are only ever appended: changing a size or the input recipe changes history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

WORKLOADS = ("grad", "hvp")
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

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        h = self.hidden
        return ((self.n_in, h), (h,), (h, h), (h,), (h, self.n_out), (self.n_out,))

    @property
    def n_params(self) -> int:
        return sum(math.prod(shape) for shape in self.param_shapes)


@dataclass(frozen=True)
class Rosenbrock:
    """Chained Rosenbrock function of n variables.

    f(x) = sum_{i<n-1} 100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2.
    """

    n: int

    @property
    def n_params(self) -> int:
        return self.n


MLP_SIZES = {
    "S": MLP(batch=128, n_in=64, hidden=64, n_out=10),
    "M": MLP(batch=256, n_in=512, hidden=1024, n_out=10),
    "L": MLP(batch=1024, n_in=1024, hidden=4096, n_out=10),
}
ROSENBROCK_SIZES = {n: Rosenbrock(n) for n in (10**3, 10**5, 10**6)}
SIZES = {"mlp": tuple(MLP_SIZES), "rosenbrock": tuple(ROSENBROCK_SIZES)}
# The smallest case of each model: what tests and `verify` run.
SMALLEST = {"mlp": "S", "rosenbrock": 10**3}


def spec(model: str, size) -> MLP | Rosenbrock:
    """The spec of one (model, size) case; a clear ValueError for anything else."""
    table = {"mlp": MLP_SIZES, "rosenbrock": ROSENBROCK_SIZES}.get(model)
    if table is None:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    if size not in table:
        raise ValueError(f"unknown size {size!r} for model {model!r}; expected one of {tuple(table)}")
    return table[size]


def check_workload(workload: str) -> None:
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; expected one of {WORKLOADS}")


def inputs(workload: str, model: str, size, seed: int = 0) -> dict[str, np.ndarray]:
    """The float64 inputs of one case: ``params`` (flat), ``v`` (hvp), ``x`` and ``y`` (mlp).

    The generator draws params, then data, then v, so that ``grad`` and ``hvp`` of the
    same case are evaluated at the same point.
    """
    check_workload(workload)
    case = spec(model, size)
    rng = np.random.default_rng(seed)
    if isinstance(case, MLP):
        blocks = []
        for shape in case.param_shapes:
            if len(shape) == 2:  # weights: variance 1/fan_in keeps tanh out of saturation
                blocks.append(rng.standard_normal(shape) / np.sqrt(shape[0]))
            else:
                blocks.append(0.1 * rng.standard_normal(shape))
        arrays = {
            "params": np.concatenate([b.ravel() for b in blocks]),
            "x": rng.standard_normal((case.batch, case.n_in)),
            "y": rng.standard_normal((case.batch, case.n_out)),
        }
    else:
        # Around the valley x = 1, where the Hessian is indefinite in places.
        arrays = {"params": rng.uniform(-1.5, 1.5, case.n)}
    if workload == "hvp":
        arrays["v"] = rng.standard_normal(case.n_params)
    return arrays


@dataclass(frozen=True)
class ArrayOps:
    """The few array functions the losses need, in one framework's spelling."""

    tanh: Callable
    mean: Callable
    sum: Callable
    reshape: Callable


def loss_function(case: MLP | Rosenbrock, ops: ArrayOps) -> Callable:
    """The loss of ``case`` written once for every framework: ``f(params, *data)``.

    Backends differ only in ``ops``, so that no backend can compute another function.
    """
    if isinstance(case, MLP):

        def mlp_loss(p, x, y):
            w1, b1, w2, b2, w3, b3 = unflatten(case, p, ops.reshape)
            h = ops.tanh(x @ w1 + b1)
            h = ops.tanh(h @ w2 + b2)
            residual = h @ w3 + b3 - y
            return 0.5 * ops.mean(residual * residual)

        return mlp_loss

    def rosenbrock_loss(p):
        head, tail = p[:-1], p[1:]
        valley = tail - head * head
        return ops.sum(100.0 * valley * valley + (1.0 - head) * (1.0 - head))

    return rosenbrock_loss


def unflatten(case: MLP, flat, reshape=lambda a, shape: a.reshape(shape)):
    """Split a flat parameter vector into (W1, b1, W2, b2, W3, b3), in flattening order.

    Works for any array type that slices; ``reshape`` is the framework's reshape.
    """
    pieces, start = [], 0
    for shape in case.param_shapes:
        size = math.prod(shape)  # plain ints: torch.compile would trace np.prod into a tensor
        pieces.append(reshape(flat[start : start + size], shape))
        start += size
    return pieces
