"""How far a correct answer computed in float32 or float64 may be from the float64
reference: a tolerance per output block, from a model of rounding error.

The error is measured per block of an output (each parameter block of the mlp, the
whole vector for Rosenbrock, the loss on its own; for a Hessian, each pair of
parameter blocks, ``H[W1,W2]``) as a normwise relative error, ``|x_b - y_b| / |y_b|``
in the 2-norm (Frobenius for a matrix block).  A correct computation in a dtype of unit
roundoff u is, to first order, the exact computation at inputs perturbed by about u,
plus the rounding of its own sums.  So the tolerance of block b is

    SAFETY * (u * (sqrt(terms) + kappa_b) + reference_error_b)

- ``kappa_b``: the block's condition number with respect to the inputs, measured by
  re-evaluating the float64 reference at inputs perturbed elementwise by a relative
  2**-24 with random signs.  It captures cancellation,
  such as 1200 x_i**2 - 400 x_{i+1} + 2 in Rosenbrock's Hessian, which no constant does.
- ``sqrt(terms)``: rounding in the longest sum behind an entry (the probabilistic
  bound for a sum of ``terms`` rounded terms); the model case says how long it is.
- ``reference_error_b``: the reference's own error where it is approximate (a finite
  difference), estimated by the distance to a second difference at twice the step.

A wrong answer is off by far more at every size: an output scaled by 1.001 is off by
1e-3 in every block, a zeroed block by 1 and a block of the wrong sign by 2, against
tolerances of about 1e-5 (float32) and 1e-10 (float64); the tests show each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench_lib.core.models import Case, block_slices
from bench_lib.core.workloads import Expected, Workload

UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}
# TF32 keeps float32's exponent and 10 of its 23 mantissa bits in the matmul's operands
# (the products accumulate in float32): operand rounding of 2**-11, the unit roundoff
# the tf32 precision is held to.  A wrong answer off by 1e-3 can pass at tf32, as it can
# at any rounding this coarse; an answer off by a block's scale cannot.
TF32_UNIT_ROUNDOFF = 2.0**-11


def unit_roundoff(dtype: str, precision: str = "strict") -> float:
    """The rounding a correct cell of ``dtype`` and matmul ``precision`` may show."""
    if precision == "tf32" and dtype == "float32":
        return TF32_UNIT_ROUNDOFF
    return UNIT_ROUNDOFF[dtype]
SAFETY = 8.0
PERTURBATION = 2.0**-24
# One draw: a block's normwise response sums over its entries and varies little
# between draws (see docs/methodology.md), and SAFETY covers that.
DRAWS = 1


@dataclass(frozen=True)
class Blocks:
    """How one output is split for verification: names and index expressions (a slice
    of the flat form, or a pair of slices of a matrix)."""

    names: tuple[str, ...]
    slices: tuple


def output_blocks(workload: Workload, case: Case) -> dict[str, Blocks]:
    blocks = {}
    for key, kind in workload.outputs.items():
        if kind == "parameters":
            blocks[key] = Blocks(case.block_names, block_slices(case))
        elif kind == "matrix":
            pairs = [
                (f"H[{row},{column}]", (rows, columns))
                for row, rows in zip(case.block_names, block_slices(case), strict=True)
                for column, columns in zip(case.block_names, block_slices(case), strict=True)
            ]
            blocks[key] = Blocks(tuple(name for name, _ in pairs), tuple(index for _, index in pairs))
        else:
            blocks[key] = Blocks((key,), (slice(None),))
    return blocks


def normwise_errors(actual, expected, blocks: Blocks) -> np.ndarray:
    """|x_b - y_b| / |y_b| per block (the absolute error where |y_b| is zero)."""
    expected = np.asarray(expected, dtype=np.float64)
    shape = expected.shape if expected.ndim == 2 else (-1,)  # a matrix keeps its rows
    actual = np.asarray(actual, dtype=np.float64).reshape(shape)
    expected = expected.reshape(shape)
    errors = []
    for s in blocks.slices:
        scale = np.linalg.norm(expected[s])
        distance = np.linalg.norm(actual[s] - expected[s])
        errors.append(distance / scale if scale > 0 else distance)
    return np.asarray(errors)


def conditioning(workload: Workload, case: Case, arrays, expected: dict[str, Expected], seed: int = 0, reference=None):
    """kappa per output block: the largest normwise relative change of the reference
    (``reference(case, arrays)``, the workload's by default) under a relative input
    perturbation of size PERTURBATION, divided by that size."""
    reference = reference or workload.reference
    blocks = output_blocks(workload, case)
    rng = np.random.default_rng([seed, 2**24])
    kappa = {key: np.zeros(len(b.slices)) for key, b in blocks.items()}
    for _ in range(DRAWS):
        perturbed = {
            name: array * (1.0 + PERTURBATION * rng.choice((-1.0, 1.0), size=array.shape))
            for name, array in arrays.items()
        }
        moved = reference(case, perturbed)
        for key, b in blocks.items():
            change = normwise_errors(moved[key].value, expected[key].value, b) / PERTURBATION
            kappa[key] = np.maximum(kappa[key], change)
    return kappa


@dataclass(frozen=True)
class Bound:
    """The tolerance of each block of one output, and what it is made of."""

    blocks: Blocks
    tolerance: np.ndarray
    kappa: np.ndarray
    reference_error: np.ndarray
    terms: int


def bounds(
    workload: Workload, case: Case, expected: dict[str, Expected], kappa, dtype: str, precision: str = "strict",
) -> dict[str, Bound]:
    u = unit_roundoff(dtype, precision)
    result = {}
    for key, b in output_blocks(workload, case).items():
        if key not in expected:
            continue  # an output the cell's mode omits
        terms = case.value_terms if workload.outputs[key] == "value" else case.derivative_terms
        reference_error = np.zeros(len(b.slices))
        if expected[key].alternative is not None:
            reference_error = normwise_errors(expected[key].alternative, expected[key].value, b)
        tolerance = SAFETY * (u * (np.sqrt(terms) + kappa[key]) + reference_error)
        result[key] = Bound(b, tolerance, kappa[key], reference_error, terms)
    return result
