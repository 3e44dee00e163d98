"""TensorFlow: nested ``GradientTape``s and ``tf.autodiff.ForwardAccumulator``.

eager: the tapes run op by op on a list of parameter tensors they watch; graph: a
``tf.function`` without XLA; compiled: ``tf.function(jit_compile=True)``.  Both hold the
parameters as ``tf.Variable``s that the function reads at every call, are traced once
for the signature of the other inputs (v, x, y) and called as a concrete function,
which cannot retrace; those inputs are arguments, never constants captured at trace
time.
"""

from __future__ import annotations

import re

import numpy as np

from bench_lib.core import conditions
from bench_lib.core.cells import Cell
from bench_lib.core.models import loss_function
from bench_lib.core.workloads.unrolled import initial_velocity, inner_update
from bench_lib.backends.base import (
    Program,
    RowLoop,
    builder_for,
    flat_outputs,
    hessian_by_rows,
    hvp_builder,
    native_inputs,
    split_columns,
)
from bench_lib.backends.ops.tensorflow import array_ops

NAME = "tensorflow"


def framework():
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
    tf.config.experimental.enable_tensor_float_32_execution(conditions.tf32())
    return tf


def reported_conditions() -> dict:
    tf = framework()
    return {
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "tf_tensor_float_32": bool(tf.config.experimental.tensor_float_32_execution_enabled()),
    }


def gpu_conditions() -> dict:
    tf = framework()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return {}
    build = tf.sysconfig.get_build_info()
    details = tf.config.experimental.get_device_details(gpus[0])
    return {"gpu": details.get("device_name"), "cuda_build": build.get("cuda_version"),
            "cudnn": None if build.get("cudnn_version") is None else str(build.get("cudnn_version"))}


def device_peak_memory(cell: Cell, call) -> int | None:
    """``get_memory_info(...)["peak"]`` after ``reset_memory_stats``, less what was
    allocated before the call."""
    if cell.device != "gpu":
        return None
    tf = framework()
    tf.config.experimental.reset_memory_stats("GPU:0")
    before = tf.config.experimental.get_memory_info("GPU:0")["current"]
    call()
    return max(0, int(tf.config.experimental.get_memory_info("GPU:0")["peak"]) - int(before))


def host_memory_hidden(cell: Cell) -> str | None:
    """With its oneDNN optimisations on (TensorFlow's default on x86 CPUs with AVX-512
    VNNI and the like), TensorFlow's CPU allocator keeps a call's buffers resident for
    the next call, so the process's peak resident set reads a small part of the work's
    memory (10.8 MiB of about 1.6 GiB in one measured case: docs/methodology.md)."""
    if cell.device != "cpu":
        return None
    framework()
    from tensorflow.python.util import _pywrap_util_port  # what TensorFlow itself checks

    if not _pywrap_util_port.IsMklEnabled():
        return None
    return (
        "not measured: TensorFlow's oneDNN optimisations are on, and its allocator keeps memory resident "
        "between calls, so the resident set would read a lower bound (TF_ENABLE_ONEDNN_OPTS=0 turns them off)"
    )


def unavailable(cell: Cell) -> str | None:
    tf = framework()
    if cell.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        return "tensorflow sees no GPU (tf.config.list_physical_devices('GPU') is empty)"
    return None


# HVP compositions as functions of f(params, *data): reused by the Hessian strategies.
def hvp_rev_rev(tf, f):
    def hvp(p, v, *data):
        with tf.GradientTape() as outer:
            outer.watch(p)
            with tf.GradientTape() as inner:
                inner.watch(p)
                value = f(p, *data)
            g = inner.gradient(value, p)
        return outer.gradient(g, p, output_gradients=v)

    return hvp


def hvp_fwd_rev(tf, f):
    def hvp(p, v, *data):
        with tf.autodiff.ForwardAccumulator(p, v) as accumulator:
            with tf.GradientTape() as tape:
                tape.watch(p)
                value = f(p, *data)
            g = tape.gradient(value, p)
        return accumulator.jvp(g)

    return hvp


def hvp_rev_fwd(tf, f):
    def hvp(p, v, *data):
        with tf.GradientTape() as tape:
            tape.watch(p)
            with tf.autodiff.ForwardAccumulator(p, v) as accumulator:
                value = f(p, *data)
            directional = accumulator.jvp(value)
        return tape.gradient(directional, p)

    return hvp


def _grad(tf, f, _cell):
    def grad(p, *data):
        with tf.GradientTape() as tape:
            tape.watch(p)
            value = f(p, *data)
        return {"loss": value, "grad": tape.gradient(value, p)}

    return grad


def _columns(tf, matrix, p):
    return split_columns(matrix, p, lambda t: t.shape.num_elements(), tf.reshape)


def _basis_shape(tf, p):
    blocks = tf.nest.flatten(p)
    return sum(b.shape.num_elements() for b in blocks), blocks[0].dtype


