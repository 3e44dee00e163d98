"""The ConvNet and the Transformer block in float64 NumPy, differentiated by HIPS
autograd: a fourth AD system, independent of TensorFlow, JAX and PyTorch, whose
derivatives the tests check against finite differences.

Each network is written here again from its docstring's math (channels_last, a
convolution as nine shifted matrix products), not translated from any framework's
layers.  Gradients are autograd's reverse mode; Hessian-vector products its reverse
over reverse (``hessian_tensor_product``), exact up to float64 rounding.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import grad, hessian_tensor_product
from autograd.scipy.special import erf, logsumexp

from bench_lib.core.models import CNN, LAYER_NORM_EPSILON, Transformer, block_slices


def _blocks(case, params):
    return [params[s].reshape(shape) for s, shape in zip(block_slices(case), case.param_shapes, strict=True)]


def _log_softmax(z):
    return z - logsumexp(z, axis=-1, keepdims=True)


def _cross_entropy(logits, y):
    return -anp.sum(y * _log_softmax(logits)) / y.shape[0]


def _conv(x, kernel, bias, stride):
    """3x3 cross-correlation of NHWC ``x`` with HWIO ``kernel``, one pixel of zero
    padding on every side, then the bias."""
    size = x.shape[1]
    padded = anp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="constant")
    out_size = (size + 2 - 3) // stride + 1
    reach = stride * (out_size - 1) + 1
    out = bias
    for i in range(3):
        for j in range(3):
            patch = padded[:, i : i + reach : stride, j : j + reach : stride, :]
            out = out + anp.tensordot(patch, kernel[i, j], axes=([3], [0]))
    return out


def _cnn_loss(case: CNN, params, x, y):
    k1, b1, k2, b2, w3, b3 = _blocks(case, params)
    h = anp.tanh(_conv(x, k1, b1, 1))
    h = anp.tanh(_conv(h, k2, b2, 2))
    return _cross_entropy(anp.mean(h, axis=(1, 2)) @ w3 + b3, y)


def _layer_norm(z, gain, shift):
    centred = z - anp.mean(z, axis=-1, keepdims=True)
    variance = anp.mean(centred**2, axis=-1, keepdims=True)
    return centred / anp.sqrt(variance + LAYER_NORM_EPSILON) * gain + shift


def _gelu(z):
    return 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))


def _attention(case: Transformer, a, wq, wk, wv):
    batch, tokens, width = a.shape
    heads, d = case.heads, width // case.heads
    q, k, v = ((a @ w).reshape(batch, tokens, heads, d) for w in (wq, wk, wv))
    scores = anp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(d)
    weights = anp.exp(_log_softmax(scores))
    return anp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, tokens, width)


def _transformer_loss(case: Transformer, params, x, y):
    g1, c1, wq, wk, wv, wo, bo, g2, c2, w1, b1, w2, b2, w3, b3 = _blocks(case, params)
    x = x + _attention(case, _layer_norm(x, g1, c1), wq, wk, wv) @ wo + bo
    x = x + _gelu(_layer_norm(x, g2, c2) @ w1 + b1) @ w2 + b2
    return _cross_entropy(anp.mean(x, axis=1) @ w3 + b3, y)


_LOSSES = {CNN: _cnn_loss, Transformer: _transformer_loss}


def _loss_of(case, x, y):
    network = _LOSSES[type(case)]
    return lambda params: network(case, params, x, y)


def loss(case, params, x, y) -> float:
    return float(_loss_of(case, x, y)(params))


def gradient(case, params, x, y) -> np.ndarray:
    return grad(_loss_of(case, x, y))(params)


def hvps(case, params, x, y, directions) -> np.ndarray:
    """H d for each row d of ``directions`` (k, n), by reverse over reverse."""
    product = hessian_tensor_product(_loss_of(case, x, y))
    return np.stack([product(params, direction) for direction in directions])


def hessian(case, params, x, y) -> np.ndarray:
    """The dense Hessian, one exact HVP per unit vector."""
    return hvps(case, params, x, y, np.eye(case.n_params))
