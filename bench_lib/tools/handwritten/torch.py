"""Hand-written PyTorch: autograd on six leaf tensors, and ``torch.func`` compositions;
Hessians by ``torch.func.hessian``, ``jacrev(jacrev)``, the forward-over-reverse HVP
vmapped over the unit vectors, and ``torch.autograd.functional.hessian``.

eager: ``torch.autograd.grad`` for grad and rev_rev (double backward with
``create_graph=True``), ``torch.func`` (jvp of grad, grad of jvp) for fwd_rev and
rev_fwd.  compiled: ``torch.compile(fullgraph=True, dynamic=False)`` of the loss, then
``autograd.grad``, for grad; of the whole ``torch.func`` composition for every HVP
(rev_rev as ``func.grad`` of the dot of ``func.grad`` with v: double backward through
aot_autograd is unsupported).  PyTorch has no graph execution apart from compile.
Compiled rev_fwd in float64 raises NotImplementedError instead of crashing the process
(pytorch/pytorch#197067).  The ConvNet with ``F.conv2d`` on OIHW kernels and NCHW images
(transposed once here, and the gradients back); the Transformer block with
``F.layer_norm``, ``F.gelu`` and ``F.scaled_dot_product_attention`` for the gradient
(for HVPs the explicit softmax attention, and for rev_fwd an explicit LayerNorm: SDPA
has no second-order or forward-mode derivative in torch 2.13, and layer_norm's
reverse-over-forward derivative is wrong, pytorch/pytorch#196700).
"""

from __future__ import annotations

import math

import numpy as np

from bench_lib.backends.torch import framework  # set-up only: the suite's threads and precision
from bench_lib.tools.handwritten import HandWritten, check, flat, flat_hessian, mlp_shapes, numpy_inputs


