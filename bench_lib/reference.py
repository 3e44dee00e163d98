"""The float64 reference: plain NumPy, hand-written derivatives, no framework.

Every backend's answer is checked against this module.  Rosenbrock has closed forms for
its gradient and Hessian; the mlp gradient is hand-written backprop and its
Hessian-vector product is a fourth-order central difference of that gradient.
"""

from __future__ import annotations

import numpy as np

from .workloads import MLP, Rosenbrock, check_workload, spec, unflatten

# Step of the finite difference along the unit direction v/|v|.  With a fourth-order
# stencil the truncation error is O(h**4) ~ 1e-12 and the rounding error
# O(eps_64 / h) ~ 1e-13, both far below the float64 tolerance.
FD_STEP = 1e-3


def _mlp_forward(case: MLP, params, x):
    w1, b1, w2, b2, w3, b3 = unflatten(case, params)
    h1 = np.tanh(x @ w1 + b1)
    h2 = np.tanh(h1 @ w2 + b2)
    return (w1, w2, w3), (h1, h2), h2 @ w3 + b3


def _mlp_loss(case: MLP, arrays) -> float:
    *_, out = _mlp_forward(case, arrays["params"], arrays["x"])
    return 0.5 * float(np.mean((out - arrays["y"]) ** 2))


def _mlp_grad(case: MLP, params, x, y) -> np.ndarray:
    (w1, w2, w3), (h1, h2), out = _mlp_forward(case, params, x)
    d_out = (out - y) / out.size
    d_a2 = (d_out @ w3.T) * (1.0 - h2**2)
    d_a1 = (d_a2 @ w2.T) * (1.0 - h1**2)
    blocks = (x.T @ d_a1, d_a1.sum(0), h1.T @ d_a2, d_a2.sum(0), h2.T @ d_out, d_out.sum(0))
    return np.concatenate([b.ravel() for b in blocks])


def _rosenbrock_loss(x) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def _rosenbrock_grad(x) -> np.ndarray:
    g = np.zeros_like(x)
    inner = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * inner - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * inner
    return g


def _rosenbrock_hvp(x, v) -> np.ndarray:
    """H v with the tridiagonal closed-form Hessian."""
    diag = np.zeros_like(x)
    diag[:-1] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diag[1:] += 200.0
    off = -400.0 * x[:-1]  # H[i, i+1] = H[i+1, i]
    hv = diag * v
    hv[:-1] += off * v[1:]
    hv[1:] += off * v[:-1]
    return hv


def directional_derivative(fn, point, direction, step: float = FD_STEP):
    """d/dt fn(point + t direction) at t = 0, by a fourth-order central difference.

    The step is taken along the unit direction, so its size does not depend on |v|.
    """
    norm = float(np.linalg.norm(direction))
    if norm == 0.0:
        return np.zeros_like(np.asarray(fn(point)))
    unit = direction / norm

    def at(t):
        return np.asarray(fn(point + t * unit))

    stencil = (-at(2 * step) + 8 * at(step) - 8 * at(-step) + at(-2 * step)) / (12 * step)
    return norm * stencil


def loss(model: str, size, arrays) -> float:
    case = spec(model, size)
    if isinstance(case, Rosenbrock):
        return _rosenbrock_loss(arrays["params"])
    return _mlp_loss(case, arrays)


def gradient(model: str, size, arrays) -> np.ndarray:
    case = spec(model, size)
    if isinstance(case, Rosenbrock):
        return _rosenbrock_grad(arrays["params"])
    return _mlp_grad(case, arrays["params"], arrays["x"], arrays["y"])


def hvp(model: str, size, arrays) -> np.ndarray:
    case = spec(model, size)
    if isinstance(case, Rosenbrock):
        return _rosenbrock_hvp(arrays["params"], arrays["v"])
    return directional_derivative(
        lambda p: _mlp_grad(case, p, arrays["x"], arrays["y"]), arrays["params"], arrays["v"]
    )


def expected(workload: str, model: str, size, arrays) -> dict[str, np.ndarray]:
    """What a cell of ``workload`` must return, keyed as ``bench_lib.compute`` keys it."""
    check_workload(workload)
    if workload == "grad":
        return {
            "loss": np.asarray(loss(model, size, arrays)),
            "grad": gradient(model, size, arrays),
        }
    return {"hvp": hvp(model, size, arrays)}
