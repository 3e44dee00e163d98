"""The error model: tolerances that hold for correct float32/float64 answers at every
size, and still fail a wrong answer (scaled by 1.001, a zeroed block, a block of the
wrong sign) at every size."""

import numpy as np
import pytest

from bench_lib.verification import prepare as api, error_model, verify
from bench_lib import inputs
from bench_lib.core import reference, workloads
from bench_lib.core.models import block_slices, spec
from bench_lib.verification.verify import VerificationError, check, elementwise_error

DTYPES = ("float32", "float64")
# dense reference Hessians that take seconds (mlp S: half a minute)
SLOW_HESSIANS = {("mlp", "XS"), ("mlp", "S"), ("rosenbrock", 4000)}
# `pytest -m heavy`: sizes only the gpu preset runs (its reference is computed on the CPU
# in half a minute, 51 s for both on 2 cores), logistic regression's Hessian at
# n = 4,000 (10 s; n = 1,000 runs the same code) and the ConvNet's unrolled reference
# (11 s: ten autograd HVPs; the mlp's runs the same error model) and the architectures'
# dense Hessians (16 s and 8 s; the mlp's runs the same error model)
HEAVY_CASES = {
    ("hessian", "mlp", "S"), ("unrolled", "mlp", "M"), ("hessian", "logreg", 4000), ("unrolled", "cnn", "S"),
    ("hessian", "cnn", "XS"), ("hessian", "transformer", "XS"),
}
# References of seconds (M sizes) and of minutes (the GPU sizes, `pytest -m heavy`)
HEAVY = [pytest.mark.slow, pytest.mark.heavy]
# (the architectures' M sizes, logistic regression at 10^5: their S and XS sizes run the
# same code in less than a second)
LARGE = {
    ("mlp", "L"): HEAVY, ("cnn", "L"): HEAVY, ("transformer", "L"): HEAVY, ("cnn", "M"): HEAVY,
    ("transformer", "M"): HEAVY, ("logreg", 10**5): HEAVY, ("mlp", "M"): [pytest.mark.slow],
}


def every_case():
    for name, workload in workloads.REGISTRY.items():
        for model, sizes in workload.sizes.items():
            for size in sizes:
                # mlp L's reference takes minutes on 2 cores: opt in with `pytest -m heavy`
                marks = LARGE.get((model, size), [])
                if name == "hessian" and (model, size) in SLOW_HESSIANS:
                    marks = [pytest.mark.slow]
                if (name, model, size) in HEAVY_CASES:
                    marks = [pytest.mark.slow, pytest.mark.heavy]
                yield pytest.param(name, model, size, marks=marks, id=f"{name}-{model}-{size}")


def bounds_of(name, model, size, dtype):
    # every argument, as conditioning() asks for the reference: one computation, cached
    expected = verify.reference_outputs(name, model, size, 0, (), None)
    kappa = verify.conditioning(name, model, size, 0, (), None)
    workload = workloads.get(name)
    return expected, error_model.bounds(workload, spec(model, size), expected, kappa, dtype)


def verdict(outputs, expected, bounds, dtype):
    return check({k: np.asarray(v).astype(dtype) for k, v in outputs.items()}, expected, bounds, dtype)


@pytest.mark.parametrize("name,model,size", list(every_case()))
def test_wrong_answers_fail_at_every_size(name, model, size):
    for dtype in DTYPES:
        expected, bounds = bounds_of(name, model, size, dtype)
        right = {key: e.value for key, e in expected.items()}
        assert verdict(right, expected, bounds, dtype).passed, dtype
        for key, kind in workloads.get(name).outputs.items():
            scaled = {**right, key: right[key] * 1.001}
            assert not verdict(scaled, expected, bounds, dtype).passed, (dtype, key, "scaled by 1.001")
            if kind != "parameters":
                continue
            for block, where in zip(spec(model, size).block_names, block_slices(spec(model, size)), strict=True):
                zeroed, flipped = right[key].copy(), right[key].copy()
                zeroed[where] = 0.0
                flipped[where] *= -1.0
                assert not verdict({**right, key: zeroed}, expected, bounds, dtype).passed, (dtype, key, block, "zeroed")
                assert not verdict({**right, key: flipped}, expected, bounds, dtype).passed, (dtype, key, block, "sign")


def float32_arithmetic(case, arrays):
    """The reference formulas evaluated in float32 from float32 inputs: one correct
    float32 computation, with its rounding and cancellation."""
    low = {key: value.astype(np.float32) for key, value in arrays.items()}
    outputs = {"loss": np.asarray(reference.loss(case, low), np.float32), "grad": reference.gradient(case, low)}
    if "v" in arrays and case.__class__.__name__ == "Rosenbrock":
        outputs["hvp"] = reference.hvp(case, low)[0]
    return outputs


@pytest.mark.parametrize("model,size", [("rosenbrock", 10**3), ("rosenbrock", 10**5), ("rosenbrock", 10**6), ("mlp", "S")])
def test_correct_float32_arithmetic_passes_where_an_elementwise_constant_did_not(model, size):
    """Rosenbrock's Hessian at n = 10**6 in float32 has elementwise errors above 1e-4
    (cancellation in 1200 x_i**2 - 400 x_{i+1} + 2) though it is right; the normwise
    error model accepts it."""
    case = spec(model, size)
    for name in ("grad", "hvp"):
        arrays = inputs(name, model, size)
        computed = float32_arithmetic(case, arrays)
        expected, bounds = bounds_of(name, model, size, "float32")
        outputs = {key: computed[key] for key in workloads.get(name).outputs if key in computed}
        if not outputs:
            continue
        result = check(outputs, {k: expected[k] for k in outputs}, bounds, "float32")
        assert result.passed, result.describe()
    if size == 10**6:
        assert elementwise_error(computed["hvp"], expected["hvp"].value) > 1e-4


def test_tolerances_scale_with_conditioning_and_reference_error():
    workload, case = workloads.get("hvp"), spec("mlp", "S")
    expected = verify.reference_outputs("hvp", "mlp", "S", 0)
    kappa = verify.conditioning("hvp", "mlp", "S", 0)
    base = error_model.bounds(workload, case, expected, kappa, "float32")["hvp"].tolerance
    worse = error_model.bounds(workload, case, expected, {"hvp": kappa["hvp"] * 10}, "float32")["hvp"].tolerance
    # kappa adds SAFETY * u * kappa to each block's tolerance
    np.testing.assert_allclose(worse - base, error_model.SAFETY * 2.0**-24 * 9 * kappa["hvp"])
    f64 = error_model.bounds(workload, case, expected, kappa, "float64")["hvp"]
    assert np.all(f64.reference_error > 0) and np.all(f64.tolerance >= error_model.SAFETY * f64.reference_error)


def test_prepare_names_the_failing_block(monkeypatch):
    """A backend whose b3 block comes back zeroed fails verification, and the message
    names the block."""
    from bench_lib.backends import jax as backend

    real_build = backend.build

    def build_zeroing_b3(cell, arrays):
        program = real_build(cell, arrays)
        to_numpy = program.to_numpy

        def zeroed(out):
            outputs = to_numpy(out)
            outputs["hvp"][-10:] = 0.0
            return outputs

        program.to_numpy = zeroed
        return program

    monkeypatch.setattr(backend, "build", build_zeroing_b3)
    with pytest.raises(VerificationError, match="block b3"):
        api.prepare("hvp", "jax", "fwd_rev", "eager", "mlp", "S")