def build(
    workload: str, mode: str, execution: str, arrays: dict, dtype: str, device: str = "cpu", model: str = "mlp",
    case=None,
) -> HandWritten:
    check(workload, mode, execution, dtype, "torch", model)
    if execution == "graph":
        raise NotImplementedError("torch has no graph execution apart from its compiler (torch.compile: 'compiled')")
    if execution == "compiled" and mode == "rev_fwd" and dtype == "float64":
        raise NotImplementedError(
            "torch 2.13's inductor kernel crashes the process (segmentation fault on a ZeroTensor "
            "in the CPU kernel) for compiled rev_fwd in float64, pytorch/pytorch#197067"
        )
    torch = framework()
    target = torch.device("cuda" if device == "gpu" else "cpu")
    func = torch.func
    compiled = execution == "compiled"

    def loss(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = torch.tanh(x @ w1 + b1)
        h = torch.tanh(h @ w2 + b2)
        return 0.5 * torch.mean((h @ w3 + b3 - y) ** 2)

    if model != "mlp":
        loss = ARCHITECTURES[model](torch, case, workload, mode)
    shapes = case.param_shapes if model != "mlp" else None
    # The ConvNet's kernels (HWIO to OIHW) and images (NHWC to NCHW) in PyTorch's layout
    to_torch = {} if model != "cnn" else {0: (3, 2, 0, 1), 2: (3, 2, 0, 1), "x": (0, 3, 1, 2)}

    # Leaf tensors that autograd differentiates with respect to: grad, and eager rev_rev.
    autograd_leaves = workload == "grad" or (mode == "rev_rev" and not compiled)

    if workload == "grad":
        forward = torch.compile(loss, fullgraph=True, dynamic=False) if compiled else loss

        def fn(params, x, y):
            value = forward(params, x, y)
            grads = torch.autograd.grad(value, params)
            return value.detach(), grads

    elif workload == "hessian":
        if compiled and mode == "autograd_vectorize":
            raise NotImplementedError("torch.compile(fullgraph=True) cannot trace torch.autograd.functional.hessian")
        fn = _hessian(torch, loss, mode)
        if compiled:
            fn = torch.compile(fn, fullgraph=True, dynamic=False)

    elif autograd_leaves:  # eager rev_rev

        def fn(params, v, x, y):
            grads = torch.autograd.grad(loss(params, x, y), params, create_graph=True)
            return torch.autograd.grad(grads, params, grad_outputs=v)

    else:
        if mode == "rev_rev":

            def hvp(params, v, x, y):
                def grad_dot_v(p):
                    return sum(torch.sum(g * t) for g, t in zip(func.grad(loss)(p, x, y), v))

                return func.grad(grad_dot_v)(params)

        elif mode == "fwd_rev":

            def hvp(params, v, x, y):
                return func.jvp(lambda p: func.grad(loss)(p, x, y), (params,), (v,))[1]

        else:  # rev_fwd

            def hvp(params, v, x, y):
                return func.grad(lambda p: func.jvp(lambda q: loss(q, x, y), (p,), (v,))[1])(params)

        fn = torch.compile(hvp, fullgraph=True, dynamic=False) if compiled else hvp

    def layout(blocks):
        return [np.ascontiguousarray(np.transpose(b, to_torch[i])) if i in to_torch else b for i, b in enumerate(blocks)]

    def back(blocks):
        return [np.transpose(b, np.argsort(to_torch[i])) if i in to_torch else b for i, b in enumerate(blocks)]

    def tensors(arrays):
        host = numpy_inputs(workload, arrays, dtype, shapes)
        params = tuple(torch.from_numpy(a).to(target).requires_grad_(autograd_leaves) for a in layout(host["params"]))
        args = [params]
        if workload == "hvp":
            args.append(tuple(torch.from_numpy(a).to(target) for a in layout(host["v"])))
        x = np.ascontiguousarray(np.transpose(host["x"], to_torch["x"])) if "x" in to_torch else host["x"]
        return args + [torch.from_numpy(x).to(target), torch.from_numpy(host["y"]).to(target)]

    args = tensors(arrays)
    if compiled:
        fn(*args)  # compile now, not in the first timed call

    def run():
        out = fn(*args)  # CPU kernels are synchronous: the work is done on return
        if target.type == "cuda":
            torch.cuda.synchronize(target)
        return out

    def rerun(other):
        return fn(*tensors(other))

    def to_numpy(out):
        if workload == "grad":
            value, grads = out
            return {"loss": np.asarray(value.cpu().numpy()), "grad": flat(back([g.detach().cpu().numpy() for g in grads]))}
        if workload == "hessian":
            return {"hessian": flat_hessian(out, mlp_shapes(arrays), lambda t: t.detach().cpu().numpy())}
        return {"hvp": flat(back([t.detach().cpu().numpy() for t in out]))}

    return HandWritten(run=run, to_numpy=to_numpy, rerun=rerun)


def _hessian(torch, loss, mode: str):
    func = torch.func
    if mode == "native":
        return func.hessian(loss)
    if mode == "jacrev_jacrev":
        return func.jacrev(func.jacrev(loss))
    if mode == "autograd_vectorize":
        return lambda params, x, y: torch.autograd.functional.hessian(
            lambda *p: loss(p, x, y), params, vectorize=True
        )

    def vmap_hvp(params, x, y):
        def hvp(v):
            return func.jvp(lambda p: func.grad(loss)(p, x, y), (params,), (v,))[1]

        n = sum(p.numel() for p in params)
        columns = torch.split(torch.eye(n, dtype=params[0].dtype, device=params[0].device), [p.numel() for p in params], dim=1)
        basis = tuple(c.reshape(n, *p.shape) for c, p in zip(columns, params))
        return func.vmap(hvp)(basis)

    return vmap_hvp


def _cnn(torch, case, workload: str, mode: str):
    functional = torch.nn.functional

    def loss(params, x, y):
        k1, b1, k2, b2, w3, b3 = params
        h = torch.tanh(functional.conv2d(x, k1, b1, stride=1, padding=1))
        h = torch.tanh(functional.conv2d(h, k2, b2, stride=2, padding=1))
        logits = h.mean(dim=(2, 3)) @ w3 + b3
        return -(y * functional.log_softmax(logits, dim=-1)).sum(dim=-1).mean()

    return loss


def _transformer(torch, case, workload: str, mode: str):
    functional = torch.nn.functional
    heads = case.heads

    def norm(z, gain, shift):
        if mode != "rev_fwd":
            return functional.layer_norm(z, (z.shape[-1],), gain, shift, 1e-5)
        centred = z - z.mean(dim=-1, keepdim=True)
        return centred * torch.rsqrt(centred.square().mean(dim=-1, keepdim=True) + 1e-5) * gain + shift

    def attention(q, k, v):
        if workload == "grad":
            return functional.scaled_dot_product_attention(q, k, v)
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v

    def loss(params, x, y):
        g1, c1, wq, wk, wv, wo, bo, g2, c2, w1, b1, w2, b2, w3, b3 = params
        batch, tokens, width = x.shape
        a = norm(x, g1, c1)
        q, k, v = ((a @ w).view(batch, tokens, heads, width // heads).transpose(1, 2) for w in (wq, wk, wv))
        x = x + attention(q, k, v).transpose(1, 2).reshape(batch, tokens, width) @ wo + bo
        x = x + functional.gelu(norm(x, g2, c2) @ w1 + b1) @ w2 + b2
        logits = x.mean(dim=1) @ w3 + b3
        return -(y * functional.log_softmax(logits, dim=-1)).sum(dim=-1).mean()

    return loss


ARCHITECTURES = {"cnn": _cnn, "transformer": _transformer}
