"""PyTorch's operations, from ``torch.nn.functional``: ``conv2d`` (NCHW, OIHW),
``log_softmax``, ``gelu``, ``layer_norm`` and ``scaled_dot_product_attention`` where
it has the derivatives the cell needs."""

from __future__ import annotations

import math

from bench_lib.core.cells import Cell
from bench_lib.core.models import CHANNELS_FIRST, LAYER_NORM_EPSILON, ArrayOps
from bench_lib.backends.ops import forms_of

FUSED_ATTENTION = "torch.nn.functional.scaled_dot_product_attention"
# torch 2.13's SDPA kernel (on the CPU, _scaled_dot_product_flash_attention_for_cpu) has
# a backward but no derivative of that backward and no forward-mode derivative: "derivative
# for aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented",
# "Trying to use forward AD with _scaled_dot_product_flash_attention_for_cpu that does
# not support it" (a test shows both).  Only the gradient runs fused.
EXPLICIT_ATTENTION = (
    "explicit: torch.matmul, torch.softmax, torch.matmul (scaled_dot_product_attention has no second-order "
    "or forward-mode derivative in torch 2.13)"
)
FIRST_ORDER_WORKLOADS = ("grad",)

LAYER_NORM = "torch.nn.functional.layer_norm"
# The reverse-mode derivative of layer_norm's forward-mode derivative is wrong with
# respect to the input in torch 2.13 (a test shows it; pytorch/pytorch#196700 reports
# the nested JVP): reverse-over-forward cells write the statistics out.
EXPLICIT_LAYER_NORM = (
    "explicit: torch.mean, torch.rsqrt (the gradient of layer_norm's JVP is wrong in torch 2.13, "
    "pytorch/pytorch#196700)"
)
# torch.func's jacrev vmaps layer_norm's backward over the cotangents, and the second
# derivatives that follow from it are wrong in torch 2.13: the (gain, input weight) block
# of torch.func.hessian and jacrev(jacrev) is about 20% off (a test shows it; functorch#534
# reports layer_norm's backward batching rule).  A vmap of forward-over-reverse HVPs and
# torch.autograd.functional.hessian are right.
VMAPPED_BACKWARD_LAYER_NORM = (
    "explicit: torch.mean, torch.rsqrt (torch.func.jacrev's vmap of layer_norm's backward gives wrong second "
    "derivatives in torch 2.13)"
)
VMAPPED_BACKWARD_HESSIANS = ("native", "jacrev_jacrev")


def layer_norm_form(cell: Cell) -> str:
    if cell.mode == "rev_fwd":
        return EXPLICIT_LAYER_NORM
    if cell.workload == "hessian" and cell.mode in VMAPPED_BACKWARD_HESSIANS:
        return VMAPPED_BACKWARD_LAYER_NORM
    return LAYER_NORM


def attention_form(cell: Cell) -> str:
    """SDPA where the cell needs first derivatives only; the explicit form elsewhere."""
    return FUSED_ATTENTION if cell.workload in FIRST_ORDER_WORKLOADS else EXPLICIT_ATTENTION


def array_ops(torch, cell: Cell) -> ArrayOps:
    functional = torch.nn.functional
    form = attention_form(cell)

    def conv2d(x, kernel, bias, stride):
        return functional.conv2d(x, kernel, bias, stride=stride, padding=1)

    def layer_norm(x, gain, shift):
        return functional.layer_norm(x, (x.shape[-1],), gain, shift, LAYER_NORM_EPSILON)

    def explicit_layer_norm(x, gain, shift):
        centred = x - x.mean(dim=-1, keepdim=True)
        variance = centred.square().mean(dim=-1, keepdim=True)
        return centred * torch.rsqrt(variance + LAYER_NORM_EPSILON) * gain + shift

    def fused_attention(q, k, v):
        # SDPA takes (batch, heads, tokens, d): the transposes are views
        out = functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return out.transpose(1, 2)

    def explicit_attention(q, k, v):
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        return (weights @ v).transpose(1, 2)

    return ArrayOps(
        tanh=torch.tanh,
        square=torch.square,
        mean=torch.mean,
        sum=torch.sum,
        log_softmax=lambda z: functional.log_softmax(z, dim=-1),
        gelu=functional.gelu,  # approximate="none", the exact form, is the default
        layer_norm=layer_norm if layer_norm_form(cell) == LAYER_NORM else explicit_layer_norm,
        conv2d=conv2d,
        global_average_pool=lambda h: h.mean(dim=(2, 3)),
        attention=fused_attention if form == FUSED_ATTENTION else explicit_attention,
        split_heads=lambda x, heads: x.unflatten(-1, (heads, x.shape[-1] // heads)),
        merge_heads=lambda x: x.flatten(2),
        token_mean=lambda x: x.mean(dim=1),
        layout=CHANNELS_FIRST,
        forms=forms_of(cell, layer_norm=layer_norm_form(cell), attention=form),
    )
