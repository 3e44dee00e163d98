"""PyTorch: double backward through ``torch.autograd`` and ``torch.func`` transforms, on
the parameters as separate tensors (leaf tensors for autograd, a tuple for torch.func).

eager: autograd for grad and rev_rev (the idiom PyTorch users write), ``torch.func`` for
the forward-mode compositions.  compiled: ``torch.compile(fullgraph=True, dynamic=False)``
of the loss for grad (AOTAutograd compiles forward and backward), and of the whole
``torch.func`` composition for every HVP mode; for unrolled optimization, of one inner
step (and its JVP), called K times.  PyTorch has no graph mode apart from compile.
"""

from __future__ import annotations

import numpy as np

from bench_lib.core import conditions
from bench_lib.core.cells import Cell
from bench_lib.core.models import loss_function
from bench_lib.core.workloads.unrolled import initial_velocity, inner_update
from bench_lib.backends.base import Program, builder_for, flat_outputs, hessian_by_rows, native_inputs, split_columns
from bench_lib.backends.ops.torch import array_ops

NAME = "torch"


def framework():
    conditions.apply_process_settings()
    import torch

    torch.set_num_threads(conditions.threads())
    set_tf32(torch, conditions.tf32())
    return torch


def set_tf32(torch, on: bool) -> None:
    """TF32 on or off for float32 matmuls and cuDNN.  The precision first, then the
    flags it implies: torch 2.13 refuses to read its TF32 settings ("mix of the legacy
    and new APIs") once a flag disagrees with the matmul precision."""
    torch.set_float32_matmul_precision("high" if on else "highest")
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def reported_conditions() -> dict:
    torch = framework()
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_float32_matmul_precision": torch.get_float32_matmul_precision(),
        "torch_cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "torch_cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
    }


def gpu_conditions() -> dict:
    torch = framework()
    if not torch.cuda.is_available():
        return {}
    properties = torch.cuda.get_device_properties(0)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"gpu": properties.name, "gpu_memory_bytes": int(properties.total_memory), "cuda_build": torch.version.cuda,
            "cudnn": None if cudnn is None else str(cudnn)}


def host_memory_hidden(cell: Cell) -> None:
    """Nothing hides the host memory of a call: the process's resident set shows it."""
    return None


def device_peak_memory(cell: Cell, call) -> int | None:
    """``max_memory_allocated`` after ``reset_peak_memory_stats``, less what was
    allocated before the call."""
    if cell.device != "gpu":
        return None
    torch = framework()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    call()
    return max(0, int(torch.cuda.max_memory_allocated()) - int(before))


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


def _compiled(cell) -> bool:
    return cell.execution == "compiled"


# A builder returns (the cell's function, the inputs autograd differentiates with
# respect to, as leaf tensors that require grad).
def _grad(torch, f, cell):
    forward = _compile(torch, f) if _compiled(cell) else f

    def grad(p, *data):
        value = forward(p, *data)
        return {"loss": value.detach(), "grad": _like_params(torch, p, torch.autograd.grad(value, p))}

    return grad, ("params",)


def _rev_rev(torch, f, cell):
    if not _compiled(cell):
        double_backward = hvp_double_backward(torch, f)

        def hvp(p, v, *data):
            return {"hvp": _like_params(torch, p, double_backward(p, v, *data))}

        return hvp, ("params",)
    # autograd.grad(create_graph=True) through a compiled loss raises "torch.compile
    # with aot_autograd does not currently support double backward"; the torch.func
    # composition compiles whole.
    return _func_hvp(hvp_rev_rev)(torch, f, cell)


def _func_hvp(composition):
    def build(torch, f, cell):
        hvp = composition(torch, f)
        if _compiled(cell):
            hvp = _compile(torch, hvp)
        return (lambda p, v, *data: {"hvp": hvp(p, v, *data)}), ()

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

    def build(torch, f, cell):
        hessian = transform(torch, f)
        if _compiled(cell):
            hessian = _compile(torch, hessian)
        return (lambda p, *data: {"hessian": hessian(p, *data)}), ()

    return build


def _vmap_hvp(torch, f):
    hvp = hvp_fwd_rev(torch, f)
    return lambda p, *data: torch.func.vmap(lambda v: hvp(p, v, *data))(_identity(torch, p))


def _loop_hvp(torch, f, cell):
    """n forward-over-reverse HVPs from Python; compiled, the row is compiled, with its
    index a 0-d tensor argument (an int would be specialised: a recompile per row)."""
    hvp = hvp_fwd_rev(torch, f)

    def row(p, j, *data):
        return hvp(p, _unit(torch, p, j), *data)

    if _compiled(cell):
        row = _compile(torch, row)

    def hessian(p, *data):
        device = _first(torch, p).device
        rows = hessian_by_rows(lambda j: row(p, torch.tensor(j, device=device), *data), _size(torch, p), torch.stack)
        return {"hessian": rows}

    return hessian, ()


def _autograd_hessian(vectorize: bool):
    """torch.autograd.functional.hessian, which takes a function of the inputs alone."""

    def transform(torch, f):
        def hessian(p, *data):
            if isinstance(p, torch.Tensor):
                return torch.autograd.functional.hessian(lambda q: f(q, *data), p, vectorize=vectorize)
            return torch.autograd.functional.hessian(lambda *q: f(q, *data), p, vectorize=vectorize)

        return hessian

    return transform


