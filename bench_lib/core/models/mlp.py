"""The tanh MLP with a mean squared error loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench_lib.core.models._base import Model


@dataclass(frozen=True)
class MLP(Model):
    """Three-layer tanh network with a mean squared error loss.

    p = (W1, b1, W2, b2, W3, b3), each W an (in, out) matrix, flattened in that order,
    row-major.  f(p) = 0.5 * mean((tanh(tanh(x W1 + b1) W2 + b2) W3 + b3 - y)**2), the
    mean taken over batch and outputs.
    """

    batch: int
    n_in: int
    hidden: int
    n_out: int

    block_names = ("W1", "b1", "W2", "b2", "W3", "b3")
    data_names = ("x", "y")

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        h = self.hidden
        return ((self.n_in, h), (h,), (h, h), (h,), (h, self.n_out), (self.n_out,))

    @property
    def value_terms(self) -> int:
        """Terms in the longest sum behind the loss: the mean over batch and outputs."""
        return self.batch * self.n_out

    @property
    def derivative_terms(self) -> int:
        """Terms in the longest sum behind one derivative entry: a contraction over the
        batch (weight gradients) or over a layer's width (backpropagation)."""
        return max(self.batch, self.n_in, self.hidden)

    def products(self) -> tuple[tuple[int, str], ...]:
        b, h = self.batch, self.hidden
        return ((b * self.n_in * h, "data"), (b * h * h, "param"), (b * h * self.n_out, "param"))

    def draw_data(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"x": rng.standard_normal((self.batch, self.n_in)), "y": rng.standard_normal((self.batch, self.n_out))}

    def loss(self, ops):
        def mlp_loss(params, x, y):
            w1, b1, w2, b2, w3, b3 = params
            h = ops.tanh(x @ w1 + b1)
            h = ops.tanh(h @ w2 + b2)
            # square, not r * r: torch's forward-over-reverse is slower with r * r
            # (see docs/design.md)
            return 0.5 * ops.mean(ops.square(h @ w3 + b3 - y))

        return mlp_loss
