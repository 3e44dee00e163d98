"""The array functions the losses are written in, each spelled by every backend with
its framework's own operation (``tf.nn.conv2d``, ``lax.conv_general_dilated``,
``torch.nn.functional.conv2d``...).

A loss written once over these functions is the same function in every framework;
only the operations that implement it differ, which is what the suite compares.
Every backend provides every field (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# Where a 4-d image tensor keeps its channels: the framework's native layout.  The flat
# parameter vector and the drawn data are channels_last (NHWC images, HWIO kernels);
# a channels_first backend gets them transposed once, when its inputs are placed.
CHANNELS_LAST, CHANNELS_FIRST = "channels_last", "channels_first"
LAYOUTS = (CHANNELS_LAST, CHANNELS_FIRST)

# The operations a framework may run in more than one form; a cell records each form it
# ran as "<operation>_form" (the tidy table's columns of that name).
FORM_OPERATIONS = ("attention", "layer_norm", "gelu", "conv2d")

# One epsilon for every LayerNorm: the frameworks' defaults differ (1e-3 in Keras,
# 1e-5 in PyTorch and Flax).
LAYER_NORM_EPSILON = 1e-5


@dataclass(frozen=True)
class ArrayOps:
    """One framework's spelling of the functions the losses need.

    - ``tanh``, ``square``: elementwise; ``mean``, ``sum``: over every element.
    - ``log_softmax(z)``: over the last axis.
    - ``gelu(x)``: the exact form x * Phi(x) with the error function, never the tanh
      approximation (JAX's default).
    - ``layer_norm(x, gamma, beta)``: over the last axis, variance without Bessel's
      correction, ``LAYER_NORM_EPSILON`` inside the square root.
    - ``conv2d(x, kernel, bias, stride)``: a 3x3 cross-correlation with one pixel of
      zero padding on every side, then the bias per channel, in ``layout``.
    - ``global_average_pool(h)``: the mean over the spatial axes, (batch, channels).
    - ``attention(q, k, v)``: softmax(q k^T / sqrt(d)) v per batch and head, on arrays
      shaped (batch, tokens, heads, d); returns that shape.
    - ``split_heads(x, heads)``: (batch, tokens, heads * d) to (batch, tokens, heads, d),
      and ``merge_heads`` back.
    - ``token_mean(x)``: the mean over tokens, (batch, width).

    ``layout`` is where the framework keeps channels; ``forms`` names the form of each
    operation that it has in more than one (a fused attention kernel or the explicit
    softmax), as the cell records it.
    """

    tanh: Callable
    square: Callable
    mean: Callable
    sum: Callable
    log_softmax: Callable | None = None
    gelu: Callable | None = None
    layer_norm: Callable | None = None
    conv2d: Callable | None = None
    global_average_pool: Callable | None = None
    attention: Callable | None = None
    split_heads: Callable | None = None
    merge_heads: Callable | None = None
    token_mean: Callable | None = None
    layout: str = CHANNELS_LAST
    # operation -> the form this framework runs it in, where it has more than one
    forms: dict[str, str] = field(default_factory=dict)
