"""Hand-written TensorFlow: ``GradientTape`` and ``tf.autodiff.ForwardAccumulator``.

grad: one tape; rev_rev: nested tapes, the outer one with ``output_gradients=v``;
fwd_rev: a ``ForwardAccumulator`` around a tape; rev_fwd: a tape around a
``ForwardAccumulator``; Hessians: nested tapes and ``jacobian`` (pfor or while loop),
or ``tf.vectorized_map`` of the fwd_rev HVP.  eager: the tapes run op by op; graph: ``tf.function``;
compiled: ``tf.function(jit_compile=True)``.  graph and compiled are traced once in
``build`` for the inputs' signature, called once there (XLA compiles at the first
call), and timed as that concrete function, with every input a real argument of the
call.  compiled rev_fwd broadcasts the biases explicitly: with the implicit broadcast of
``x @ W + b`` TensorFlow's XLA bridge takes every input as a compile-time constant (see
``_body``).

The ConvNet with ``tf.nn.conv2d`` (NHWC, HWIO) and ``tf.nn.bias_add``; the Transformer
block with the attention Keras' ``MultiHeadAttention`` computes (``tf.einsum``,
``tf.nn.softmax``), ``tf.nn.batch_normalization`` over a mean and variance written out
(``tf.nn.moments`` stops the mean's gradient in the variance, which breaks second
derivatives) and ``tf.nn.gelu``.  Their compiled rev_fwd raises NotImplementedError: XLA
folds their inputs into constants as it does the suite's.

The parameters: eager, a list of six tensors that the tapes watch; graph and compiled,
six ``tf.Variable``s that the tapes watch by themselves and the concrete function reads
at every call (x, y and v stay arguments).  ``PARAMS_AS`` records that choice, made by
interleaved measurement (see docs/design.md); ``build(..., params_as=...)`` builds the
other one.
"""

from __future__ import annotations

import math

import numpy as np

from bench_lib.backends.tensorflow import framework  # set-up only: the suite's threads and precision
from bench_lib.tools.handwritten import HandWritten, check, flat, flat_hessian, mlp_shapes, numpy_inputs

# Which parameters each execution uses, the faster of the two: a traced call costs per
# tensor argument, which captured variables save; in eager execution a variable read
# costs more than a watched tensor.
PARAMS_AS = {"eager": "tensors", "graph": "variables", "compiled": "variables"}


