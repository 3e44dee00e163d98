"""The chained Rosenbrock function."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench_lib.core.models._base import Model


@dataclass(frozen=True)
class Rosenbrock(Model):
    """Chained Rosenbrock function of n variables.

    f(x) = sum_{i<n-1} 100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2.
    """

    n: int

    block_names = ("x",)
    data_names = ()

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.n,),)

    @property
    def value_terms(self) -> int:
        return self.n

    @property
    def derivative_terms(self) -> int:
        return 3  # each gradient or Hessian entry couples x[i-1], x[i], x[i+1]

    def draw_params(self, rng: np.random.Generator) -> np.ndarray:
        """Around the valley x = 1, where the Hessian is indefinite in places."""
        return rng.uniform(-1.5, 1.5, self.n)

    def draw_data(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {}

    def loss(self, ops):
        def rosenbrock_loss(x):
            head, tail = x[:-1], x[1:]
            return ops.sum(100.0 * ops.square(tail - ops.square(head)) + ops.square(1.0 - head))

        return rosenbrock_loss