def _identity(tf, p):
    """The n unit vectors in the parameters' structure, stacked on a leading axis."""
    n, dtype = _basis_shape(tf, p)
    return _columns(tf, tf.eye(n, dtype=dtype), p)


def _unit(tf, p, j):
    n, dtype = _basis_shape(tf, p)
    return _columns(tf, tf.cast(tf.equal(tf.range(n), j), dtype), p)


def _tape_hessian(use_pfor: bool):
    """Nested tapes: the outer tape's Jacobian of the inner tape's gradient, flattened
    into one vector first (``jacobian`` takes one target tensor), vectorised by pfor or
    a tf.while_loop over its entries (which in eager execution needs a persistent tape)."""

    def build(tf, f, _cell):
        def hessian(p, *data):
            with tf.GradientTape(persistent=not use_pfor) as outer:
                outer.watch(p)
                with tf.GradientTape() as inner:
                    inner.watch(p)
                    value = f(p, *data)
                g = inner.gradient(value, p)
                if isinstance(g, list):
                    g = tf.concat([tf.reshape(block, [-1]) for block in g], axis=0)
            return {"hessian": outer.jacobian(g, p, experimental_use_pfor=use_pfor)}

        return hessian

    return build


def _vmap_hvp(tf, f, _cell):
    hvp = hvp_fwd_rev(tf, f)
    return lambda p, *data: {"hessian": tf.vectorized_map(lambda v: hvp(p, v, *data), _identity(tf, p))}


def _loop_hvp(tf, f, _cell):
    hvp = hvp_fwd_rev(tf, f)
    return RowLoop(lambda p, j, *data: hvp(p, _unit(tf, p, j), *data))


def _unroll(tf, cell: Cell, step, carry, python_loop: bool = False):
    """K steps of ``step(carry) -> carry``: a Python loop in eager execution; traced,
    one ``tf.while_loop`` with ``maximum_iterations=K`` (what a ``tf.range`` loop in a
    tf.function becomes), whose body is traced once and which XLA compiles as one
    loop: the bound gives the gradient's per-step accumulators a static size.  With
    ``python_loop`` a traced function unrolls the K steps instead (a bounded unrolled
    loop: K <= 100 in the suite's cells)."""
    steps = cell.options["K"]
    if cell.execution == "eager" or python_loop:
        for _ in range(steps):
            carry = step(carry)
        return carry
    return tf.while_loop(lambda *_: tf.constant(True), lambda *c: step(c), carry, maximum_iterations=steps)


def _inner_steps(tf, f, cell: Cell, first_order: bool, python_loop: bool = False):
    """p_K from (p_0, lr): each step's gradient by its own tape, the update as tensor
    arithmetic (never Variable.assign or a Keras optimizer, which cut the chain that
    the outer tape or accumulator differentiates)."""
    optimizer = cell.options["optimizer"]
    update = inner_update(optimizer)

    def run(p0, lr, x, y):
        def step(carry):
            p, m = carry
            with tf.GradientTape() as inner:
                inner.watch(p)
                value = f(p, x, y)
            g = inner.gradient(value, p)
            if first_order:  # first-order MAML: the inner gradients are constants
                g = [tf.stop_gradient(block) for block in g]
            return update(p, m, g, lr)

        p, _ = _unroll(tf, cell, step, (tuple(p0), initial_velocity(optimizer, p0, tf.zeros_like)), python_loop)
        return p

    return run


def _unrolled_reverse(first_order: bool):
    """Nested tapes: an inner tape per step inside one outer tape over the whole loop."""

    def build(tf, f, cell):
        inner_steps = _inner_steps(tf, f, cell, first_order)

        def unrolled(p0, lr, xv, yv, x, y):
            with tf.GradientTape() as outer:
                outer.watch(p0)
                outer.watch(lr)
                value = f(inner_steps(p0, lr, x, y), xv, yv)
            d_init, d_lr = outer.gradient(value, [p0, lr])
            return {"d_lr": d_lr, "d_init": d_init}

        return unrolled

    return build


def _unrolled_forward(tf, f, cell):
    """A ForwardAccumulator along lr around the loop of inner tapes.  Traced, the loop
    is unrolled: TensorFlow has no forward-mode rule for a while loop and takes its
    JVP through the loop's gradient, which keeps every iteration's accumulators: the
    tf.while_loop form is slower, takes more memory and traces for longer than the
    unrolled loop (see docs/measures.md)."""
    inner_steps = _inner_steps(tf, f, cell, first_order=False, python_loop=True)

    def unrolled(p0, lr, xv, yv, x, y):
        with tf.autodiff.ForwardAccumulator(lr, tf.ones_like(lr)) as accumulator:
            value = f(inner_steps(p0, lr, x, y), xv, yv)
        return {"d_lr": accumulator.jvp(value)}

    return unrolled


