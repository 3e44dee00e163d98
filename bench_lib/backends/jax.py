"""JAX: grad, jvp and vjp compositions on a tuple pytree of parameters.

eager: the transformed function called op by op; compiled: ``jax.jit`` lowered and
compiled ahead of time for the cell's shapes, so that the timed call cannot retrace.
JAX has no graph mode apart from jit.
"""

from __future__ import annotations

import os

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
from bench_lib.backends.ops.jax import array_ops

NAME = "jax"


def framework():
    conditions.apply_process_settings()
    import jax

    # "highest" is full float32; "tensorfloat32" lets float32 matmuls use TF32.
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if conditions.tf32() else "highest")
    return jax


def reported_conditions() -> dict:
    jax = framework()
    return {
        "jax_matmul_precision": str(jax.config.jax_default_matmul_precision),
        # XLA's CPU thread pool is sized from the CPUs the process may use.
        "jax_cpu_threads": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


def _device(jax, cell: Cell):
    platform = "cpu" if cell.device == "cpu" else "gpu"
    try:
        return jax.devices(platform)[0]
    except RuntimeError as error:
        return error


def gpu_conditions() -> dict:
    jax = framework()
    try:
        device = jax.devices("gpu")[0]
    except RuntimeError:
        return {}
    found = {"gpu": str(device.device_kind)}
    try:  # jaxlib's CUDA plugin says what it was built with (no public API; None without it)
        from jax._src.lib import cuda_versions

        found["cuda_build"] = _version(cuda_versions.cuda_runtime_build_version())
        found["cudnn"] = str(cuda_versions.cudnn_build_version())
    except (ImportError, AttributeError):
        pass
    return found


def _version(number: int) -> str:
    """CUDA's integer version (12080) as text ("12.8")."""
    return f"{number // 1000}.{number % 1000 // 10}"


def host_memory_hidden(cell: Cell) -> None:
    """Nothing hides the host memory of a call: the process's resident set shows it."""
    return None


def device_peak_memory(cell: Cell, call) -> int | None:
    """The device's ``peak_bytes_in_use`` after the call, less ``bytes_in_use`` before
    it.  XLA's allocator keeps one peak for the process's life and cannot reset it, so
    this is the cell's peak only in the cell's fresh process (asv's), where the first
    call and the warm-up did the same work."""
    if cell.device != "gpu":
        return None
    device = _device(framework(), cell)
    stats = device.memory_stats()
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    before = stats["bytes_in_use"]
    call()
    return max(0, int(device.memory_stats()["peak_bytes_in_use"]) - int(before))


def unavailable(cell: Cell) -> str | None:
    device = _device(framework(), cell)
    if isinstance(device, Exception):
        return f"jax sees no {cell.device} device: {device}"
    return None


def _tree_vdot(jax, a, b):
    return sum(jax.numpy.vdot(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


# HVP compositions as functions of f(params, *data): reused by the Hessian strategies.
def hvp_rev_rev(jax, f):
    return lambda p, v, *data: jax.grad(lambda q: _tree_vdot(jax, jax.grad(f)(q, *data), v))(p)


def hvp_fwd_rev(jax, f):
    return lambda p, v, *data: jax.jvp(lambda q: jax.grad(f)(q, *data), (p,), (v,))[1]


def hvp_rev_fwd(jax, f):
    return lambda p, v, *data: jax.grad(lambda q: jax.jvp(lambda r: f(r, *data), (q,), (v,))[1])(p)


def _grad(jax, f, _cell):
    def grad(p, *data):
        value, g = jax.value_and_grad(f)(p, *data)
        return {"loss": value, "grad": g}

    return grad


def _columns(jax, matrix, p):
    return split_columns(matrix, p, lambda a: a.size, jax.numpy.reshape)


def _basis_shape(jax, p):
    leaves = jax.tree_util.tree_leaves(p)
    return sum(leaf.size for leaf in leaves), leaves[0].dtype


def _identity(jax, p):
    """The n unit vectors in the parameters' structure, stacked on a leading axis."""
    n, dtype = _basis_shape(jax, p)
    return _columns(jax, jax.numpy.eye(n, dtype=dtype), p)


def _unit(jax, p, j):
    n, dtype = _basis_shape(jax, p)
    return _columns(jax, (jax.numpy.arange(n) == j).astype(dtype), p)


def _hessian(transform):
    def build(jax, f, _cell):
        hessian = transform(jax, f)
        return lambda p, *data: {"hessian": hessian(p, *data)}

    return build


def _vmap_hvp(jax, f):
    hvp = hvp_fwd_rev(jax, f)
    return lambda p, *data: jax.vmap(lambda v: hvp(p, v, *data))(_identity(jax, p))


def _loop_hvp(jax, f, _cell):
    hvp = hvp_fwd_rev(jax, f)
    return RowLoop(lambda p, j, *data: hvp(p, _unit(jax, p, j), *data))


def _unroll(jax, cell: Cell, step, carry):
    """K steps of ``step(carry) -> carry``: a Python loop in eager execution (what an
    eager user writes); compiled, one ``lax.scan`` whose body is compiled once."""
    steps = cell.options["K"]
    if cell.execution != "compiled":
        for _ in range(steps):
            carry = step(carry)
        return carry
    carry, _ = jax.lax.scan(lambda c, _: (step(c), None), carry, None, length=steps)
    return carry


def _outer_loss(jax, f, cell: Cell, first_order: bool):
    """The validation loss after K inner steps, as a function of (p_0, lr)."""
    optimizer = cell.options["optimizer"]
    update = inner_update(optimizer)

    def outer(p0, lr, xv, yv, x, y):
        def step(carry):
            p, m = carry
            g = jax.grad(f)(p, x, y)
            if first_order:  # first-order MAML: the inner gradients are constants
                g = jax.lax.stop_gradient(g)
            return update(p, m, g, lr)

        p, _ = _unroll(jax, cell, step, (p0, initial_velocity(optimizer, p0, jax.numpy.zeros_like)))
        return f(p, xv, yv)

    return outer


def _unrolled_reverse(first_order: bool):
    def build(jax, f, cell):
        gradients = jax.grad(_outer_loss(jax, f, cell, first_order), argnums=(0, 1))

        def unrolled(p0, lr, xv, yv, x, y):
            d_init, d_lr = gradients(p0, lr, xv, yv, x, y)
            return {"d_lr": d_lr, "d_init": d_init}

        return unrolled

    return build


def _unrolled_forward(jax, f, cell):
    outer = _outer_loss(jax, f, cell, first_order=False)

    def unrolled(p0, lr, xv, yv, x, y):
        _, d_lr = jax.jvp(lambda rate: outer(p0, rate, xv, yv, x, y), (lr,), (jax.numpy.ones_like(lr),))
        return {"d_lr": d_lr}

    return unrolled


BUILDERS = {
    ("grad", "rev"): _grad,
    ("hvp", "rev_rev"): hvp_builder(hvp_rev_rev),
    ("hvp", "fwd_rev"): hvp_builder(hvp_fwd_rev),
    ("hvp", "rev_fwd"): hvp_builder(hvp_rev_fwd),
    ("hessian", "native"): _hessian(lambda jax, f: jax.hessian(f)),  # forward over reverse
    ("hessian", "jacrev_jacrev"): _hessian(lambda jax, f: jax.jacrev(jax.jacrev(f))),
    ("hessian", "vmap_hvp"): _hessian(_vmap_hvp),
    ("hessian", "loop_hvp"): _loop_hvp,
    ("unrolled", "reverse"): _unrolled_reverse(first_order=False),
    ("unrolled", "forward"): _unrolled_forward,
    ("unrolled", "first_order"): _unrolled_reverse(first_order=True),
}


def _row_loop(jax, cell: Cell, loop: RowLoop, args):
    """The cell's function of a loop strategy; compiled, each row is one call of the
    row compiled ahead of time (the index is a run-time argument)."""
    row = loop.row
    if cell.execution == "compiled":
        row = jax.jit(row).lower(args[0], np.int32(0), *args[1:]).compile()
    n = cell.case.n_params

    def hessian(p, *data):
        return {"hessian": hessian_by_rows(lambda j: row(p, np.int32(j), *data), n, jax.numpy.stack)}

    return hessian


def build(cell: Cell, arrays: dict[str, np.ndarray]) -> Program:
    jax = framework()
    if cell.dtype == "float64":
        # Without x64 JAX silently computes float64 requests in float32.
        jax.config.update("jax_enable_x64", True)
    device = _device(jax, cell)
    ops = array_ops(jax, cell)
    fn = builder_for(NAME, BUILDERS, cell)(jax, loss_function(cell.case, ops), cell)

    def place(inputs):
        return native_inputs(cell, inputs, lambda a: jax.device_put(a, device), layout=ops.layout)

    args = place(arrays)
    if isinstance(fn, RowLoop):
        fn = _row_loop(jax, cell, fn, args)
    elif cell.execution == "compiled":
        fn = jax.jit(fn).lower(*args).compile()

    return Program(
        fn=fn,
        args=args,
        place=place,
        wait=jax.block_until_ready,
        to_numpy=lambda out: flat_outputs(cell, out, np.asarray, ops.layout),
        device_name=str(device.device_kind),
        # An AOT-compiled executable is bound to its shapes and cannot retrace.
        traces=None,
        forms=ops.forms,
    )
