"""PyTorch: double backward through ``torch.autograd`` and ``torch.func`` transforms, on
the parameters as separate tensors (leaf tensors for autograd, a tuple for torch.func).

eager: autograd for grad and rev_rev (the idiom PyTorch users write), ``torch.func`` for
the forward-mode compositions.  compiled: ``torch.compile(fullgraph=True, dynamic=False)``
of the loss for grad (AOTAutograd compiles forward and backward), and of the whole
``torch.func`` composition for every HVP mode.  PyTorch has no graph mode apart from
compile.
"""

from __future__ import annotations

import numpy as np

from .. import conditions
from ..cells import Cell
from ..models import ArrayOps, loss_function
from .base import Program, builder_for, flat_outputs, hessian_by_rows, native_inputs, split_columns

NAME = "torch"


def framework():
    conditions.apply_process_settings()
    import torch

    torch.set_num_threads(conditions.threads())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch


def versions() -> dict:
    return {"torch": conditions.package_version("torch")}


def reported_conditions() -> dict:
    torch = framework()
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_float32_matmul_precision": torch.get_float32_matmul_precision(),
        "torch_cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
    }


def unavailable(cell: Cell) -> str | None:
    torch = framework()
    if cell.device == "gpu" and not torch.cuda.is_available():
        return "torch sees no CUDA device (torch.cuda.is_available() is False)"
    return None


def _compile(torch, fn):
    return torch.compile(fn, fullgraph=True, dynamic=False)


def _tree_dot(torch, a, b):
    if isinstance(a, torch.Tensor):
        return torch.sum(a * b)
    return sum(torch.sum(x * y) for x, y in zip(a, b, strict=True))


# HVP compositions as functions of f(params, *data): reused by the Hessian strategies.
def hvp_double_backward(torch, f):
    """autograd's double backward; the parameters must be leaf tensors with requires_grad."""

    def hvp(p, v, *data):
        g = torch.autograd.grad(f(p, *data), p, create_graph=True)
        return torch.autograd.grad(g, p, grad_outputs=v)

    return hvp


def hvp_rev_rev(torch, f):
    func = torch.func
    return lambda p, v, *data: func.grad(lambda q: _tree_dot(torch, func.grad(f)(q, *data), v))(p)


def hvp_fwd_rev(torch, f):
    func = torch.func
    return lambda p, v, *data: func.jvp(lambda q: func.grad(f)(q, *data), (p,), (v,))[1]


def hvp_rev_fwd(torch, f):
    func = torch.func
    return lambda p, v, *data: func.grad(lambda q: func.jvp(lambda r: f(r, *data), (q,), (v,))[1])(p)


def _like_params(torch, p, grads):
    """autograd.grad returns a tuple; a single parameter tensor gets one tensor back."""
    return grads[0] if isinstance(p, torch.Tensor) else grads


# A builder returns (the cell's function, whether the parameters are autograd leaves).
def _grad(torch, f, compiled):
    forward = _compile(torch, f) if compiled else f

    def grad(p, *data):
        value = forward(p, *data)
        return {"loss": value.detach(), "grad": _like_params(torch, p, torch.autograd.grad(value, p))}

    return grad, True


def _rev_rev(torch, f, compiled):
    if not compiled:
        double_backward = hvp_double_backward(torch, f)

        def hvp(p, v, *data):
            return {"hvp": _like_params(torch, p, double_backward(p, v, *data))}

        return hvp, True
    # autograd.grad(create_graph=True) through a compiled loss raises "torch.compile
    # with aot_autograd does not currently support double backward"; the torch.func
    # composition compiles whole.
    return _func_hvp(hvp_rev_rev)(torch, f, compiled)


def _func_hvp(composition):
    def build(torch, f, compiled):
        hvp = composition(torch, f)
        if compiled:
            hvp = _compile(torch, hvp)
        return (lambda p, v, *data: {"hvp": hvp(p, v, *data)}), False

    return build


def _columns(torch, matrix, p):
    return split_columns(matrix, p, lambda t: t.numel(), torch.reshape)


def _first(torch, p):
    return p if isinstance(p, torch.Tensor) else p[0]


def _size(torch, p) -> int:
    return p.numel() if isinstance(p, torch.Tensor) else sum(t.numel() for t in p)


