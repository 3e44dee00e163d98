"""Hand-written JAX: ``value_and_grad``, the HVPs of the JAX autodiff cookbook, and
Hessians: ``jax.hessian``, ``jacrev(jacrev)`` and the cookbook's HVP vmapped over the
unit vectors (``ravel_pytree``'s unravel of the identity's rows).  The ConvNet with
``lax.conv_general_dilated`` (NHWC, HWIO), the Transformer block with
``jax.nn.standardize``, ``jax.nn.dot_product_attention`` and the exact ``jax.nn.gelu``.

Params are a tuple pytree (W1, b1, W2, b2, W3, b3 for the mlp).  eager: the transformed function
called op by op; compiled: ``jax.jit`` of it, compiled by one call in ``build``; the
timed call passes the device arrays as arguments.  JAX has no graph execution.
"""

from __future__ import annotations

import numpy as np

from bench_lib.backends.jax import framework  # set-up only: the suite's threads and precision
from bench_lib.tools.handwritten import HandWritten, check, flat, flat_hessian, mlp_shapes, numpy_inputs


def build(
    workload: str, mode: str, execution: str, arrays: dict, dtype: str, device: str = "cpu", model: str = "mlp",
    case=None,
) -> HandWritten:
    check(workload, mode, execution, dtype, "jax", model)
    if execution == "graph":
        raise NotImplementedError("jax has no graph execution apart from its compiler (jax.jit: 'compiled')")
    jax = framework()
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)  # else JAX computes float64 in float32
    import jax.numpy as jnp

    def loss(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = jnp.tanh(x @ w1 + b1)
        h = jnp.tanh(h @ w2 + b2)
        return 0.5 * jnp.mean((h @ w3 + b3 - y) ** 2)

    if model != "mlp":
        loss = ARCHITECTURES[model](jax, case)
    shapes = case.param_shapes if model != "mlp" else None

    if workload == "grad":
        fn = jax.value_and_grad(loss)
    elif workload == "hessian":
        fn = _hessian(jax, loss, mode)
    elif mode == "rev_rev":

        def fn(params, v, x, y):
            def grad_dot_v(p):
                return sum(jnp.vdot(g, t) for g, t in zip(jax.grad(loss)(p, x, y), v))

            return jax.grad(grad_dot_v)(params)

    elif mode == "fwd_rev":

        def fn(params, v, x, y):
            return jax.jvp(lambda p: jax.grad(loss)(p, x, y), (params,), (v,))[1]

    else:  # rev_fwd

        def fn(params, v, x, y):
            return jax.grad(lambda p: jax.jvp(lambda q: loss(q, x, y), (p,), (v,))[1])(params)

    if execution == "compiled":
        fn = jax.jit(fn)

    target = jax.devices("gpu" if device == "gpu" else "cpu")[0]

    def device_args(arrays):
        host = numpy_inputs(workload, arrays, dtype, shapes)
        args = [tuple(host["params"])]
        if workload == "hvp":
            args.append(tuple(host["v"]))
        args += [host["x"], host["y"]]
        return jax.device_put(args, target)

    args = device_args(arrays)
    if execution == "compiled":
        jax.block_until_ready(fn(*args))  # trace and compile now, not in the first timed call

    def run():
        return jax.block_until_ready(fn(*args))

    def rerun(other):
        return jax.block_until_ready(fn(*device_args(other)))

    def to_numpy(out):
        if workload == "grad":
            value, grads = out
            return {"loss": np.asarray(value), "grad": flat(grads)}
        if workload == "hessian":
            return {"hessian": flat_hessian(out, mlp_shapes(arrays), np.asarray)}
        return {"hvp": flat(out)}

    return HandWritten(run=run, to_numpy=to_numpy, rerun=rerun)


def _hessian(jax, loss, mode: str):
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    if mode == "native":
        return jax.hessian(loss)
    if mode == "jacrev_jacrev":
        return jax.jacrev(jax.jacrev(loss))

    def vmap_hvp(params, x, y):
        def hvp(v):
            return jax.jvp(lambda p: jax.grad(loss)(p, x, y), (params,), (v,))[1]

        flat_params, unravel = ravel_pytree(params)
        basis = jax.vmap(unravel)(jnp.eye(flat_params.size, dtype=flat_params.dtype))
        return jax.vmap(hvp)(basis)

    return vmap_hvp


def _cnn(jax, case):
    jnp = jax.numpy

    def conv(x, kernel, bias, stride):
        out = jax.lax.conv_general_dilated(
            x, kernel, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return out + bias

    def loss(params, x, y):
        k1, b1, k2, b2, w3, b3 = params
        h = jnp.tanh(conv(x, k1, b1, 1))
        h = jnp.tanh(conv(h, k2, b2, 2))
        logits = jnp.mean(h, axis=(1, 2)) @ w3 + b3
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))

    return loss


def _transformer(jax, case):
    jnp = jax.numpy
    heads = case.heads

    def norm(z, gain, shift):
        return jax.nn.standardize(z, axis=-1, epsilon=1e-5) * gain + shift

    def loss(params, x, y):
        g1, c1, wq, wk, wv, wo, bo, g2, c2, w1, b1, w2, b2, w3, b3 = params
        batch, tokens, width = x.shape
        a = norm(x, g1, c1)
        q, k, v = ((a @ w).reshape(batch, tokens, heads, width // heads) for w in (wq, wk, wv))
        x = x + jax.nn.dot_product_attention(q, k, v).reshape(batch, tokens, width) @ wo + bo
        x = x + jax.nn.gelu(norm(x, g2, c2) @ w1 + b1, approximate=False) @ w2 + b2
        logits = jnp.mean(x, axis=1) @ w3 + b3
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))

    return loss


ARCHITECTURES = {"cnn": _cnn, "transformer": _transformer}