def _body(tf, workload: str, mode: str, execution: str, watch: bool, model: str = "mlp", case=None):
    """The cell's function of (params, [v], x, y); ``watch``: params are plain tensors."""

    if mode == "rev_fwd" and execution == "compiled":
        # A broadcasting op (x @ W + b, tf.nn.bias_add, a broadcast multiply) under a tape
        # around a ForwardAccumulator makes TensorFlow's XLA bridge take *every* input of
        # the function as a compile-time constant: the HLO module has no parameters, each
        # new input value recompiles and the timed call would run a program folded from
        # constants.  Broadcasting the bias explicitly avoids it.
        def affine(h, w, b):
            return h @ w + tf.broadcast_to(b, (h.shape[0], w.shape[1]))

    else:

        def affine(h, w, b):
            return h @ w + b

    def loss(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = tf.tanh(affine(x, w1, b1))
        h = tf.tanh(affine(h, w2, b2))
        return 0.5 * tf.reduce_mean(tf.square(affine(h, w3, b3) - y))

    if model != "mlp":
        loss = ARCHITECTURES[model](tf, case)

    if workload == "hessian":
        return _hessian(tf, loss, mode, watch, fwd_rev=_body(tf, "hvp", "fwd_rev", execution, watch))

    if workload == "grad":

        def grad(params, x, y):
            with tf.GradientTape() as tape:
                if watch:
                    tape.watch(params)
                value = loss(params, x, y)
            return value, tape.gradient(value, params)

        return grad

    if mode == "rev_rev":

        def rev_rev(params, v, x, y):
            with tf.GradientTape() as outer:
                if watch:
                    outer.watch(params)
                with tf.GradientTape() as inner:
                    if watch:
                        inner.watch(params)
                    value = loss(params, x, y)
                grads = inner.gradient(value, params)
            return outer.gradient(grads, params, output_gradients=v)

        return rev_rev

    if mode == "fwd_rev":

        def fwd_rev(params, v, x, y):
            with tf.autodiff.ForwardAccumulator(params, v) as accumulator:
                with tf.GradientTape() as tape:
                    if watch:
                        tape.watch(params)
                    value = loss(params, x, y)
                grads = tape.gradient(value, params)
            return accumulator.jvp(grads)

        return fwd_rev

    def rev_fwd(params, v, x, y):
        with tf.GradientTape() as tape:
            if watch:
                tape.watch(params)
            with tf.autodiff.ForwardAccumulator(params, v) as accumulator:
                value = loss(params, x, y)
            directional = accumulator.jvp(value)
        return tape.gradient(directional, params)

    return rev_fwd


def _hessian(tf, loss, mode: str, watch: bool, fwd_rev):
    """native / jacobian_while: the outer tape's jacobian of the flattened gradient, with
    pfor or a while loop (which needs a persistent tape in eager); vmap_hvp: the
    forward-over-reverse HVP ``fwd_rev`` under tf.vectorized_map over the unit vectors."""
    if mode == "vmap_hvp":

        def vmap_hvp(params, x, y):
            def hvp(v):
                return fwd_rev(params, v, x, y)

            sizes = [p.shape.num_elements() for p in params]
            n = sum(sizes)
            columns = tf.split(tf.eye(n, dtype=params[0].dtype), sizes, axis=1)
            return tf.vectorized_map(hvp, [tf.reshape(c, (n, *p.shape)) for c, p in zip(columns, params)])

        return vmap_hvp

    def hessian(params, x, y):
        with tf.GradientTape(persistent=mode == "jacobian_while") as outer:
            if watch:
                outer.watch(params)
            with tf.GradientTape() as inner:
                if watch:
                    inner.watch(params)
                value = loss(params, x, y)
            grads = inner.gradient(value, params)
            flat_grads = tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)
        return outer.jacobian(flat_grads, params, experimental_use_pfor=mode == "native")

    return hessian


def _function(
    workload: str, mode: str, execution: str, arrays: dict, dtype: str, params_as: str, device: str = "cpu",
    model: str = "mlp", case=None,
):
    """(fn, args, host, variables): the Python function of the cell, its arguments (on
    ``device``), the input conversion, and the parameter variables (None for tensors),
    before any tracing."""
    tf = framework()
    placement = "/GPU:0" if device == "gpu" else "/CPU:0"
    variables = params_as == "variables"
    body = _body(tf, workload, mode, execution, watch=not variables, model=model, case=case)
    shapes = case.param_shapes if model != "mlp" else None

    def host(arrays):
        """The inputs as tensors: params (a list of blocks) and v (hvp) first, then x, y."""
        inputs = numpy_inputs(workload, arrays, dtype, shapes)
        with tf.device(placement):
            args = [[tf.identity(a) for a in inputs["params"]]]
            if workload == "hvp":
                args.append([tf.identity(a) for a in inputs["v"]])
            return args + [tf.identity(inputs["x"]), tf.identity(inputs["y"])]

    args = host(arrays)
    if not variables:
        return body, args, host, None
    with tf.device(placement):
        params = [tf.Variable(p) for p in args.pop(0)]
    return (lambda *rest: body(params, *rest)), args, host, params  # reads the variables at every call


