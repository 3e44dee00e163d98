"""Hand-written JAX unrolled optimization, as JAX's MAML and hyperparameter examples
write it: ``jax.grad`` (reverse) or ``jax.jvp`` along lr (forward) of the validation
loss after K inner steps; eager, a Python loop; compiled, ``jax.jit`` of a
``lax.scan`` over the steps.  Params are a tuple pytree (W1, b1, W2, b2, W3, b3).
"""

from __future__ import annotations

import numpy as np

from bench_lib.backends.jax import framework  # set-up only: the suite's threads and precision
from bench_lib.tools.handwritten import HandWritten, flat, unrolled_inputs


def build(mode: str, execution: str, arrays: dict, dtype: str, K: int, optimizer: str) -> HandWritten:
    if execution == "graph":
        raise NotImplementedError("jax has no graph execution apart from its compiler (jax.jit: 'compiled')")
    jax = framework()
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def loss(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = jnp.tanh(x @ w1 + b1)
        h = jnp.tanh(h @ w2 + b2)
        return 0.5 * jnp.mean((h @ w3 + b3 - y) ** 2)

    def step(carry, lr, x, y):
        params, velocity = carry
        grads = jax.grad(loss)(params, x, y)
        if optimizer == "momentum":
            velocity = tuple(0.9 * m + g for m, g in zip(velocity, grads))
            return tuple(p - lr * m for p, m in zip(params, velocity)), velocity
        return tuple(p - lr * g for p, g in zip(params, grads)), velocity

    def outer_loss(params, lr, xv, yv, x, y):
        velocity = tuple(jnp.zeros_like(p) for p in params) if optimizer == "momentum" else ()
        carry = (params, velocity)
        if execution == "compiled":
            carry, _ = jax.lax.scan(lambda c, _: (step(c, lr, x, y), None), carry, None, length=K)
        else:
            for _ in range(K):
                carry = step(carry, lr, x, y)
        return loss(carry[0], xv, yv)

    if mode == "reverse":
        fn = jax.grad(outer_loss, argnums=(0, 1))
    else:

        def fn(params, lr, xv, yv, x, y):
            return jax.jvp(lambda rate: outer_loss(params, rate, xv, yv, x, y), (lr,), (jnp.ones_like(lr),))[1]

    if execution == "compiled":
        fn = jax.jit(fn)
    cpu = jax.devices("cpu")[0]

    def device_args(arrays):
        host = unrolled_inputs(arrays, dtype)
        return jax.device_put([tuple(host["params"]), host["lr"], host["xv"], host["yv"], host["x"], host["y"]], cpu)

    args = device_args(arrays)
    if execution == "compiled":
        jax.block_until_ready(fn(*args))  # compile now, not in the first timed call

    def to_numpy(out):
        if mode == "reverse":
            d_init, d_lr = out
            return {"d_lr": np.asarray(d_lr), "d_init": flat(d_init)}
        return {"d_lr": np.asarray(out)}

    return HandWritten(
        run=lambda: jax.block_until_ready(fn(*args)),
        to_numpy=to_numpy,
        rerun=lambda other: jax.block_until_ready(fn(*device_args(other))),
    )