def _identity(torch, p):
    """The n unit vectors in the parameters' structure, stacked on a leading axis."""
    first = _first(torch, p)
    return _columns(torch, torch.eye(_size(torch, p), dtype=first.dtype, device=first.device), p)


def _unit(torch, p, j):
    first = _first(torch, p)
    return _columns(torch, (torch.arange(_size(torch, p), device=first.device) == j).to(first.dtype), p)


def _whole_hessian(transform):
    """A strategy ``transform(torch, f)`` compiled whole in a compiled cell."""

    def build(torch, f, compiled):
        hessian = transform(torch, f)
        if compiled:
            hessian = _compile(torch, hessian)
        return (lambda p, *data: {"hessian": hessian(p, *data)}), False

    return build


def _vmap_hvp(torch, f):
    hvp = hvp_fwd_rev(torch, f)
    return lambda p, *data: torch.func.vmap(lambda v: hvp(p, v, *data))(_identity(torch, p))


def _loop_hvp(torch, f, compiled):
    """n forward-over-reverse HVPs from Python; compiled, the row is compiled, with its
    index a 0-d tensor argument (an int would be specialised: a recompile per row)."""
    hvp = hvp_fwd_rev(torch, f)

    def row(p, j, *data):
        return hvp(p, _unit(torch, p, j), *data)

    if compiled:
        row = _compile(torch, row)

    def hessian(p, *data):
        device = _first(torch, p).device
        rows = hessian_by_rows(lambda j: row(p, torch.tensor(j, device=device), *data), _size(torch, p), torch.stack)
        return {"hessian": rows}

    return hessian, False


def _autograd_hessian(vectorize: bool):
    """torch.autograd.functional.hessian, which takes a function of the inputs alone."""

    def transform(torch, f):
        def hessian(p, *data):
            if isinstance(p, torch.Tensor):
                return torch.autograd.functional.hessian(lambda q: f(q, *data), p, vectorize=vectorize)
            return torch.autograd.functional.hessian(lambda *q: f(q, *data), p, vectorize=vectorize)

        return hessian

    return transform


BUILDERS = {
    ("grad", "rev"): _grad,
    ("hvp", "rev_rev"): _rev_rev,
    ("hvp", "fwd_rev"): _func_hvp(hvp_fwd_rev),
    ("hvp", "rev_fwd"): _func_hvp(hvp_rev_fwd),
    ("hessian", "native"): _whole_hessian(lambda torch, f: torch.func.hessian(f)),  # forward over reverse
    ("hessian", "jacrev_jacrev"): _whole_hessian(lambda torch, f: torch.func.jacrev(torch.func.jacrev(f))),
    ("hessian", "vmap_hvp"): _whole_hessian(_vmap_hvp),
    ("hessian", "loop_hvp"): _loop_hvp,
    ("hessian", "autograd_vectorize"): _whole_hessian(_autograd_hessian(vectorize=True)),
    ("hessian", "autograd_loop"): _whole_hessian(_autograd_hessian(vectorize=False)),
}


def _graph_count(torch) -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def build(cell: Cell, arrays: dict[str, np.ndarray]) -> Program:
    torch = framework()
    if cell.execution == "compiled":
        # Compile as in a fresh process, as asv runs every cell.  One process that builds
        # many cells (verify, idiom) would otherwise recompile the same compositions for
        # each new shape and dtype until dynamo's limit (8 per function) fails the cell.
        torch._dynamo.reset()
    device = torch.device("cuda" if cell.device == "gpu" else "cpu")
    ops = ArrayOps(tanh=torch.tanh, square=torch.square, mean=torch.mean, sum=torch.sum)
    f = loss_function(cell.case, ops)
    fn, leaves = builder_for(NAME, BUILDERS, cell)(torch, f, cell.execution == "compiled")

    def place(inputs):
        args = native_inputs(cell, inputs, lambda a: torch.from_numpy(a).to(device))
        if leaves:  # autograd differentiates with respect to these leaf tensors
            params = args[0]
            for tensor in [params] if isinstance(params, torch.Tensor) else params:
                tensor.requires_grad_(True)
        return args

    def wait(_out):
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return Program(
        fn=fn,
        args=place(arrays),
        place=place,
        wait=wait,
        to_numpy=lambda out: flat_outputs(cell, out, lambda t: t.detach().cpu().numpy()),
        device_name=name,
        traces=(lambda: _graph_count(torch)) if cell.execution == "compiled" else None,
    )