BUILDERS = {
    ("grad", "rev"): _grad,
    ("hvp", "rev_rev"): hvp_builder(hvp_rev_rev),
    ("hvp", "fwd_rev"): hvp_builder(hvp_fwd_rev),
    ("hvp", "rev_fwd"): hvp_builder(hvp_rev_fwd),
    ("hessian", "native"): _tape_hessian(use_pfor=True),
    ("hessian", "jacobian_while"): _tape_hessian(use_pfor=False),
    ("hessian", "vmap_hvp"): _vmap_hvp,
    ("hessian", "loop_hvp"): _loop_hvp,
    ("unrolled", "reverse"): _unrolled_reverse(first_order=False),
    ("unrolled", "forward"): _unrolled_forward,
    ("unrolled", "first_order"): _unrolled_reverse(first_order=True),
}


def entry_parameters(tf, function, args) -> int:
    """How many parameters the XLA module compiled for ``args`` takes at run time."""
    hlo = function.experimental_get_compiler_ir(*args)(stage="hlo")
    return len(re.findall(r"\bparameter\(\d+\)", hlo[hlo.index("ENTRY") :]))


def _require_runtime_parameters(tf, cell: Cell, function, args, variables: int = 0) -> None:
    """XLA's bridge makes an argument a compile-time constant when an op needs its value
    at compile time; the module then returns constants and recompiles for every new
    value.  A compiled cell whose inputs (arguments and the variables it reads) do not
    all reach the module as parameters is a failure."""
    expected = len(tf.nest.flatten(args)) + variables
    found = entry_parameters(tf, function, args)
    if found != expected:
        raise RuntimeError(
            f"{cell.label}: XLA compiled a module with {found} run-time parameters for {expected} input "
            "tensors: the other inputs were folded into compile-time constants"
        )


def build(cell: Cell, arrays: dict[str, np.ndarray]) -> Program:
    tf = framework()
    device = "/GPU:0" if cell.device == "gpu" else "/CPU:0"
    ops = array_ops(tf, cell)
    fn = builder_for(NAME, BUILDERS, cell)(tf, loss_function(cell.case, ops), cell)

    def tensors(inputs):
        with tf.device(device):
            return native_inputs(cell, inputs, lambda a: tf.identity(tf.constant(a)), container=list, layout=ops.layout)

    # A loop strategy runs rows from Python: eager, each row op by op; traced, the
    # traced function is one row, whose index is a run-time argument.
    loop = fn if isinstance(fn, RowLoop) else None
    n = cell.case.n_params

    def by_rows(row_at):
        with tf.device(device):  # the index tensors and the stacking too
            return {"hessian": hessian_by_rows(row_at, n, tf.stack)}

    if cell.execution == "eager":
        if loop:
            fn = lambda p, *data: by_rows(lambda j: loop.row(p, j, *data))  # noqa: E731

        # Watched tensors: in eager execution they cost less than Variables.  Eager ops
        # go to the cell's device (TensorFlow would pick a GPU for a CPU cell otherwise).
        def on_device(*inputs):
            with tf.device(device):
                return fn(*inputs)

        args = tensors(arrays)
        return _program(tf, cell, on_device, args, tensors, traces=None, device_name=_device_name(tf, args), ops=ops)

    # A traced function holds its parameters as tf.Variables, as a Keras model does,
    # and reads them at every call: per call that saves passing six tensor arguments
    # (see docs/design.md).
    first = tensors(arrays)
    with tf.device(device):
        variables = tf.nest.map_structure(tf.Variable, first[0])

    def place(inputs):
        params, *rest = tensors(inputs)
        tf.nest.map_structure(lambda variable, value: variable.assign(value), variables, params)
        return tuple(rest)

    count = [0]
    body = loop.row if loop else fn

    def traced(*rest):
        count[0] += 1  # Python side effect: runs only while tracing
        return body(variables, *rest)

    args = tuple(first[1:])
    with tf.device(device):
        traced_args = ((tf.constant(0),) if loop else ()) + args
        signature = tf.nest.map_structure(lambda a: tf.TensorSpec(a.shape, a.dtype), traced_args)
        function = tf.function(traced, jit_compile=cell.execution == "compiled")
        concrete = function.get_concrete_function(*signature)
        if cell.execution == "compiled":
            _require_runtime_parameters(tf, cell, function, traced_args, len(tf.nest.flatten(variables)))
    if loop:
        call = lambda *data: by_rows(lambda j: concrete(tf.constant(j), *data))  # noqa: E731
    else:
        call = concrete
    return _program(tf, cell, call, args, place, traces=lambda: count[0], device_name=_device_name(tf, first), ops=ops)


def _device_name(tf, inputs) -> str:
    return tf.nest.flatten(inputs)[0].device


def _program(tf, cell: Cell, fn, args, place, traces, device_name: str, ops) -> Program:
    def wait(_out):
        # Eager ops and graph calls on the CPU return finished tensors; GPU kernels do not.
        if cell.device == "gpu":
            tf.test.experimental.sync_devices()

    return Program(
        fn=fn,
        args=tuple(args),
        place=place,
        wait=wait,
        to_numpy=lambda out: flat_outputs(cell, out, lambda t: t.numpy(), ops.layout),
        device_name=device_name,
        traces=traces,
        forms=ops.forms,
    )
