"""Hand-written TensorFlow unrolled optimization, as TensorFlow's higher-order
gradient guides write it: an inner ``GradientTape`` per step inside an outer tape
(reverse) or a ``tf.autodiff.ForwardAccumulator`` along lr (forward), the update as
tensor arithmetic.  eager: a Python loop on watched tensors; graph and compiled: a
``tf.function`` (``jit_compile=True`` for compiled) whose loop is ``tf.range`` in
reverse mode (a ``tf.while_loop`` after AutoGraph, with the trip count K known when
traced) and a Python ``range`` in forward mode (unrolled when traced: a while loop's
JVP goes through its gradient, see the suite's TensorFlow backend), the parameters
``tf.Variable``s that the function reads at every call, traced once for the other
inputs' signature and timed as that concrete function.
"""

from __future__ import annotations

import numpy as np

from bench_lib.backends.tensorflow import framework  # set-up only: the suite's threads and precision
from bench_lib.tools.handwritten import HandWritten, flat, unrolled_inputs
from bench_lib.tools.handwritten.tensorflow import rerun


def build(mode: str, execution: str, arrays: dict, dtype: str, K: int, optimizer: str) -> HandWritten:
    tf = framework()

    def loss(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = tf.tanh(x @ w1 + b1)
        h = tf.tanh(h @ w2 + b2)
        return 0.5 * tf.reduce_mean(tf.square(h @ w3 + b3 - y))

    def inner_steps(params, lr, x, y):
        p = [tf.convert_to_tensor(t) for t in params]
        m = [tf.zeros_like(t) for t in p] if optimizer == "momentum" else []
        for _ in tf.range(K) if execution != "eager" and mode == "reverse" else range(K):
            with tf.GradientTape() as tape:
                tape.watch(p)
                value = loss(p, x, y)
            grads = tape.gradient(value, p)
            if optimizer == "momentum":
                m = [0.9 * mi + g for mi, g in zip(m, grads)]
                p = [pi - lr * mi for pi, mi in zip(p, m)]
            else:
                p = [pi - lr * g for pi, g in zip(p, grads)]
        return p

    if mode == "reverse":

        def body(params, lr, xv, yv, x, y):
            with tf.GradientTape() as outer:
                outer.watch(params)
                outer.watch(lr)
                value = loss(inner_steps(params, lr, x, y), xv, yv)
            return outer.gradient(value, [params, lr])

    else:

        def body(params, lr, xv, yv, x, y):
            with tf.autodiff.ForwardAccumulator(lr, tf.ones_like(lr)) as accumulator:
                value = loss(inner_steps(params, lr, x, y), xv, yv)
            return accumulator.jvp(value)

    def host(arrays):
        inputs = unrolled_inputs(arrays, dtype)
        params = [tf.convert_to_tensor(a) for a in inputs["params"]]
        return [params] + [tf.convert_to_tensor(inputs[name]) for name in ("lr", "xv", "yv", "x", "y")]

    args = host(arrays)
    variables = None
    if execution == "eager":
        fn = body
    else:
        variables = [tf.Variable(p) for p in args.pop(0)]
        signature = [tf.TensorSpec(t.shape, t.dtype) for t in args]
        traced = tf.function(lambda *rest: body(variables, *rest), jit_compile=execution == "compiled")
        fn = traced.get_concrete_function(*signature)
        fn(*args)  # XLA compiles at the first call: do it now

    def to_numpy(out):
        if mode == "reverse":
            d_init, d_lr = out
            return {"d_lr": np.asarray(d_lr.numpy()), "d_init": flat(t.numpy() for t in d_init)}
        return {"d_lr": np.asarray(out.numpy())}

    return HandWritten(run=lambda: fn(*args), to_numpy=to_numpy, rerun=lambda other: rerun(fn, host(other), variables))
