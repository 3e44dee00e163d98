"""PyTorch: double backward through ``torch.autograd`` and ``torch.func`` transforms.

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
from ..workloads import ArrayOps, loss_function, spec
from .base import Program

NAME = "torch"


def _torch():
    conditions.apply_process_settings()
    import torch

    torch.set_num_threads(conditions.threads())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch


def versions() -> dict:
    return {"torch": conditions.package_version("torch")}


def unavailable(cell: Cell) -> str | None:
    torch = _torch()
    if cell.device == "gpu" and not torch.cuda.is_available():
        return "torch sees no CUDA device (torch.cuda.is_available() is False)"
    return None


def _compile(torch, fn):
    return torch.compile(fn, fullgraph=True, dynamic=False)


def _program(torch, cell: Cell, f):
    """The cell's function of (params, [v], *data) -> dict of outputs."""
    compiled = cell.execution == "compiled"
    func = torch.func
    if cell.workload == "grad":
        forward = _compile(torch, f) if compiled else f

        def grad(p, *data):
            value = forward(p, *data)
            (g,) = torch.autograd.grad(value, p)
            return {"loss": value.detach(), "grad": g}

        return grad

    if cell.mode == "rev_rev" and not compiled:

        def double_backward(p, v, *data):
            (g,) = torch.autograd.grad(f(p, *data), p, create_graph=True)
            (hv,) = torch.autograd.grad(g, p, grad_outputs=v)
            return {"hvp": hv}

        return double_backward

    if cell.mode == "rev_rev":
        # autograd.grad(create_graph=True) through a compiled loss raises "torch.compile
        # with aot_autograd does not currently support double backward"; the torch.func
        # composition compiles whole.
        def hvp(p, v, *data):
            return func.grad(lambda q: torch.dot(func.grad(f)(q, *data), v))(p)

    elif cell.mode == "fwd_rev":

        def hvp(p, v, *data):
            return func.jvp(lambda q: func.grad(f)(q, *data), (p,), (v,))[1]

    else:

        def hvp(p, v, *data):
            return func.grad(lambda q: func.jvp(lambda r: f(r, *data), (q,), (v,))[1])(p)

    if compiled:
        hvp = _compile(torch, hvp)
    return lambda p, v, *data: {"hvp": hvp(p, v, *data)}


def _graph_count(torch) -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def build(cell: Cell, arrays: dict[str, np.ndarray]) -> Program:
    torch = _torch()
    device = torch.device("cuda" if cell.device == "gpu" else "cpu")
    args = [torch.from_numpy(arrays[name].astype(cell.dtype)).to(device) for name in cell.argument_names]
    if cell.workload == "grad" or (cell.mode == "rev_rev" and cell.execution == "eager"):
        args[0].requires_grad_(True)  # autograd differentiates with respect to this leaf
    ops = ArrayOps(tanh=torch.tanh, mean=torch.mean, sum=torch.sum, reshape=torch.reshape)
    fn = _program(torch, cell, loss_function(spec(cell.model, cell.size), ops))

    def wait(_out):
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def to_numpy(out):
        return {key: value.detach().cpu().numpy() for key, value in out.items()}

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return Program(
        run=lambda: fn(*args),
        wait=wait,
        to_numpy=to_numpy,
        device_name=name,
        traces=(lambda: _graph_count(torch)) if cell.execution == "compiled" else None,
    )
