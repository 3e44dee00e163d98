"""The ConvNet and the Transformer block in float64 NumPy, differentiated by HIPS
autograd: a fourth AD system, independent of TensorFlow, JAX and PyTorch, whose
derivatives the tests check against finite differences.

Each network is written here again from its docstring's math (channels_last, a
convolution as one product of nine shifted images with the kernel), not translated
from any framework's layers.  Gradients are autograd's reverse mode; Hessian-vector products its reverse
over reverse, exact up to float64 rounding.

Every function takes a stack of ``copies`` parameter vectors, shape (copies, n), and
returns one loss per copy: the gradient of their sum is every copy's gradient, so
reverse over reverse along one direction per copy gives a batch of HVPs in one pass
of array operations (autograd has no vmap; the dense Hessian of the block takes 25 s
one HVP per call, 4 s in batches).
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import grad
from autograd.scipy.special import erf, logsumexp

from bench_lib.core.models import CNN, LAYER_NORM_EPSILON, Transformer, block_slices

# Parameter copies per batch of HVPs: bounds the activations held at once (autograd
# keeps about 5 MB per copy of cnn XS) whatever n is; more copies per batch are no
# faster, the work being NumPy's, not Python's.
COPIES = 16


def _blocks(case, stack):
    """Each parameter block with the copies first: (copies, *shape)."""
    copies = stack.shape[0]
    return [stack[:, s].reshape(copies, *shape) for s, shape in zip(block_slices(case), case.param_shapes, strict=True)]


def _per_copy(vector):
    """A (copies, m) block broadcast against (copies, batch, ..., m) activations."""
    return vector[:, None, None, :]


def _log_softmax(z):
    return z - logsumexp(z, axis=-1, keepdims=True)


def _cross_entropy(logits, y):
    """Per copy: logits (copies, batch, classes)."""
    return -anp.sum(y * _log_softmax(logits), axis=(1, 2)) / y.shape[0]


def _conv(x, kernel, bias, stride):
    """3x3 cross-correlation of NHWC ``x`` (with the copies first, or one copy shared by
    all) with HWIO ``kernel`` (copies first), one pixel of zero padding on every side,
    then the bias: the nine shifted images side by side along the channels, times the
    kernel as a (9 channels, outputs) matrix (one large product per copy; nine small
    ones are several times slower in NumPy)."""
    copies, batch, size, _, channels = x.shape
    padded = anp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)), mode="constant")
    out_size = (size + 2 - 3) // stride + 1
    reach = stride * (out_size - 1) + 1
    patches = anp.concatenate(
        [padded[:, :, i : i + reach : stride, j : j + reach : stride, :] for i in range(3) for j in range(3)], axis=-1
    )
    rows = patches.reshape(copies, batch * out_size * out_size, 9 * channels)
    out = rows @ kernel.reshape(kernel.shape[0], 9 * channels, kernel.shape[-1])
    return out.reshape(-1, batch, out_size, out_size, kernel.shape[-1]) + bias[:, None, None, None, :]


def _cnn_losses(case: CNN, stack, x, y):
    k1, b1, k2, b2, w3, b3 = _blocks(case, stack)
    h = anp.tanh(_conv(x[None], k1, b1, 1))
    h = anp.tanh(_conv(h, k2, b2, 2))
    return _cross_entropy(anp.mean(h, axis=(2, 3)) @ w3 + b3[:, None, :], y)


def _layer_norm(z, gain, shift):
    centred = z - anp.mean(z, axis=-1, keepdims=True)
    variance = anp.mean(centred**2, axis=-1, keepdims=True)
    return centred / anp.sqrt(variance + LAYER_NORM_EPSILON) * _per_copy(gain) + _per_copy(shift)


def _gelu(z):
    return 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))


def _attention(case: Transformer, a, wq, wk, wv):
    copies, batch, tokens, width = a.shape
    heads, d = case.heads, width // case.heads
    q, k, v = ((a @ w[:, None]).reshape(copies, batch, tokens, heads, d) for w in (wq, wk, wv))
    scores = anp.einsum("cbqhd,cbshd->cbhqs", q, k) / np.sqrt(d)
    weights = anp.exp(_log_softmax(scores))
    return anp.einsum("cbhqs,cbshd->cbqhd", weights, v).reshape(copies, batch, tokens, width)


def _transformer_losses(case: Transformer, stack, x, y):
    g1, c1, wq, wk, wv, wo, bo, g2, c2, w1, b1, w2, b2, w3, b3 = _blocks(case, stack)
    a = _layer_norm(x[None], g1, c1)
    x = x[None] + _attention(case, a, wq, wk, wv) @ wo[:, None] + _per_copy(bo)
    x = x + _gelu(_layer_norm(x, g2, c2) @ w1[:, None] + _per_copy(b1)) @ w2[:, None] + _per_copy(b2)
    return _cross_entropy(anp.mean(x, axis=2) @ w3 + b3[:, None, :], y)


_LOSSES = {CNN: _cnn_losses, Transformer: _transformer_losses}


def _total_loss(case, x, y):
    """The sum of the copies' losses, a function of the (copies, n) stack."""
    network = _LOSSES[type(case)]
    return lambda stack: anp.sum(network(case, stack, x, y))


def loss(case, params, x, y) -> float:
    return float(_total_loss(case, x, y)(params[None]))


def gradient(case, params, x, y) -> np.ndarray:
    return grad(_total_loss(case, x, y))(params[None])[0]


def hvps(case, params, x, y, directions) -> np.ndarray:
    """H d for each row d of ``directions`` (k, n), by reverse over reverse: the
    gradient of <g(p_i), d_i> summed over copies p_i = p, in batches of COPIES."""
    gradients = grad(_total_loss(case, x, y))
    product = grad(lambda stack, batch: anp.sum(gradients(stack) * batch))
    rows = []
    for start in range(0, len(directions), COPIES):
        batch = directions[start : start + COPIES]
        rows.append(product(np.tile(params, (len(batch), 1)), batch))
    return np.concatenate(rows) if rows else np.zeros((0, params.size))


def hessian(case, params, x, y) -> np.ndarray:
    """The dense Hessian, one exact HVP per unit vector."""
    return hvps(case, params, x, y, np.eye(case.n_params))