def build(
    workload: str, mode: str, execution: str, arrays: dict, dtype: str, device: str = "cpu", model: str = "mlp",
    case=None, *, params_as: str | None = None,
) -> HandWritten:
    check(workload, mode, execution, dtype, "tensorflow", model)
    if model != "mlp" and (mode, execution) == ("rev_fwd", "compiled"):
        raise NotImplementedError(
            "TensorFlow 2.21's XLA bridge folds the inputs of a tape around a ForwardAccumulator into constants"
        )
    params_as = params_as or PARAMS_AS[execution]
    if params_as not in ("tensors", "variables"):
        raise ValueError(f"params_as must be 'tensors' or 'variables', got {params_as!r}")
    fn, args, host, params = _function(workload, mode, execution, arrays, dtype, params_as, device, model, case)
    if execution != "eager":
        tf = framework()
        signature = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), args)
        fn = tf.function(fn, jit_compile=execution == "compiled").get_concrete_function(*signature)
        fn(*args)  # XLA compiles at the first call: do it now, not in the first timed call

    def run():
        out = fn(*args)  # CPU: eager ops and graph calls return finished tensors; GPU kernels do not
        if device == "gpu":
            framework().test.experimental.sync_devices()
        return out

    def to_numpy(out):
        if workload == "grad":
            value, grads = out
            return {"loss": np.asarray(value.numpy()), "grad": flat(g.numpy() for g in grads)}
        if workload == "hessian":
            return {"hessian": flat_hessian(out, mlp_shapes(arrays), lambda t: t.numpy())}
        return {"hvp": flat(t.numpy() for t in out)}

    return HandWritten(run=run, to_numpy=to_numpy, rerun=lambda other: rerun(fn, host(other), params))


def rerun(fn, fresh: list, variables) -> object:
    """``fn`` on other inputs (``fresh``: converted as for ``run``, the parameters first)
    without building it again; with parameter ``variables``, assigned for the call and
    put back after it, so that ``run()`` keeps its own inputs."""
    if variables is None:
        return fn(*fresh)
    own = [v.read_value() for v in variables]
    for variable, value in zip(variables, fresh.pop(0)):
        variable.assign(value)  # the next call reads the assigned values
    out = fn(*fresh)
    for variable, value in zip(variables, own):
        variable.assign(value)
    return out


def _cnn(tf, case):
    padding = [[0, 0], [1, 1], [1, 1], [0, 0]]

    def conv(x, kernel, bias, stride):
        return tf.nn.bias_add(tf.nn.conv2d(x, kernel, strides=stride, padding=padding), bias)

    def loss(params, x, y):
        k1, b1, k2, b2, w3, b3 = params
        h = tf.tanh(conv(x, k1, b1, 1))
        h = tf.tanh(conv(h, k2, b2, 2))
        logits = tf.reduce_mean(h, axis=(1, 2)) @ w3 + b3
        return -tf.reduce_mean(tf.reduce_sum(y * tf.nn.log_softmax(logits), axis=-1))

    return loss


def _transformer(tf, case):
    heads = case.heads

    def norm(z, gain, shift):
        mean = tf.reduce_mean(z, axis=-1, keepdims=True)
        variance = tf.reduce_mean(tf.square(z - mean), axis=-1, keepdims=True)
        return tf.nn.batch_normalization(z, mean, variance, shift, gain, 1e-5)

    def loss(params, x, y):
        g1, c1, wq, wk, wv, wo, bo, g2, c2, w1, b1, w2, b2, w3, b3 = params
        _, tokens, width = x.shape
        a = norm(x, g1, c1)
        q, k, v = (tf.reshape(a @ w, (-1, tokens, heads, width // heads)) for w in (wq, wk, wv))
        scores = tf.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(width // heads)
        attended = tf.einsum("bhqk,bkhd->bqhd", tf.nn.softmax(scores, axis=-1), v)
        x = x + tf.reshape(attended, (-1, tokens, width)) @ wo + bo
        x = x + tf.nn.gelu(norm(x, g2, c2) @ w1 + b1, approximate=False) @ w2 + b2
        logits = tf.reduce_mean(x, axis=1) @ w3 + b3
        return -tf.reduce_mean(tf.reduce_sum(y * tf.nn.log_softmax(logits), axis=-1))

    return loss


ARCHITECTURES = {"cnn": _cnn, "transformer": _transformer}
