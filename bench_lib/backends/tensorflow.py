"""TensorFlow: nested ``GradientTape``s and ``tf.autodiff.ForwardAccumulator``.

eager: the tapes run op by op; graph: a ``tf.function`` without XLA; compiled:
``tf.function(jit_compile=True)``.  Both are traced once for the cell's input
signature and called as a concrete function, which cannot retrace.
"""

from __future__ import annotations

import numpy as np

from .. import conditions
from ..cells import Cell
from ..workloads import ArrayOps, loss_function, spec
from .base import Program

NAME = "tensorflow"


def _tf():
    conditions.apply_process_settings()
    import tensorflow as tf

    n = conditions.threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        pass  # the runtime already started (an earlier cell in this process set these)
    tf.config.experimental.enable_tensor_float_32_execution(False)
    return tf


def versions() -> dict:
    return {"tensorflow": conditions.package_version("tensorflow-cpu") or conditions.package_version("tensorflow")}


def unavailable(cell: Cell) -> str | None:
    tf = _tf()
    if cell.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        return "tensorflow sees no GPU (tf.config.list_physical_devices('GPU') is empty)"
    return None


def _program(tf, cell: Cell, f):
    """The cell's function of (params, [v], *data) -> dict of outputs."""
    if cell.workload == "grad":

        def grad(p, *data):
            with tf.GradientTape() as tape:
                tape.watch(p)
                value = f(p, *data)
            return {"loss": value, "grad": tape.gradient(value, p)}

        return grad

    def rev_rev(p, v, *data):
        with tf.GradientTape() as outer:
            outer.watch(p)
            with tf.GradientTape() as inner:
                inner.watch(p)
                value = f(p, *data)
            g = inner.gradient(value, p)
        return {"hvp": outer.gradient(g, p, output_gradients=v)}

    def fwd_rev(p, v, *data):
        with tf.autodiff.ForwardAccumulator(p, v) as accumulator:
            with tf.GradientTape() as tape:
                tape.watch(p)
                value = f(p, *data)
            g = tape.gradient(value, p)
        return {"hvp": accumulator.jvp(g)}

    def rev_fwd(p, v, *data):
        with tf.GradientTape() as tape:
            tape.watch(p)
            with tf.autodiff.ForwardAccumulator(p, v) as accumulator:
                value = f(p, *data)
            directional = accumulator.jvp(value)
        return {"hvp": tape.gradient(directional, p)}

    return {"rev_rev": rev_rev, "fwd_rev": fwd_rev, "rev_fwd": rev_fwd}[cell.mode]


def build(cell: Cell, arrays: dict[str, np.ndarray]) -> Program:
    tf = _tf()
    device = "/GPU:0" if cell.device == "gpu" else "/CPU:0"
    with tf.device(device):
        args = [tf.identity(tf.constant(arrays[name].astype(cell.dtype))) for name in cell.argument_names]
    ops = ArrayOps(tanh=tf.tanh, mean=tf.reduce_mean, sum=tf.reduce_sum, reshape=tf.reshape)
    fn = _program(tf, cell, loss_function(spec(cell.model, cell.size), ops))
    traces = None
    if cell.execution != "eager":
        count = [0]
        body = fn

        def traced(*inputs):
            count[0] += 1  # Python side effect: runs only while tracing
            return body(*inputs)

        signature = [tf.TensorSpec(a.shape, a.dtype) for a in args]
        with tf.device(device):
            fn = tf.function(traced, jit_compile=cell.execution == "compiled").get_concrete_function(*signature)
        traces = lambda: count[0]  # noqa: E731

    def run():
        with tf.device(device):
            return fn(*args)

    def wait(_out):
        # Eager ops and graph calls on the CPU return finished tensors; GPU kernels do not.
        if cell.device == "gpu":
            tf.test.experimental.sync_devices()

    return Program(
        run=run,
        wait=wait,
        to_numpy=lambda out: {key: value.numpy() for key, value in out.items()},
        device_name=args[0].device,
        traces=traces,
    )
