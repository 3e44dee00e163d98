"""Hand-written PyTorch unrolled optimization, as PyTorch's higher-order gradient
examples write it.  reverse: one ``autograd.grad`` of the validation loss with respect
to the initial parameters and lr (leaf tensors) through K inner steps, each step's
gradient by ``torch.autograd.grad(..., create_graph=True)`` (eager) or, compiled, the
step (``torch.func.grad`` and the update) compiled once with
``torch.compile(fullgraph=True, dynamic=False)`` and called K times (torch.compile
unrolls a loop it traces: the whole loop compiles for minutes at K = 100).  forward:
``torch.func.jvp`` along lr around ``torch.func.grad`` inner steps; compiled, the JVP of
one step compiled once, the tangents carried from call to call.
"""

from __future__ import annotations

import numpy as np

from bench_lib.backends.torch import framework  # set-up only: the suite's threads and precision
from bench_lib.tools.handwritten import HandWritten, flat, unrolled_inputs


def build(mode: str, execution: str, arrays: dict, dtype: str, K: int, optimizer: str) -> HandWritten:
    if execution == "graph":
        raise NotImplementedError("torch has no graph execution apart from its compiler (torch.compile: 'compiled')")
    torch = framework()
    func = torch.func
    compiled = execution == "compiled"
    autograd_leaves = mode == "reverse"  # autograd differentiates with respect to these

    def loss(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = torch.tanh(x @ w1 + b1)
        h = torch.tanh(h @ w2 + b2)
        return 0.5 * torch.mean((h @ w3 + b3 - y) ** 2)

    def update(params, velocity, grads, lr):
        if optimizer == "momentum":
            velocity = tuple(0.9 * m + g for m, g in zip(velocity, grads))
            return tuple(p - lr * m for p, m in zip(params, velocity)), velocity
        return tuple(p - lr * g for p, g in zip(params, grads)), velocity

    def zeros(params):
        return tuple(torch.zeros_like(p) for p in params) if optimizer == "momentum" else ()

    def step(params, velocity, lr, x, y):
        return update(params, velocity, func.grad(loss)(params, x, y), lr)

    if mode == "reverse":
        if compiled:
            step, outer_loss = (torch.compile(g, fullgraph=True, dynamic=False) for g in (step, loss))
        else:
            outer_loss = loss

            def step(params, velocity, lr, x, y):
                grads = torch.autograd.grad(loss(params, x, y), params, create_graph=True)
                return update(params, velocity, grads, lr)

        def fn(params, lr, xv, yv, x, y):
            p, m = params, zeros(params)
            for _ in range(K):
                p, m = step(p, m, lr, x, y)
            *d_init, d_lr = torch.autograd.grad(outer_loss(p, xv, yv), (*params, lr))
            return tuple(d_init), d_lr

    elif not compiled:

        def outer_loss(params, lr, xv, yv, x, y):
            p, m = params, zeros(params)
            for _ in range(K):
                p, m = step(p, m, lr, x, y)
            return loss(p, xv, yv)

        def fn(params, lr, xv, yv, x, y):
            tangent = func.jvp(lambda rate: outer_loss(params, rate, xv, yv, x, y), (lr,), (torch.ones_like(lr),))[1]
            return tangent.to(lr.dtype)  # float64 from 0.5 * mean(...): pytorch/pytorch#160513

    else:

        @torch.compile(fullgraph=True, dynamic=False)
        def step_jvp(p, m, lr, dp, dm, x, y):
            return func.jvp(lambda q, v, rate: step(q, v, rate, x, y), (p, m, lr), (dp, dm, torch.ones_like(lr)))

        @torch.compile(fullgraph=True, dynamic=False)
        def loss_jvp(p, dp, xv, yv):
            return func.jvp(lambda q: loss(q, xv, yv), (p,), (dp,))[1]

        def fn(params, lr, xv, yv, x, y):
            p, m = params, zeros(params)
            dp, dm = tuple(torch.zeros_like(t) for t in p), tuple(torch.zeros_like(t) for t in m)
            for _ in range(K):
                (p, m), (dp, dm) = step_jvp(p, m, lr, dp, dm, x, y)
            return loss_jvp(p, dp, xv, yv).to(lr.dtype)  # pytorch/pytorch#160513

    def tensors(arrays):
        host = unrolled_inputs(arrays, dtype)
        params = tuple(torch.from_numpy(a).requires_grad_(autograd_leaves) for a in host["params"])
        lr = torch.from_numpy(host["lr"]).requires_grad_(autograd_leaves)
        return [params, lr] + [torch.from_numpy(host[name]) for name in ("xv", "yv", "x", "y")]

    args = tensors(arrays)
    if compiled:
        fn(*args)  # compile now, not in the first timed call

    def to_numpy(out):
        if mode == "reverse":
            d_init, d_lr = out
            return {"d_lr": np.asarray(d_lr.detach().numpy()), "d_init": flat(t.detach().numpy() for t in d_init)}
        return {"d_lr": np.asarray(out.detach().numpy())}

    return HandWritten(run=lambda: fn(*args), to_numpy=to_numpy, rerun=lambda other: fn(*tensors(other)))
