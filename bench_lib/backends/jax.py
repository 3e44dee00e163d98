"""JAX: grad, jvp and vjp compositions.

eager: the transformed function called op by op; compiled: ``jax.jit`` lowered and
compiled ahead of time for the cell's shapes, so that the timed call cannot retrace.
JAX has no graph mode apart from jit.
"""

from __future__ import annotations

import numpy as np

from .. import conditions
from ..cells import Cell
from ..workloads import ArrayOps, loss_function, spec
from .base import Program

NAME = "jax"


def _jax():
    conditions.apply_process_settings()
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
    return jax


def versions() -> dict:
    return {"jax": conditions.package_version("jax"), "jaxlib": conditions.package_version("jaxlib")}


def _device(jax, cell: Cell):
    platform = "cpu" if cell.device == "cpu" else "gpu"
    try:
        return jax.devices(platform)[0]
    except RuntimeError as error:
        return error


def unavailable(cell: Cell) -> str | None:
    device = _device(_jax(), cell)
    if isinstance(device, Exception):
        return f"jax sees no {cell.device} device: {device}"
    return None


def _program(jax, cell: Cell, f):
    """The cell's function of (params, [v], *data) -> dict of outputs."""
    jnp = jax.numpy
    if cell.workload == "grad":

        def grad(p, *data):
            value, g = jax.value_and_grad(f)(p, *data)
            return {"loss": value, "grad": g}

        return grad

    def rev_rev(p, v, *data):
        return {"hvp": jax.grad(lambda q: jnp.vdot(jax.grad(f)(q, *data), v))(p)}

    def fwd_rev(p, v, *data):
        return {"hvp": jax.jvp(lambda q: jax.grad(f)(q, *data), (p,), (v,))[1]}

    def rev_fwd(p, v, *data):
        return {"hvp": jax.grad(lambda q: jax.jvp(lambda r: f(r, *data), (q,), (v,))[1])(p)}

    return {"rev_rev": rev_rev, "fwd_rev": fwd_rev, "rev_fwd": rev_fwd}[cell.mode]


def build(cell: Cell, arrays: dict[str, np.ndarray]) -> Program:
    jax = _jax()
    if cell.dtype == "float64":
        # Without x64 JAX silently computes float64 requests in float32.
        jax.config.update("jax_enable_x64", True)
    device = _device(jax, cell)
    args = [jax.device_put(arrays[name].astype(cell.dtype), device) for name in cell.argument_names]
    jnp = jax.numpy
    ops = ArrayOps(tanh=jnp.tanh, mean=jnp.mean, sum=jnp.sum, reshape=jnp.reshape)
    fn = _program(jax, cell, loss_function(spec(cell.model, cell.size), ops))
    if cell.execution == "compiled":
        fn = jax.jit(fn).lower(*args).compile()

    return Program(
        run=lambda: fn(*args),
        wait=jax.block_until_ready,
        to_numpy=lambda out: {key: np.asarray(value) for key, value in out.items()},
        device_name=str(device.device_kind),
        # An AOT-compiled executable is bound to its shapes and cannot retrace.
        traces=None,
    )
