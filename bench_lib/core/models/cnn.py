"""A small ConvNet on CIFAR-shaped images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench_lib.core.models._base import Model, one_hot_labels, softmax_cross_entropy

# HWIO kernels and NHWC images to OIHW and NCHW.
_KERNEL_TO_OIHW, _IMAGES_TO_NCHW = (3, 2, 0, 1), (0, 3, 1, 2)


@dataclass(frozen=True)
class CNN(Model):
    """Two 3x3 convolutions, the second with stride 2, tanh after each, global average
    pooling, a dense layer and softmax cross-entropy.

    p = (K1, b1, K2, b2, W3, b3): K1 a (3, 3, channels, c1) and K2 a (3, 3, c1, c2)
    kernel (HWIO), b1 and b2 per channel, W3 a (c2, classes) matrix; flattened in that
    order, row-major.  With conv_s(x, K) the cross-correlation at stride s with one
    pixel of zero padding on each side,
        h1 = tanh(conv_1(x, K1) + b1)          (B, image, image, c1)
        h2 = tanh(conv_2(h1, K2) + b2)         (B, image/2, image/2, c2)
        f(p) = -(1/B) sum_i y_i . log softmax(mean_{u,v} h2[i, u, v, :] W3 + b3)
    for NHWC images x and one-hot labels y.  tanh keeps the second derivatives
    non-zero almost everywhere (a ReLU's vanish).  PyTorch holds the kernels as OIHW and
    the images as NCHW, transposed once when its inputs are placed.
    """

    batch: int
    image: int
    channels: int
    c1: int
    c2: int
    classes: int = 10

    block_names = ("K1", "b1", "K2", "b2", "W3", "b3")
    data_names = ("x", "y")
    operations = ("conv2d", "global_average_pool", "log_softmax")
    channels_first_axes = {"K1": _KERNEL_TO_OIHW, "K2": _KERNEL_TO_OIHW, "x": _IMAGES_TO_NCHW, "xv": _IMAGES_TO_NCHW}

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return (
            (3, 3, self.channels, self.c1), (self.c1,),
            (3, 3, self.c1, self.c2), (self.c2,),
            (self.c2, self.classes), (self.classes,),
        )

    @property
    def value_terms(self) -> int:
        return self.batch * self.classes

    @property
    def derivative_terms(self) -> int:
        """A kernel's gradient sums over the batch and every output pixel."""
        return self.batch * self.image * self.image

    def products(self) -> tuple[tuple[int, str], ...]:
        """Each convolution: the taps that fall inside the image (a padding zero is
        not work), per channel pair; then the dense layer.  Per axis of n pixels, the
        3 taps of every output less those on the padding: 3n - 2 at stride 1, 3n/2 - 1
        at stride 2."""
        n = self.image
        return (
            (self.batch * (3 * n - 2) ** 2 * self.channels * self.c1, "data"),
            (self.batch * (3 * n // 2 - 1) ** 2 * self.c1 * self.c2, "param"),
            (self.batch * self.c2 * self.classes, "param"),
        )

    def draw_data(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "x": rng.standard_normal((self.batch, self.image, self.image, self.channels)),
            "y": one_hot_labels(rng, self.batch, self.classes),
        }

    def loss(self, ops):
        def cnn_loss(params, x, y):
            k1, b1, k2, b2, w3, b3 = params
            h = ops.tanh(ops.conv2d(x, k1, b1, 1))
            h = ops.tanh(ops.conv2d(h, k2, b2, 2))
            return softmax_cross_entropy(ops, ops.global_average_pool(h) @ w3 + b3, y)

        return cnn_loss
