"""The float64 reference: NumPy, no framework.

Every backend's answer is checked against this package.  Rosenbrock has closed forms for
its gradient and Hessian; the mlp gradient is hand-written backprop and its
Hessian-vector product is a fourth-order central difference of that gradient (its
Hessian, exact forward over reverse of that backprop).  Logistic regression is in
closed form (``logreg.py``); the ConvNet and the Transformer block are differentiated
by HIPS autograd, exactly (``networks.py``).  The workload modules
(``bench_lib/core/workloads/``) say which of these each output uses.
"""

from __future__ import annotations

import numpy as np

from bench_lib.core.models import CNN, MLP, Case, LogReg, Rosenbrock, Transformer, block_slices, split
from bench_lib.core.reference import logreg, networks

# The models whose reference is a module with loss, gradient, exact HVPs and the dense
# Hessian, each a function of (case, params, x, y).
_MODULES = {LogReg: logreg, CNN: networks, Transformer: networks}

# Step of the finite difference along the unit direction v/|v|.  With a fourth-order
# stencil the truncation error is O(h**4) ~ 1e-12 and the rounding error
# O(eps_64 / h) ~ 1e-13, both far below the float32 error model.
FD_STEP = 1e-3


def _mlp_forward(case: MLP, params, x):
    w1, b1, w2, b2, w3, b3 = split(case, params)
    h1 = np.tanh(x @ w1 + b1)
    h2 = np.tanh(h1 @ w2 + b2)
    return (w1, w2, w3), (h1, h2), h2 @ w3 + b3


def _mlp_loss(case: MLP, params, x, y) -> float:
    *_, out = _mlp_forward(case, params, x)
    return 0.5 * float(np.mean((out - y) ** 2))


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


def directional_derivatives(fn, point, direction, steps=(FD_STEP,)):
    """d/dt fn(point + t direction) at t = 0, by a fourth-order central difference,
    once per step in ``steps`` (sharing the evaluations the stencils have in common).

    The step is taken along the unit direction, so its size does not depend on |v|.
    """
    norm = float(np.linalg.norm(direction))
    if norm == 0.0:
        zero = np.zeros_like(np.asarray(fn(point)))
        return [zero for _ in steps]
    unit = direction / norm
    cache: dict[float, np.ndarray] = {}

    def at(t):
        if t not in cache:
            cache[t] = np.asarray(fn(point + t * unit))
        return cache[t]

    return [norm * (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h) for h in steps]


def directional_derivative(fn, point, direction, step: float = FD_STEP):
    return directional_derivatives(fn, point, direction, (step,))[0]


def _module_of(case: Case):
    return _MODULES.get(type(case))


def loss(case: Case, arrays) -> float:
    if _module_of(case):
        return _module_of(case).loss(case, arrays["params"], arrays["x"], arrays["y"])
    if isinstance(case, Rosenbrock):
        return _rosenbrock_loss(arrays["params"])
    return _mlp_loss(case, arrays["params"], arrays["x"], arrays["y"])


def gradient(case: Case, arrays) -> np.ndarray:
    if _module_of(case):
        return _module_of(case).gradient(case, arrays["params"], arrays["x"], arrays["y"])
    if isinstance(case, Rosenbrock):
        return _rosenbrock_grad(arrays["params"])
    return _mlp_grad(case, arrays["params"], arrays["x"], arrays["y"])


def hvp(case: Case, arrays, steps=(FD_STEP,)) -> list[np.ndarray]:
    """H v: one exact answer (the closed forms, autograd), or for the mlp central
    differences of the hand-written gradient along v, one per step in ``steps``."""
    if _module_of(case):
        return [exact_hvps(case, arrays, arrays["v"][None, :])[0]]
    if isinstance(case, Rosenbrock):
        return [_rosenbrock_hvp(arrays["params"], arrays["v"])]
    return directional_derivatives(
        lambda p: _mlp_grad(case, p, arrays["x"], arrays["y"]), arrays["params"], arrays["v"], steps
    )


