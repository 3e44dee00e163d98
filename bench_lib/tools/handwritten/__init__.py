"""Hand-written gradients, HVPs and Hessians: the yardstick for the suite's prepared cells.

Each module here (``tensorflow``, ``jax``, ``torch``) writes the losses inline (the mlp;
the ConvNet and the Transformer block with the framework's own layers, in its own
layout) and their derivatives the way that framework's documentation writes them, with no suite helper
(no loss function, Cell, Program or ArrayOps from ``bench_lib``; only the
framework's set-up, threads and precision, is the suite backend's, so that both run
under the same conditions): the plain, fastest
idiomatic code a user of the framework would write.  The suite's cell should take at
most about as long (suite / hand-written <= 1.05).

Every module has ``build(workload, mode, execution, arrays, dtype, device, model, case) -> HandWritten``:

- ``workload`` "grad" (mode "rev"), "hvp" (mode "rev_rev", "fwd_rev", "rev_fwd") or
  "hessian" (the vectorised strategies of each framework, ``HESSIAN_MODES``: among
  them is each framework's fastest);
- ``execution`` "eager", "graph" (TensorFlow only) or "compiled"; an execution the
  framework does not have raises ``NotImplementedError`` with the reason;
- ``arrays`` as ``bench_lib.inputs(workload, model, size)`` returns them (flat float64
  ``params``, ``x``, ``y`` and, for "hvp", ``v``);
- ``model`` "mlp" (the default), "cnn" or "transformer", and ``case`` its spec (the
  architectures' shapes, heads); the architectures are written for grad and hvp in
  float32, the dtype ``idiom`` compares them in;
- ``dtype`` "float32" or "float64";
- ``device`` "cpu" (default) or "gpu": the inputs are placed there once, and ``run()``
  waits for the device's work as the suite's timed call does (the unrolled programs run
  on the CPU only).

``run()`` performs one unit of work on inputs converted once in ``build`` and returns
when it has finished; ``to_numpy(out)`` gives ``{"loss", "grad"}``, ``{"hvp"}`` or
``{"hessian"}`` as NumPy arrays in the cell's dtype, flattened in the model's block
order, row-major, channels_last (the Hessian's rows and columns alike).  ``rerun(arrays)`` (not timed) calls the very same built function, without
building it again, on other inputs of the same shapes, converted as ``build`` converts
them, and leaves ``run()``'s inputs as they were: a check that the inputs are real
arguments.  (An input that XLA takes as a compile-time constant still answers correctly,
by recompiling for each new value; the tests inspect TensorFlow's HLO for that.)
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bench_lib.core.cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS

# The modes written by hand, per workload (and per backend for the Hessian).
MODES = {"grad": ("rev",), "hvp": ("rev_rev", "fwd_rev", "rev_fwd")}
HESSIAN_MODES = {
    "tensorflow": ("native", "vmap_hvp", "jacobian_while"),
    "jax": ("native", "jacrev_jacrev", "vmap_hvp"),
    "torch": ("native", "jacrev_jacrev", "vmap_hvp", "autograd_vectorize"),
}


# Unrolled optimization (``unrolled_<backend>.py``, keywords K and optimizer): the
# exact modes; first_order is the reverse program with the inner gradients stopped.
UNROLLED_MODES = ("reverse", "forward")


# The models written by hand: the architectures for grad and hvp, in float32.
ARCHITECTURES = ("cnn", "transformer")


def covers(backend: str, workload: str, mode: str, device: str = "cpu", model: str = "mlp", dtype: str = "float32") -> bool:
    """Whether a hand-written version of this (workload, mode) exists for ``backend``
    on ``device`` and ``model``."""
    if model in ARCHITECTURES:
        return workload in MODES and mode in MODES[workload] and dtype == "float32"
    if model != "mlp":
        return False
    if workload == "hessian":
        return mode in HESSIAN_MODES.get(backend, ())
    if workload == "unrolled":
        return backend in BACKENDS and mode in UNROLLED_MODES and device == "cpu"
    return mode in MODES.get(workload, ())


def build(
    backend: str, workload: str, mode: str, execution: str, arrays: dict, dtype: str, device: str = "cpu",
    model: str = "mlp", case=None, **keywords,
) -> HandWritten:
    """The hand-written version of one cell (``case``: the architectures' spec;
    ``keywords``: the workload's, K and optimizer for unrolled)."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected {' or '.join(map(repr, DEVICES))}")
    if workload != "unrolled":
        return load(backend).build(
            workload, mode, execution, arrays, dtype, device=device, model=model, case=case, **keywords
        )
    if model != "mlp":
        raise NotImplementedError("the hand-written unrolled programs are the mlp's")
    if device != "cpu":
        raise NotImplementedError("the hand-written unrolled programs run on the CPU only")
    if mode not in UNROLLED_MODES:
        raise ValueError(f"unknown mode {mode!r} for workload 'unrolled'; expected one of {UNROLLED_MODES}")
    if execution not in EXECUTIONS or dtype not in DTYPES:
        raise ValueError(f"unknown execution {execution!r} or dtype {dtype!r}")
    return importlib.import_module(f"{__name__}.unrolled_{load(backend).__name__.rsplit('.', 1)[1]}").build(
        mode, execution, arrays, dtype, **keywords
    )


@dataclass
class HandWritten:
    """One built hand-written cell (see the module docstring)."""

    run: Callable[[], object]
    to_numpy: Callable[[object], dict]
    rerun: Callable[[dict], object] | None = None


def load(backend_name: str):
    """The hand-written module of ``backend_name``; its framework is imported by ``build``."""
    if backend_name not in BACKENDS:
        raise ValueError(f"unknown backend {backend_name!r}; expected one of {BACKENDS}")
    return importlib.import_module(f"{__name__}.{backend_name}")


def check(workload: str, mode: str, execution: str, dtype: str, backend: str, model: str = "mlp") -> None:
    """A clear ValueError for an argument outside the axes (NotImplementedError for an
    architecture outside what is written by hand)."""
    if model in ARCHITECTURES and (workload not in MODES or dtype != "float32"):
        raise NotImplementedError(f"the hand-written {model} is written for grad and hvp in float32")
    if model != "mlp" and model not in ARCHITECTURES:
        raise ValueError(f"no hand-written model {model!r}; expected 'mlp' or one of {ARCHITECTURES}")
    modes = {**MODES, "hessian": HESSIAN_MODES[backend]}
    if workload not in modes:
        raise ValueError(f"unknown workload {workload!r}; expected one of {tuple(modes)}")
    if mode not in modes[workload]:
        raise ValueError(f"unknown mode {mode!r} for workload {workload!r}; expected one of {modes[workload]}")
    if execution not in EXECUTIONS:
        raise ValueError(f"unknown execution {execution!r}; expected one of {EXECUTIONS}")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {DTYPES}")


def mlp_shapes(arrays: dict) -> tuple[tuple[int, ...], ...]:
    """(W1, b1, W2, b2, W3, b3) shapes from x, y and the length of params.

    len(params) = n_in h + h + h h + h + h n_out + n_out, a quadratic in h.
    """
    n_in, n_out = arrays["x"].shape[1], arrays["y"].shape[1]
    total = arrays["params"].size
    b = n_in + 2 + n_out
    h = (-b + math.isqrt(b * b + 4 * (total - n_out))) // 2
    shapes = ((n_in, h), (h,), (h, h), (h,), (h, n_out), (n_out,))
    if sum(math.prod(s) for s in shapes) != total:
        raise ValueError(f"{total} parameters fit no mlp with {n_in} inputs and {n_out} outputs")
    return shapes


def split(flat: np.ndarray, shapes) -> list[np.ndarray]:
    """Cut a flat vector into arrays of ``shapes``, in order, row-major."""
    pieces, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        pieces.append(flat[start : start + size].reshape(shape))
        start += size
    if start != flat.size:
        raise ValueError(f"shapes take {start} numbers, the vector has {flat.size}")
    return pieces


def numpy_inputs(workload: str, arrays: dict, dtype: str, shapes=None) -> dict:
    """The cell's inputs as fresh NumPy arrays of ``dtype``: ``params`` (and ``v``) as
    arrays of ``shapes`` (the mlp's six by default)."""
    shapes = shapes or mlp_shapes(arrays)
    out = {
        "params": [np.array(a, dtype=dtype) for a in split(arrays["params"], shapes)],
        "x": np.array(arrays["x"], dtype=dtype),
        "y": np.array(arrays["y"], dtype=dtype),
    }
    if workload == "hvp":
        out["v"] = [np.array(a, dtype=dtype) for a in split(arrays["v"], shapes)]
    return out


def unrolled_inputs(arrays: dict, dtype: str) -> dict:
    """The unrolled cell's inputs as fresh NumPy arrays of ``dtype``: ``params`` as six
    arrays, ``lr`` 0-d, the training and validation batches as they are."""
    shapes = mlp_shapes(arrays)
    out = {name: np.array(arrays[name], dtype=dtype) for name in ("lr", "xv", "yv", "x", "y")}
    out["params"] = [np.array(a, dtype=dtype) for a in split(arrays["params"], shapes)]
    return out


def flat(blocks) -> np.ndarray:
    """Concatenate NumPy blocks, row-major, in order (keeps their dtype)."""
    return np.concatenate([np.asarray(b).ravel() for b in blocks])


def flat_hessian(out, shapes, to_numpy: Callable) -> np.ndarray:
    """The (n, n) Hessian from nested blocks H[i][j] (shaped block_i + block_j) or
    column blocks H[:, j] (shaped (n,) + block_j), for parameter blocks of ``shapes``."""
    sizes = [math.prod(shape) for shape in shapes]
    if isinstance(out[0], (list, tuple)):
        return np.block(
            [[to_numpy(block).reshape(si, sj) for block, sj in zip(row, sizes)] for row, si in zip(out, sizes)]
        )
    return np.concatenate([to_numpy(block).reshape(sum(sizes), sj) for block, sj in zip(out, sizes)], axis=1)
