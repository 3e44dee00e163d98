"""JAX's operations: ``lax.conv_general_dilated`` (NHWC, HWIO, as Flax holds them),
``jax.nn.log_softmax``, ``jax.nn.gelu(approximate=False)``, ``jax.nn.standardize``
and ``jax.nn.dot_product_attention``."""

from __future__ import annotations

import math
from functools import partial

from bench_lib.core.cells import Cell
from bench_lib.core.models import CHANNELS_LAST, LAYER_NORM_EPSILON, ArrayOps
from bench_lib.backends.ops import forms_of

# implementation=None lets JAX choose; on the CPU that is its XLA composition, which
# every transformation differentiates.  But it computes the softmax in float32 whatever
# the inputs' dtype (JAX 0.10: "Softmax is always computed in float32"), so a float64
# cell would be a float32 computation: float64 cells run the explicit form.
FUSED_ATTENTION = "jax.nn.dot_product_attention"
EXPLICIT_ATTENTION = (
    "explicit: jnp.einsum, jax.nn.softmax, jnp.einsum (jax.nn.dot_product_attention computes its softmax "
    "in float32 whatever the dtype)"
)
LAYER_NORM_FORM = "jax.nn.standardize"
# JAX 0.10.2 compiles reverse over reverse vmapped over 64 or more cotangents through
# LayerNorm's statistics wrongly in float32 on the CPU (a test shows it), and
# jax.nn.standardize is a jitted function: eager jacrev_jacrev Hessians, op by op, write
# the statistics out (the compiled ones are a skip in the support table).
EXPLICIT_LAYER_NORM = (
    "explicit: jnp.mean, jax.lax.rsqrt (JAX 0.10.2 compiles the jitted jax.nn.standardize wrongly under a wide "
    "vmap of reverse over reverse in float32)"
)


def attention_form(cell: Cell) -> str:
    return FUSED_ATTENTION if cell.dtype == "float32" else EXPLICIT_ATTENTION


def layer_norm_form(cell: Cell) -> str:
    wide_reverse_over_reverse = cell.workload == "hessian" and cell.mode == "jacrev_jacrev"
    return EXPLICIT_LAYER_NORM if wide_reverse_over_reverse and cell.dtype == "float32" else LAYER_NORM_FORM


def array_ops(jax, cell: Cell) -> ArrayOps:
    jnp = jax.numpy
    dimensions = ("NHWC", "HWIO", "NHWC")

    def conv2d(x, kernel, bias, stride):
        out = jax.lax.conv_general_dilated(
            x, kernel, window_strides=(stride, stride), padding=((1, 1), (1, 1)), dimension_numbers=dimensions
        )
        return out + bias

    def layer_norm(x, gain, shift):
        return jax.nn.standardize(x, axis=-1, epsilon=LAYER_NORM_EPSILON) * gain + shift

    def explicit_layer_norm(x, gain, shift):
        centred = x - jnp.mean(x, axis=-1, keepdims=True)
        variance = jnp.mean(jnp.square(centred), axis=-1, keepdims=True)
        return centred * jax.lax.rsqrt(variance + LAYER_NORM_EPSILON) * gain + shift

    def explicit_attention(q, k, v):
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
        return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, axis=-1), v)

    form = attention_form(cell)

    return ArrayOps(
        tanh=jnp.tanh,
        square=jnp.square,
        mean=jnp.mean,
        sum=jnp.sum,
        log_softmax=jax.nn.log_softmax,
        gelu=partial(jax.nn.gelu, approximate=False),
        layer_norm=layer_norm if layer_norm_form(cell) == LAYER_NORM_FORM else explicit_layer_norm,
        conv2d=conv2d,
        global_average_pool=lambda h: jnp.mean(h, axis=(1, 2)),
        attention=jax.nn.dot_product_attention if form == FUSED_ATTENTION else explicit_attention,
        split_heads=lambda x, heads: x.reshape(*x.shape[:2], heads, x.shape[2] // heads),
        merge_heads=lambda x: x.reshape(*x.shape[:2], -1),
        token_mean=lambda x: jnp.mean(x, axis=1),
        layout=CHANNELS_LAST,
        forms=forms_of(cell, layer_norm=layer_norm_form(cell), attention=form),
    )