def _mlp_hvps(case: MLP, params, x, y, directions) -> np.ndarray:
    """H d for each row d of ``directions`` (k, n): forward-mode differentiation of the
    hand-written backprop above (forward over reverse), exact up to float64 rounding.
    Names ending in _t are tangents: for a quantity z of the backprop, z_t = dz[d].
    (d_a1 itself only enters through its tangent: the W1 and b1 rows.)"""
    (w1, w2, w3), (h1, h2), out = _mlp_forward(case, params, x)
    dw1, db1, dw2, db2, dw3, db3 = (
        directions[:, s].reshape(len(directions), *shape)
        for s, shape in zip(block_slices(case), case.param_shapes, strict=True)
    )
    d_out = (out - y) / out.size
    s2, s1 = 1.0 - h2**2, 1.0 - h1**2  # tanh' at each layer
    d_h2 = d_out @ w3.T
    d_a2 = d_h2 * s2
    d_h1 = d_a2 @ w2.T
    # forward tangents of the activations
    a1_t = x @ dw1 + db1[:, None, :]
    h1_t = s1 * a1_t
    a2_t = h1_t @ w2 + h1 @ dw2 + db2[:, None, :]
    h2_t = s2 * a2_t
    out_t = h2_t @ w3 + h2 @ dw3 + db3[:, None, :]
    # tangents of the backward pass
    d_out_t = out_t / out.size
    d_a2_t = (d_out_t @ w3.T + d_out @ dw3.transpose(0, 2, 1)) * s2 - d_h2 * 2.0 * h2 * h2_t
    d_a1_t = (d_a2_t @ w2.T + d_a2 @ dw2.transpose(0, 2, 1)) * s1 - d_h1 * 2.0 * h1 * h1_t
    blocks = (
        x.T @ d_a1_t,
        d_a1_t.sum(1),
        h1_t.transpose(0, 2, 1) @ d_a2 + h1.T @ d_a2_t,
        d_a2_t.sum(1),
        h2_t.transpose(0, 2, 1) @ d_out + h2.T @ d_out_t,
        d_out_t.sum(1),
    )
    return np.concatenate([b.reshape(len(directions), -1) for b in blocks], axis=1)


def exact_hvps(case: Case, arrays, directions) -> np.ndarray:
    """H d for each row d of ``directions`` (k, n), exact up to float64 rounding, at the
    parameters and data of ``arrays``: every model but Rosenbrock."""
    if _module_of(case):
        return _module_of(case).hvps(case, arrays["params"], arrays["x"], arrays["y"], directions)
    return _mlp_hvps(case, arrays["params"], arrays["x"], arrays["y"], directions)


def _rosenbrock_hessian(x) -> np.ndarray:
    """The dense tridiagonal Hessian, from the closed form."""
    n = x.size
    diag = np.zeros_like(x)
    diag[:-1] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diag[1:] += 200.0
    hessian = np.zeros((n, n))
    hessian[np.arange(n), np.arange(n)] = diag
    hessian[np.arange(n - 1), np.arange(1, n)] = -400.0 * x[:-1]
    hessian[np.arange(1, n), np.arange(n - 1)] = -400.0 * x[:-1]
    return hessian


# Unit directions per batch of the mlp's forward-over-reverse: bounds the tangents held
# at once (CHUNK x batch x hidden floats) whatever n is.
CHUNK = 256


def hessian(case: Case, arrays) -> np.ndarray:
    """The dense float64 Hessian, rows and columns in the flattening order: the closed
    forms of Rosenbrock and logistic regression, autograd's for the networks; for the mlp, exact HVPs with every unit vector from the
    hand-written forward-over-reverse (no finite-difference error)."""
    params = arrays["params"]
    if _module_of(case):
        return _module_of(case).hessian(case, params, arrays["x"], arrays["y"])
    if isinstance(case, Rosenbrock):
        return _rosenbrock_hessian(params)
    n = params.size
    rows = []
    for start in range(0, n, CHUNK):
        basis = np.eye(CHUNK if start + CHUNK <= n else n - start, n, k=start)
        rows.append(_mlp_hvps(case, params, arrays["x"], arrays["y"], basis))
    return np.concatenate(rows)


