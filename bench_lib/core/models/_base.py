"""What every model shares: the size of its parameter vector and how its drawn data
and flat parameters become one framework's native arrays."""

from __future__ import annotations

import math

import numpy as np

from bench_lib.core.models.ops import CHANNELS_FIRST


class Model:
    """A model case.  Subclasses are frozen dataclasses that define ``block_names`` (the
    parameter blocks, in flattening order), ``data_names`` (the data the loss takes
    after the parameters), ``param_shapes``, ``value_terms`` and ``derivative_terms``
    (what the error model needs), ``draw_data`` and ``loss``; ``draw_params`` where
    the dense default does not fit."""

    block_names: tuple[str, ...] = ()
    data_names: tuple[str, ...] = ()
    # Blocks and data held differently by a channels_first framework: name -> the axes
    # that transpose the channels_last array into its layout.
    channels_first_axes: dict = {}
    # The ArrayOps functions the loss uses beyond tanh, square, mean and sum.
    operations: tuple[str, ...] = ()

    def products(self) -> tuple[tuple[int, str], ...]:
        """The loss's matrix products and convolutions, as (multiply-adds, kind): kind
        ``data`` (data times parameters), ``param`` (activations times parameters) or
        ``activations`` (two activations).  What the FLOP counts are built from
        (reporting/flops.py); empty for a model without a count."""
        return ()

    @property
    def n_params(self) -> int:
        return sum(math.prod(shape) for shape in self.param_shapes)

    def draw_params(self, rng: np.random.Generator) -> np.ndarray:
        """Flat float64 parameters: weights with variance 1/fan_in, so that activations
        stay out of saturation and logits are of order one, and small biases
        (``dense_blocks``)."""
        return np.concatenate([block.ravel() for block in dense_blocks(self.param_shapes, rng)])

    def native_axes(self, name: str, layout: str) -> tuple[int, ...] | None:
        """The transpose that takes block or data ``name`` into ``layout``; None when
        it is the same in every layout."""
        return self.channels_first_axes.get(name) if layout == CHANNELS_FIRST else None


def dense_blocks(shapes, rng: np.random.Generator) -> list[np.ndarray]:
    """Weights with variance 1/fan_in (the fan-in is every axis but the last, so a
    HWIO kernel's is 3 * 3 * in) and small biases (1-d blocks)."""
    blocks = []
    for shape in shapes:
        if len(shape) >= 2:
            blocks.append(rng.standard_normal(shape) / np.sqrt(math.prod(shape[:-1])))
        else:
            blocks.append(0.1 * rng.standard_normal(shape))
    return blocks


def one_hot_labels(rng: np.random.Generator, batch: int, classes: int) -> np.ndarray:
    """Random class labels, one-hot: (batch, classes) of zeros and ones."""
    return np.eye(classes)[rng.integers(0, classes, batch)]


def softmax_cross_entropy(ops, logits, labels):
    """The mean over the batch of -sum(labels * log_softmax(logits))."""
    return -ops.sum(labels * ops.log_softmax(logits)) / labels.shape[0]
