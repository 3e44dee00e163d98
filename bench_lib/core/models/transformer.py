"""One pre-LayerNorm Transformer encoder block on given token embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench_lib.core.models._base import Model, dense_blocks, one_hot_labels, softmax_cross_entropy


@dataclass(frozen=True)
class Transformer(Model):
    """A pre-LayerNorm encoder block, mean pooling, a linear layer and softmax
    cross-entropy.

    p = (g1, c1, Wq, Wk, Wv, Wo, bo, g2, c2, W1, b1, W2, b2, W3, b3), flattened in that
    order, row-major; every W an (in, out) matrix.  For embeddings x (B, T, d) and
    one-hot labels y,
        a  = LN(x; g1, c1)
        x' = x + MHA(a) Wo + bo,  MHA(a) = concat_j softmax(Q_j K_j^T / sqrt(d/h)) V_j
             with Q = a Wq, K = a Wk, V = a Wv split into h heads of width d/h
        x" = x' + GELU(LN(x'; g2, c2) W1 + b1) W2 + b2
        f(p) = -(1/B) sum_i y_i . log softmax(mean_t x"[i, t, :] W3 + b3)
    LN(z; g, c) = (z - mean(z)) / sqrt(var(z) + 1e-5) * g + c over the last axis, and
    GELU(z) = z Phi(z), the exact form.
    """

    batch: int
    tokens: int
    width: int
    heads: int
    hidden: int
    classes: int = 10

    block_names = ("g1", "c1", "Wq", "Wk", "Wv", "Wo", "bo", "g2", "c2", "W1", "b1", "W2", "b2", "W3", "b3")
    data_names = ("x", "y")
    operations = ("layer_norm", "split_heads", "attention", "merge_heads", "gelu", "token_mean", "log_softmax")

    def __post_init__(self):
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of {self.heads} heads")

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        d, m = self.width, self.hidden
        return (
            (d,), (d,), (d, d), (d, d), (d, d), (d, d), (d,),
            (d,), (d,), (d, m), (m,), (m, d), (d,), (d, self.classes), (self.classes,),
        )

    @property
    def value_terms(self) -> int:
        return self.batch * self.classes

    @property
    def derivative_terms(self) -> int:
        """A weight's gradient sums over every token of the batch."""
        return max(self.batch * self.tokens, self.hidden)

    def products(self) -> tuple[tuple[int, str], ...]:
        """Q, K, V and the output projection; the scores Q K^T and the weighted sum of V
        (over every head: tokens^2 * width each); the MLP's two layers; the head."""
        tokens = self.batch * self.tokens
        d, m = self.width, self.hidden
        return (
            *((tokens * d * d, "param") for _ in range(4)),
            (tokens * self.tokens * d, "activations"),
            (tokens * self.tokens * d, "activations"),
            (tokens * d * m, "param"),
            (tokens * m * d, "param"),
            (self.batch * d * self.classes, "param"),
        )

    def draw_params(self, rng: np.random.Generator) -> np.ndarray:
        """Weights with variance 1/fan_in, small biases, LayerNorm gains near one."""
        blocks = dense_blocks(self.param_shapes, rng)
        for gain in (self.block_names.index("g1"), self.block_names.index("g2")):
            blocks[gain] = blocks[gain] + 1.0
        return np.concatenate([b.ravel() for b in blocks])

    def draw_data(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "x": rng.standard_normal((self.batch, self.tokens, self.width)),
            "y": one_hot_labels(rng, self.batch, self.classes),
        }

    def loss(self, ops):
        heads = self.heads

        def transformer_loss(params, x, y):
            g1, c1, wq, wk, wv, wo, bo, g2, c2, w1, b1, w2, b2, w3, b3 = params
            a = ops.layer_norm(x, g1, c1)
            q, k, v = (ops.split_heads(a @ w, heads) for w in (wq, wk, wv))
            x = x + ops.merge_heads(ops.attention(q, k, v)) @ wo + bo
            x = x + ops.gelu(ops.layer_norm(x, g2, c2) @ w1 + b1) @ w2 + b2
            return softmax_cross_entropy(ops, ops.token_mean(x) @ w3 + b3, y)

        return transformer_loss
