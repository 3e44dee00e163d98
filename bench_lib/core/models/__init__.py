"""The models every workload differentiates: specs, cases, native parameter structures
and the loss, written once for every framework.

A case is one (model, size).  Its parameters have a *native structure*, the one the
framework's users hold: six arrays (W1, b1, W2, b2, W3, b3) for the mlp, one vector for
Rosenbrock, HWIO kernels for TensorFlow and JAX and OIHW kernels for PyTorch.  The flat
float64 vector is the public contract at the boundary only (``inputs()`` and
``compute()``): a backend splits it once when a cell is built (``native_blocks``) and
flattens outputs only when they are copied back (``canonical_flat``,
``canonical_matrix``).  Cases are only ever appended: changing a case changes history.

One module per model (its math in the class docstring); ``ops.ArrayOps`` holds the
array functions the losses are written in.
"""

from __future__ import annotations

import math

import numpy as np

from bench_lib.core.models.cnn import CNN
from bench_lib.core.models.logreg import LogReg
from bench_lib.core.models.mlp import MLP
from bench_lib.core.models.ops import (
    CHANNELS_FIRST, CHANNELS_LAST, FORM_OPERATIONS, LAYER_NORM_EPSILON, LAYOUTS, ArrayOps,
)
from bench_lib.core.models.rosenbrock import Rosenbrock
from bench_lib.core.models.transformer import Transformer

Case = MLP | Rosenbrock | LogReg | CNN | Transformer
MODEL_TYPES = {"mlp": MLP, "rosenbrock": Rosenbrock, "logreg": LogReg, "cnn": CNN, "transformer": Transformer}
MODELS = tuple(MODEL_TYPES)

# Every case of every model.  Which of them a workload runs is the workload's choice.
CASES: dict[str, dict] = {
    "mlp": {
        "S": MLP(batch=128, n_in=64, hidden=64, n_out=10),
        "M": MLP(batch=256, n_in=512, hidden=1024, n_out=10),
        "L": MLP(batch=1024, n_in=1024, hidden=4096, n_out=10),
        # Small enough for dense Hessians: n = 586 and n = 2,442.
        "XXS": MLP(batch=64, n_in=8, hidden=16, n_out=10),
        "XS": MLP(batch=128, n_in=32, hidden=32, n_out=10),
    },
    "rosenbrock": {n: Rosenbrock(n) for n in (10**3, 10**5, 10**6, 100, 4000)},
    # Sized by n = (features + 1) * classes: 100, 1,000, 4,000 and 100,000.
    "logreg": {
        (features + 1) * 10: LogReg(batch=256, features=features, classes=10) for features in (9, 99, 399, 9999)
    },
    "cnn": {
        "S": CNN(batch=32, image=32, channels=3, c1=16, c2=32),  # n = 5,418
        "M": CNN(batch=128, image=32, channels=3, c1=32, c2=64),  # n = 20,042
        "L": CNN(batch=128, image=32, channels=3, c1=128, c2=256),  # n = 301,322: the GPU's
        "XS": CNN(batch=4, image=32, channels=3, c1=8, c2=16),  # n = 1,562: dense Hessians
    },
    "transformer": {
        "S": Transformer(batch=16, tokens=32, width=64, heads=4, hidden=256),  # n = 50,442
        "M": Transformer(batch=32, tokens=64, width=128, heads=4, hidden=512),  # n = 199,178
        "L": Transformer(batch=32, tokens=256, width=512, heads=8, hidden=2048),  # n = 3,155,978: the GPU's
        "XS": Transformer(batch=8, tokens=8, width=16, heads=2, hidden=32),  # n = 2,346: dense Hessians
    },
}


def spec(model: str, size) -> Case:
    """The spec of one (model, size) case; a clear ValueError for anything else."""
    table = CASES.get(model)
    if table is None:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    if size not in table:
        raise ValueError(f"unknown size {size!r} for model {model!r}; expected one of {tuple(table)}")
    return table[size]


def size_from_text(model: str, text: str):
    """A size as the tables and asv write it (text) as the case table's key: the models
    sized by n have int sizes."""
    return int(text) if all(isinstance(key, int) for key in CASES[model]) else text


def data_names(model: str) -> tuple[str, ...]:
    """The data a model's loss takes after the parameters, in call order."""
    return MODEL_TYPES[model].data_names


