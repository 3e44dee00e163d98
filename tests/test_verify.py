import numpy as np
import pytest

from bench_lib.verification.error_model import Blocks, Bound
from bench_lib.verification.verify import VerificationError, check, elementwise_error
from bench_lib.core.workloads import Expected

TWO_BLOCKS = Blocks(("a", "b"), (slice(0, 1), slice(1, 2)))


def bound(tolerance=1e-4, blocks=TWO_BLOCKS):
    n = len(blocks.slices)
    return Bound(blocks, np.full(n, tolerance), np.zeros(n), np.zeros(n), 1)


def test_elementwise_error_is_relative_for_large_and_absolute_for_small_entries():
    assert elementwise_error([1000.0], [1001.0]) == pytest.approx(1 / 2001)
    assert elementwise_error([1e-6], [2e-6]) == pytest.approx(1e-6)
    assert elementwise_error([0.0, 5.0], [0.0, 5.0]) == 0.0


def test_check_judges_each_block_by_its_normwise_error_and_names_the_worst():
    one = Blocks(("loss",), (slice(None),))
    verdict = check(
        {"loss": np.float32(1.0), "grad": np.array([1.0, 2.0], np.float32)},
        {"loss": Expected(np.array(1.0)), "grad": Expected(np.array([1.0, 2.001]))},
        {"loss": bound(blocks=one), "grad": bound()},
        "float32",
    )
    assert verdict.errors["loss"] == 0.0
    assert verdict.errors["grad"] == pytest.approx(0.001 / 2.001, rel=1e-4)
    assert verdict.worst_blocks["grad"] == "b" and verdict.tolerances["grad"] == 1e-4
    assert not verdict.passed and verdict.margin == pytest.approx(5.0, rel=1e-3)
    assert "block b" in verdict.describe()


def test_a_zero_reference_block_is_judged_by_the_absolute_error():
    verdict = check({"g": np.array([1.0, 1e-9], np.float32)}, {"g": Expected(np.array([1.0, 0.0]))}, {"g": bound()}, "float32")
    assert verdict.passed and verdict.errors["g"] < 1e-8


@pytest.mark.parametrize(
    "outputs,message",
    [
        ({}, "output 'hvp' is missing"),
        ({"hvp": np.zeros(3, np.float32)}, r"shape \(3,\), expected \(2,\)"),
        ({"hvp": np.zeros(2, np.float64)}, "dtype float64, expected float32"),
        ({"hvp": np.array([np.nan, 0], np.float32)}, "non-finite"),
    ],
)
def test_check_names_what_is_wrong(outputs, message):
    with pytest.raises(VerificationError, match=message):
        check(outputs, {"hvp": Expected(np.zeros(2))}, {"hvp": bound()}, "float32")