# Unrolled optimization: K inner steps p_{k+1} = p_k - lr m_{k+1}, m_{k+1} = mu m_k + g(p_k)
# on the training batch (mu = 0 is plain SGD: m_{k+1} = g(p_k) exactly), then the
# loss on the validation batch.  Derivatives by the adjoint recursion of that loop,
# written by hand, with the exact HVPs above (the mlp's forward over reverse, the
# others' closed forms or autograd): no finite-difference error.


def unroll(case: Case, params, x, y, lr: float, steps: int, mu: float):
    """The parameters p_0..p_K and the velocities m_1..m_K of the inner loop."""
    trajectory, velocities, velocity = [params], [], np.zeros_like(params)
    for _ in range(steps):
        velocity = mu * velocity + _gradient_at(case, trajectory[-1], x, y)
        velocities.append(velocity)
        trajectory.append(trajectory[-1] - lr * velocity)
    return trajectory, velocities


def unrolled_outer_loss(case: Case, arrays, steps: int, mu: float, lr: float | None = None) -> float:
    """The validation loss after ``steps`` inner steps (at ``lr``, the input's by default)."""
    lr = float(arrays["lr"]) if lr is None else lr
    trajectory, _ = unroll(case, arrays["params"], arrays["x"], arrays["y"], lr, steps, mu)
    return loss(case, {"params": trajectory[-1], "x": arrays["xv"], "y": arrays["yv"]})


def unrolled_derivatives(case: Case, arrays, steps: int, mu: float) -> tuple[float, np.ndarray]:
    """(d_lr, d_init), exact: the reverse (adjoint) pass through the unrolled loop.

    Going back through step k with P the adjoint of p_{k+1} and M that of m_{k+1}:
    p_{k+1} = p_k - lr m_{k+1} adds -<P, m_{k+1}> to d_lr and makes m_{k+1}'s adjoint
    M - lr P; m_{k+1} = mu m_k + g(p_k) then gives p_k's adjoint P + H(p_k)(M - lr P)
    and m_k's mu (M - lr P)."""
    x, y, lr = arrays["x"], arrays["y"], float(arrays["lr"])
    trajectory, velocities = unroll(case, arrays["params"], x, y, lr, steps, mu)
    adjoint = _gradient_at(case, trajectory[-1], arrays["xv"], arrays["yv"])
    velocity_adjoint, d_lr = np.zeros_like(adjoint), 0.0
    for k in reversed(range(steps)):
        d_lr -= float(adjoint @ velocities[k])
        through_velocity = velocity_adjoint - lr * adjoint
        at_step = {"params": trajectory[k], "x": x, "y": y}
        adjoint = adjoint + exact_hvps(case, at_step, through_velocity[None, :])[0]
        velocity_adjoint = mu * through_velocity
    return d_lr, adjoint


def unrolled_first_order(case: Case, arrays, steps: int, mu: float) -> tuple[float, np.ndarray]:
    """(d_lr, d_init) of the first-order approximation (first-order MAML): the inner
    gradients taken as constants, so p_K = p_0 - lr (m_1 + ... + m_K) and both
    derivatives follow from the validation gradient at p_K alone."""
    trajectory, velocities = unroll(case, arrays["params"], arrays["x"], arrays["y"], float(arrays["lr"]), steps, mu)
    outer_gradient = _gradient_at(case, trajectory[-1], arrays["xv"], arrays["yv"])
    return -float(outer_gradient @ np.sum(velocities, axis=0)), outer_gradient


def _gradient_at(case: Case, params, x, y) -> np.ndarray:
    return gradient(case, {"params": params, "x": x, "y": y})
