import numpy as np
import pytest

from bench_lib.verify import TOLERANCE, VerificationError, check, relative_error


def test_relative_error_is_relative_for_large_and_absolute_for_small_entries():
    assert relative_error([1000.0], [1001.0]) == pytest.approx(1 / 2001)
    assert relative_error([1e-6], [2e-6]) == pytest.approx(1e-6)
    assert relative_error([0.0, 5.0], [0.0, 5.0]) == 0.0


def test_check_reports_the_worst_output():
    verdict = check(
        {"loss": np.float32(1.0), "grad": np.array([1.0, 2.0], np.float32)},
        {"loss": np.array(1.0), "grad": np.array([1.0, 2.001])},
        "float32",
    )
    assert verdict.errors["loss"] == 0.0
    assert verdict.error == pytest.approx(0.001 / 4.001, rel=1e-4)
    assert verdict.tolerance == TOLERANCE["float32"] and not verdict.passed


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
        check(outputs, {"hvp": np.zeros(2)}, "float32")
