"""The program a backend builds for a cell, what the backends share to build it, and
the two conversions at the boundary: flat inputs to native structures once, when the
cell is built, and native outputs to flat arrays only when they are copied back."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from bench_lib.core.cells import Cell
from bench_lib.core.models import CHANNELS_LAST, Case, canonical_flat, canonical_matrix, native_blocks, native_data


@dataclass
class Program:
    """One cell, built.  ``fn(*args)`` is one unit of work on the cell's inputs ``args``,
    already on the device in the framework's native structures; ``place(arrays)``
    converts other flat float64 inputs of the same shapes (the fresh-input check calls
    ``fn`` on them).

    ``wait(out)`` blocks until that work has finished; ``to_numpy(out)`` copies the
    outputs back, flat.  ``traces()`` counts how often the callable was traced or
    compiled so far, so that a retrace after warm-up is caught; ``None`` where there is
    nothing to retrace.  ``device_name`` is what the framework calls the device it ran on.
    ``forms`` names the form of an operation that has more than one in this framework
    (the attention: a fused kernel or the explicit softmax), as the cell records it.
    """

    fn: Callable[..., Any]
    args: tuple
    place: Callable[[dict], tuple]
    wait: Callable[[Any], None]
    to_numpy: Callable[[Any], dict[str, np.ndarray]]
    device_name: str
    traces: Callable[[], int] | None = None
    forms: dict[str, str] = field(default_factory=dict)


def builder_for(backend: str, table: dict, cell: Cell) -> Callable:
    """The builder of the cell's (workload, mode); an error, never another computation,
    when the backend has none."""
    key = (cell.workload, cell.mode)
    if key not in table:
        raise LookupError(f"{backend} has no builder for workload {cell.workload!r}, mode {cell.mode!r}")
    return table[key]


def hvp_builder(composition: Callable) -> Callable:
    """A builder of the cell's function from an HVP composition ``composition(fw, f)``
    (which the Hessian strategies reuse as it is)."""

    def build(fw, f, _cell):
        hvp = composition(fw, f)
        return lambda p, v, *data: {"hvp": hvp(p, v, *data)}

    return build


@dataclass(frozen=True)
class RowLoop:
    """What a loop strategy builds: ``row(p, j, *data)``, the HVP with the j-th unit
    vector (``j`` a 0-d integer array).  The backend runs each row in the cell's
    execution (it compiles the row, never the loop, which stays in Python as users
    write it) and stacks the rows with ``hessian_by_rows``."""

    row: Callable


def hessian_by_rows(row_at: Callable[[int], Any], n: int, stack: Callable) -> Any:
    """``row_at(j)`` for j = 0..n-1, stacked into column blocks (one (n, n) array for a
    single parameter vector, else H[:, block] shaped (n, *block shape) per block)."""
    rows = [row_at(j) for j in range(n)]
    if isinstance(rows[0], (list, tuple)):
        return [stack([row[b] for row in rows]) for b in range(len(rows[0]))]
    return stack(rows)


def split_columns(matrix, params, size: Callable, reshape: Callable):
    """The last axis of ``matrix`` (..., n) cut like the parameters ``params``: the
    matrix itself for a single parameter vector, else a tuple (list, for a list of
    parameters) of (..., *block shape) arrays.  With the identity it gives the basis that vmap maps over; with one unit
    vector, one direction in the parameters' structure."""
    if not isinstance(params, (list, tuple)):
        return matrix
    lead, blocks, start = tuple(matrix.shape[:-1]), [], 0
    for block in params:
        stop = start + size(block)
        blocks.append(reshape(matrix[..., start:stop], (*lead, *block.shape)))
        start = stop
    return type(params)(blocks)


def native_inputs(
    cell: Cell, arrays: dict[str, np.ndarray], convert: Callable, container=tuple, layout: str = CHANNELS_LAST
) -> tuple:
    """The cell's arguments in call order: parameter-shaped inputs split into the model's
    native structure (``container`` of blocks, or one array), data as they are; blocks
    and images in the framework's ``layout``, every array cast to the cell's dtype and
    converted with ``convert``."""
    case = cell.case
    parameter_shaped = cell.spec.parameter_shaped
    args = []
    for name in cell.argument_names:
        array = arrays[name].astype(cell.dtype)
        if name not in parameter_shaped:
            args.append(convert(native_data(case, name, array, layout)))
            continue
        structure = native_blocks(case, array, layout)
        if isinstance(structure, np.ndarray):
            args.append(convert(structure))
        else:
            args.append(container(convert(block) for block in structure))
    return tuple(args)


def flat_outputs(cell: Cell, out: dict, to_array: Callable, layout: str = CHANNELS_LAST) -> dict[str, np.ndarray]:
    """The outputs as NumPy, parameter-shaped ones flattened in the flattening order
    (from the blocks as ``layout`` holds them)."""
    result = {}
    for key in cell.spec.outputs_of(cell.mode):
        kind, value = cell.spec.outputs[key], out[key]
        if kind == "parameters":
            blocks = to_array(value) if not isinstance(value, (list, tuple)) else [to_array(b) for b in value]
            result[key] = canonical_flat(cell.case, blocks, layout)
        elif kind == "matrix":
            result[key] = canonical_matrix(cell.case, flat_matrix(cell.case, value, to_array), layout)
        else:
            result[key] = np.asarray(to_array(value))
    return result


def flat_matrix(case: Case, value, to_array: Callable) -> np.ndarray:
    """A Hessian in any of the frameworks' native forms, as one (n, n) array in the flat
    order of the native blocks: an (n, n) array (a single parameter vector); nested blocks H[i][j] shaped block_i + block_j
    (what Jacobian-of-gradient calls return for a tuple of parameters); or column
    blocks H[:, j] shaped (n, *block_j) (vmap and loops over the basis, the Jacobian
    of a flat gradient)."""
    n = case.n_params
    if not isinstance(value, (list, tuple)):
        return np.asarray(to_array(value)).reshape(n, n)
    sizes = [math.prod(shape) for shape in case.param_shapes]
    if isinstance(value[0], (list, tuple)):
        return np.block(
            [
                [np.asarray(to_array(block)).reshape(rows, columns) for block, columns in zip(row, sizes, strict=True)]
                for row, rows in zip(value, sizes, strict=True)
            ]
        )
    return np.concatenate(
        [np.asarray(to_array(block)).reshape(n, columns) for block, columns in zip(value, sizes, strict=True)], axis=1
    )