def draw_params(case: Case, rng: np.random.Generator) -> np.ndarray:
    """Flat float64 parameters, drawn as the model's docstring says."""
    return case.draw_params(rng)


def draw_data(case: Case, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The data the loss takes besides the parameters: a batch (x, y), or nothing."""
    return case.draw_data(rng)


def block_slices(case: Case) -> tuple[slice, ...]:
    """Where each parameter block sits in the flat vector."""
    slices, start = [], 0
    for shape in case.param_shapes:
        size = math.prod(shape)
        slices.append(slice(start, start + size))
        start += size
    return tuple(slices)


def split(case: Case, flat: np.ndarray):
    """The blocks of a flat parameter-shaped vector, in NumPy: a tuple of arrays in the
    canonical (channels_last) shapes, or the Rosenbrock vector itself."""
    if isinstance(case, Rosenbrock):
        return flat
    return tuple(flat[s].reshape(shape) for s, shape in zip(block_slices(case), case.param_shapes, strict=True))


def flatten(blocks) -> np.ndarray:
    """The inverse of ``split`` for NumPy arrays: one array, or a sequence of blocks."""
    if isinstance(blocks, np.ndarray):
        return blocks.reshape(-1)
    return np.concatenate([np.asarray(b).reshape(-1) for b in blocks])


def native_blocks(case: Case, flat: np.ndarray, layout: str = CHANNELS_LAST):
    """``split``, each block then transposed into ``layout`` (contiguous)."""
    structure = split(case, flat)
    if isinstance(structure, np.ndarray):
        return structure
    return tuple(_to_layout(case, name, block, layout) for name, block in zip(case.block_names, structure, strict=True))


def native_data(case: Case, name: str, array: np.ndarray, layout: str = CHANNELS_LAST) -> np.ndarray:
    """A data array (images, labels; a 0-d learning rate stays 0-d) in ``layout``."""
    return _to_layout(case, name, array, layout)


def canonical_flat(case: Case, blocks, layout: str = CHANNELS_LAST) -> np.ndarray:
    """The flat vector, in the flattening order, of blocks held in ``layout``."""
    if isinstance(blocks, np.ndarray):
        return blocks.reshape(-1)
    back = []
    for name, block in zip(case.block_names, blocks, strict=True):
        axes = case.native_axes(name, layout)
        back.append(np.asarray(block) if axes is None else np.transpose(block, np.argsort(axes)))
    return flatten(back)


def canonical_matrix(case: Case, matrix: np.ndarray, layout: str = CHANNELS_LAST) -> np.ndarray:
    """An (n, n) matrix whose rows and columns follow the flat order of the blocks as
    ``layout`` holds them, in the flattening order."""
    order = _native_order(case, layout)
    if order is None:
        return matrix
    where = np.argsort(order)
    return matrix[np.ix_(where, where)]


def _to_layout(case: Case, name: str, array: np.ndarray, layout: str) -> np.ndarray:
    """The array itself where ``layout`` holds it as it is (a split block is already a
    contiguous view), else a contiguous transposed copy."""
    axes = case.native_axes(name, layout)
    return array if axes is None else np.ascontiguousarray(np.transpose(array, axes))


def _native_order(case: Case, layout: str) -> np.ndarray | None:
    """The flat indices in native order: native_flat = flat[order]; None when the same."""
    if all(case.native_axes(name, layout) is None for name in case.block_names):
        return None
    indices = native_blocks(case, np.arange(case.n_params, dtype=np.float64), layout)
    return np.concatenate([block.reshape(-1) for block in indices]).astype(np.int64)


def loss_function(case: Case, ops: ArrayOps):
    """The loss of ``case`` written once for every framework: ``f(params, *data)`` with
    ``params`` in the native structure (a tuple of blocks, or one vector).

    Backends differ only in ``ops``, so that no backend can compute another function.
    """
    return case.loss(ops)


__all__ = [
    "ArrayOps", "CASES", "CHANNELS_FIRST", "CHANNELS_LAST", "CNN", "Case", "FORM_OPERATIONS", "LAYER_NORM_EPSILON", "LAYOUTS",
    "LogReg", "MLP", "MODELS", "MODEL_TYPES", "Rosenbrock", "Transformer", "block_slices", "canonical_flat",
    "canonical_matrix", "data_names", "draw_data", "draw_params", "flatten", "loss_function", "native_blocks",
    "native_data", "size_from_text", "spec", "split",
]