def _inner_step(torch, f, cell, first_order: bool):
    """One inner step ``(p, m, lr, x, y) -> (p, m)`` in ``torch.func`` form (the
    gradient by ``func.grad``: a function that a compiled region and a JVP can hold)."""
    update = inner_update(cell.options["optimizer"])

    def step(p, m, lr, x, y):
        g = torch.func.grad(f)(p, x, y)
        if first_order:  # first-order MAML: the inner gradients are constants
            g = tuple(block.detach() for block in g)
        return update(p, m, g, lr)

    return step


def _unrolled_reverse(first_order: bool):
    """Reverse mode through the K steps, by autograd from the validation loss back to
    p_0 and lr, which are leaf tensors.  eager, as PyTorch users write it:
    ``autograd.grad`` with ``create_graph=True`` at every inner step (without it,
    first-order MAML: the inner gradients are constants).  compiled: the inner step
    (``func.grad`` and the update) and the validation loss compiled once each, the K
    steps a Python loop of compiled calls that autograd differentiates through each
    step's compiled backward: torch.compile has no loop construct, and the time to
    compile the unrolled loop whole grows with K (see docs/measures.md)."""

    def build(torch, f, cell):
        steps, optimizer = cell.options["K"], cell.options["optimizer"]
        if _compiled(cell):
            step, outer_loss = _compile(torch, _inner_step(torch, f, cell, first_order)), _compile(torch, f)
        else:
            update, outer_loss = inner_update(optimizer), f

            def step(p, m, lr, x, y):
                g = torch.autograd.grad(f(p, x, y), p, create_graph=not first_order)
                return update(p, m, g, lr)

        def unrolled(p0, lr, xv, yv, x, y):
            p, m = tuple(p0), initial_velocity(optimizer, p0, torch.zeros_like)
            for _ in range(steps):
                p, m = step(p, m, lr, x, y)
            *d_init, d_lr = torch.autograd.grad(outer_loss(p, xv, yv), (*p0, lr))
            return {"d_lr": d_lr, "d_init": tuple(d_init)}

        return unrolled, ("params", "lr")

    return build


def _unrolled_forward(torch, f, cell):
    """``torch.func.jvp`` along lr (tangent 1) of the K inner steps and the validation
    loss: eager, one JVP around the whole loop; compiled, the JVP of one step (and of
    the validation loss) compiled once, carrying the tangents from step to step."""
    steps, optimizer = cell.options["K"], cell.options["optimizer"]
    step = _inner_step(torch, f, cell, first_order=False)

    if not _compiled(cell):

        def outer(p0, lr, xv, yv, x, y):
            p, m = p0, initial_velocity(optimizer, p0, torch.zeros_like)
            for _ in range(steps):
                p, m = step(p, m, lr, x, y)
            return f(p, xv, yv)

        def jvp(p0, lr, xv, yv, x, y):
            return torch.func.jvp(lambda rate: outer(p0, rate, xv, yv, x, y), (lr,), (torch.ones_like(lr),))[1]

    else:
        step_jvp = _compile(
            torch, lambda p, m, lr, dp, dm, x, y: torch.func.jvp(
                lambda q, v, rate: step(q, v, rate, x, y), (p, m, lr), (dp, dm, torch.ones_like(lr))
            )
        )
        loss_jvp = _compile(torch, lambda p, dp, xv, yv: torch.func.jvp(lambda q: f(q, xv, yv), (p,), (dp,))[1])

        def jvp(p0, lr, xv, yv, x, y):
            p, m = p0, initial_velocity(optimizer, p0, torch.zeros_like)
            dp, dm = tuple(torch.zeros_like(b) for b in p), tuple(torch.zeros_like(b) for b in m)
            for _ in range(steps):
                (p, m), (dp, dm) = step_jvp(p, m, lr, dp, dm, x, y)
            return loss_jvp(p, dp, xv, yv)

    def unrolled(p0, lr, xv, yv, x, y):
        # torch 2.13's forward AD gives a 0-d tensor times a Python float a float64
        # tangent (0.5 * mean(...) in the loss; pytorch/pytorch#160513): the value is
        # the float32 one, exactly (0.5 is a power of two); the dtype is put back.
        return {"d_lr": jvp(p0, lr, xv, yv, x, y).to(lr.dtype)}

    return unrolled, ()


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
    ("unrolled", "reverse"): _unrolled_reverse(first_order=False),
    ("unrolled", "forward"): _unrolled_forward,
    ("unrolled", "first_order"): _unrolled_reverse(first_order=True),
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
    ops = array_ops(torch, cell)
    f = loss_function(cell.case, ops)
    fn, leaves = builder_for(NAME, BUILDERS, cell)(torch, f, cell)

    def place(inputs):
        args = native_inputs(cell, inputs, lambda a: torch.from_numpy(a).to(device), layout=ops.layout)
        for name, arg in zip(cell.argument_names, args, strict=True):
            if name in leaves:  # autograd differentiates with respect to these leaf tensors
                for tensor in [arg] if isinstance(arg, torch.Tensor) else arg:
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
        to_numpy=lambda out: flat_outputs(cell, out, lambda t: t.detach().cpu().numpy(), ops.layout),
        device_name=name,
        traces=(lambda: _graph_count(torch)) if cell.execution == "compiled" else None,
        forms=ops.forms,
    )
