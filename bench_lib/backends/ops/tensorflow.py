"""TensorFlow's operations: ``tf.nn.conv2d`` (NHWC, HWIO), ``tf.nn.bias_add``, ``tf.pad``,
``tf.nn.log_softmax``, ``tf.nn.softmax``, ``tf.nn.gelu`` and
``tf.nn.batch_normalization``."""

from __future__ import annotations

import math

from bench_lib.core.cells import Cell
from bench_lib.core.models import CHANNELS_LAST, LAYER_NORM_EPSILON, ArrayOps
from bench_lib.backends.ops import forms_of

# tf.nn.moments (which Keras' LayerNormalization calls) computes the variance around
# stop_gradient(mean): first derivatives are right (that term's gradient is zero), but
# second derivatives lose it, so its HVPs and Hessians are wrong (a test shows it).
# The statistics are therefore written out; the normalisation is TensorFlow's op.
LAYER_NORM_FORM = (
    "tf.nn.batch_normalization over an explicit mean and variance (tf.nn.moments, which Keras' "
    "LayerNormalization uses, stops the mean's gradient inside the variance: its second derivatives are wrong)"
)
# TensorFlow has no fused attention op; Keras' MultiHeadAttention is these einsums.
ATTENTION_FORM = "explicit: tf.einsum, tf.nn.softmax, tf.einsum"
# tf.nn.gelu(approximate=False) is 0.5 x erfc(-x c) with c = 1/sqrt(2) cast from a
# float32 constant (TensorFlow 2.21): in float64 it is off by about 1e-8 relative, so
# float64 cells write it out with a float64 c.
GELU_FORM = "tf.nn.gelu(approximate=False)"
EXPLICIT_GELU_FORM = (
    "explicit: 0.5 x tf.math.erfc(-x / sqrt(2)) (tf.nn.gelu rounds 1/sqrt(2) to float32 whatever the dtype)"
)


# pfor (tape.jacobian's and tf.vectorized_map's vectorisation) drops conv2d's explicit
# paddings when it converts the kernel's gradient, Conv2DBackpropFilter ("explicit_paddings
# attribute must contain 8 values, but got: 0", TensorFlow 2.21; a test shows it): the
# Hessians it vectorises pad the images first and convolve without padding.
CONV_FORM = "tf.nn.conv2d(padding=explicit)"
PADDED_CONV_FORM = (
    "tf.pad, then tf.nn.conv2d(padding='VALID') (pfor loses conv2d's explicit paddings in the kernel's gradient)"
)
PFOR_HESSIANS = ("native", "vmap_hvp")
PADDING = [[0, 0], [1, 1], [1, 1], [0, 0]]


def gelu_form(cell: Cell) -> str:
    return GELU_FORM if cell.dtype == "float32" else EXPLICIT_GELU_FORM


def conv_form(cell: Cell) -> str:
    return PADDED_CONV_FORM if cell.workload == "hessian" and cell.mode in PFOR_HESSIANS else CONV_FORM


def array_ops(tf, cell: Cell) -> ArrayOps:
    def conv2d(x, kernel, bias, stride):
        return tf.nn.bias_add(tf.nn.conv2d(x, kernel, strides=stride, padding=PADDING), bias)

    def padded_conv2d(x, kernel, bias, stride):
        return tf.nn.bias_add(tf.nn.conv2d(tf.pad(x, PADDING), kernel, strides=stride, padding="VALID"), bias)

    def layer_norm(x, gain, shift):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        variance = tf.reduce_mean(tf.square(x - mean), axis=-1, keepdims=True)
        return tf.nn.batch_normalization(x, mean, variance, shift, gain, LAYER_NORM_EPSILON)

    def attention(q, k, v):
        scores = tf.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
        return tf.einsum("bhqk,bkhd->bqhd", tf.nn.softmax(scores, axis=-1), v)

    def explicit_gelu(x):
        return 0.5 * x * tf.math.erfc(-x * tf.constant(1.0 / math.sqrt(2.0), x.dtype))

    def split_heads(x, heads):
        return tf.reshape(x, (-1, x.shape[1], heads, x.shape[2] // heads))

    return ArrayOps(
        tanh=tf.tanh,
        square=tf.square,
        mean=tf.reduce_mean,
        sum=tf.reduce_sum,
        log_softmax=tf.nn.log_softmax,
        gelu=(lambda x: tf.nn.gelu(x, approximate=False)) if gelu_form(cell) == GELU_FORM else explicit_gelu,
        layer_norm=layer_norm,
        conv2d=conv2d if conv_form(cell) == CONV_FORM else padded_conv2d,
        global_average_pool=lambda h: tf.reduce_mean(h, axis=(1, 2)),
        attention=attention,
        split_heads=split_heads,
        merge_heads=lambda x: tf.reshape(x, (-1, x.shape[1], x.shape[2] * x.shape[3])),
        token_mean=lambda x: tf.reduce_mean(x, axis=1),
        layout=CHANNELS_LAST,
        forms=forms_of(
            cell, layer_norm=LAYER_NORM_FORM, attention=ATTENTION_FORM, gelu=gelu_form(cell), conv2d=conv_form(cell)
        ),
    )
