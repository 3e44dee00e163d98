"""L2-regularised multinomial logistic regression, the model of influence functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench_lib.core.models._base import Model, one_hot_labels, softmax_cross_entropy


@dataclass(frozen=True)
class LogReg(Model):
    """Multinomial logistic regression with an L2 penalty on the weights.

    p = (W, b), W a (features, classes) matrix, flattened in that order, row-major.
    With one-hot labels y, f(p) = -(1/B) sum_i sum_c y_ic log softmax(x_i W + b)_c
    + (l2 / 2) |W|^2 (the bias is not penalised).  Its Hessian has a closed form: with
    x~_i = (x_i, 1) and P_i = softmax(x_i W + b), H = (1/B) sum_i (x~_i x~_i^T) kron
    (diag(P_i) - P_i P_i^T) + l2 on W's diagonal (reference.py).
    """

    batch: int
    features: int
    classes: int
    l2: float = 1e-2

    block_names = ("W", "b")
    data_names = ("x", "y")
    operations = ("log_softmax",)

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.features, self.classes), (self.classes,))

    @property
    def value_terms(self) -> int:
        return self.batch * self.classes

    @property
    def derivative_terms(self) -> int:
        return max(self.batch, self.features, self.classes)

    def products(self) -> tuple[tuple[int, str], ...]:
        return ((self.batch * self.features * self.classes, "data"),)

    def draw_data(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "x": rng.standard_normal((self.batch, self.features)),
            "y": one_hot_labels(rng, self.batch, self.classes),
        }

    def loss(self, ops):
        l2 = self.l2

        def logreg_loss(params, x, y):
            w, b = params
            return softmax_cross_entropy(ops, x @ w + b, y) + 0.5 * l2 * ops.sum(ops.square(w))

        return logreg_loss
