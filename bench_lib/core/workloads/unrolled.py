"""``unrolled``: hypergradients and meta-gradients through K steps of an inner optimizer.

Inner problem: the model's loss (the mlp's, or the ConvNet's) on the training batch
(x, y).  K steps of
- ``sgd``: p_{k+1} = p_k - lr g_k, or
- ``momentum``: m_{k+1} = mu m_k + g_k, p_{k+1} = p_k - lr m_{k+1}, mu = 0.9, m_0 = 0,
with g_k the training loss's gradient at p_k, written functionally (new tensors every
step) so that the chain of dependencies stays differentiable.  Outer loss: the same
loss on the validation batch (xv, yv) at p_K.

Outputs: ``d_lr``, the derivative of the outer loss with respect to lr (the
hypergradient, 0-d), and ``d_init``, its gradient with respect to p_0 (the MAML
meta-gradient), flat in the flattening order.  Keyword parameters: ``K`` (an int of at
least 1; asv runs 1, 10 and 100) and ``optimizer``.

Modes:
- ``reverse``: reverse mode through the whole unrolled loop, both outputs;
- ``forward``: the forward-mode hypergradient (a JVP along lr, the inner gradients in
  reverse mode inside it): ``d_lr`` only, with memory that does not grow with K;
- ``first_order``: first-order MAML, the inner gradients taken as constants: a labelled
  approximation, verified against its own float64 reference, whose distance to the
  exact outputs is reported as its approximation error.

Reference: NumPy float64 with the model's reference gradient and exact HVPs (the mlp's
hand-written ones, autograd's for the ConvNet); both outputs exact, from a hand-written
adjoint pass through the loop (``reference.unrolled_derivatives``), and ``d_lr``
checked against a central difference of the outer loss in lr.
"""

from __future__ import annotations

import numpy as np

from bench_lib.core import reference
from bench_lib.core.models import draw_data
from bench_lib.core.workloads import Expected, Parameter, Workload, positive_int

LEARNING_RATE = 0.1
MOMENTUM = 0.9
OPTIMIZERS = ("sgd", "momentum")
# The central difference that checks the adjoint's d_lr: a fourth-order stencil with a
# step of LR_STEP * lr; agreement to AGREEMENT (relative) or the reference is wrong.
LR_STEP, AGREEMENT = 1e-3, 1e-7


def momentum_of(optimizer: str) -> float:
    """mu of the update rule: SGD is momentum with mu = 0, exactly."""
    return MOMENTUM if optimizer == "momentum" else 0.0


def initial_velocity(optimizer: str, params, zeros_like) -> tuple:
    """m_0: zeros shaped like the parameters for momentum; SGD keeps no velocity."""
    return tuple(zeros_like(block) for block in params) if optimizer == "momentum" else ()


def inner_update(optimizer: str):
    """The update ``(params, velocity, grads, lr) -> (params, velocity)`` on tuples of
    blocks, written once for every framework: new arrays, never in place."""
    if optimizer == "sgd":
        return lambda p, m, g, lr: (tuple(pi - lr * gi for pi, gi in zip(p, g, strict=True)), m)

    def momentum(p, m, g, lr):
        m = tuple(MOMENTUM * mi + gi for mi, gi in zip(m, g, strict=True))
        return tuple(pi - lr * mi for pi, mi in zip(p, m, strict=True)), m

    return momentum


def _draw_extra(case, rng):
    validation = draw_data(case, rng)
    return {"lr": np.asarray(LEARNING_RATE), "xv": validation["x"], "yv": validation["y"]}


def _exact(case, arrays, K, optimizer):
    mu = momentum_of(optimizer)
    d_lr, d_init = reference.unrolled_derivatives(case, arrays, K, mu)
    lr = float(arrays["lr"])
    (difference,) = reference.directional_derivatives(
        lambda t: reference.unrolled_outer_loss(case, arrays, K, mu, lr=float(t)),
        np.asarray(lr), np.asarray(1.0), steps=(LR_STEP * lr,),
    )
    if abs(float(difference) - d_lr) > AGREEMENT * max(abs(d_lr), 1e-12):
        raise AssertionError(
            f"the adjoint reference's d_lr {d_lr:.12e} disagrees with the central difference "
            f"{float(difference):.12e} ({case}, K={K}, {optimizer})"
        )
    return {"d_lr": Expected(np.asarray(d_lr)), "d_init": Expected(d_init)}


def _first_order(case, arrays, K, optimizer):
    d_lr, d_init = reference.unrolled_first_order(case, arrays, K, momentum_of(optimizer))
    return {"d_lr": Expected(np.asarray(d_lr)), "d_init": Expected(d_init)}


WORKLOAD = Workload(
    name="unrolled",
    description="unrolled optimization: hypergradient and meta-gradient",
    modes=("reverse", "forward", "first_order"),
    sizes={"mlp": ("S", "M"), "cnn": ("S",)},
    smallest={"mlp": "S", "cnn": "S"},
    gpu_sizes={"mlp": ("M",)},
    outputs={"d_lr": "value", "d_init": "parameters"},
    reference=_exact,
    extra_inputs=("lr", "xv", "yv"),
    draw_extra=_draw_extra,
    parameters={
        "K": Parameter((1, 10, 100), 10, "inner steps, an int >= 1", accept=positive_int),
        "optimizer": Parameter(OPTIMIZERS, "sgd", "the inner optimizer"),
    },
    omitted_outputs={
        "forward": {
            "d_init": "forward mode gives one directional derivative per pass: d_init would take one pass "
            "per parameter (8,970 at mlp S)",
        },
    },
    approximations={"first_order": _first_order},
)
