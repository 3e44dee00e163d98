"""Unrolled optimization: every cell against the reference at K in {1, 10}, both
optimizers and dtypes at mlp S, and at cnn S; the reference's own checks; the keyword parameters
through Cell, asv and presets; first-order MAML's approximation error."""

import itertools
import re

import numpy as np
import pytest

import bench_lib
from bench_lib.suite import grid
from bench_lib.suite import harness
from bench_lib.core import presets, reference, workloads
from bench_lib.backends import support
from bench_lib.verification import verify
from bench_lib.core.cells import BACKENDS, EXECUTIONS, Cell
from bench_lib.core.models import spec
from bench_lib.core.workloads import unrolled

WORKLOAD = workloads.get("unrolled")
CASE = spec("mlp", "S")


def unrolled_cells():
    for backend, mode, execution, K, optimizer, dtype in itertools.product(
        BACKENDS, WORKLOAD.modes, EXECUTIONS, (1, 10), unrolled.OPTIMIZERS, ("float32", "float64")
    ):
        cell = Cell("unrolled", backend, mode, execution, "mlp", "S", dtype=dtype, keywords={"K": K, "optimizer": optimizer})
        # Eager float32 at K = 1 is the quick subset; tracing and compiling take seconds.
        slow = execution != "eager" or dtype != "float32" or K != 1
        # float64 runs the float32 cell's code with another dtype: `make test` keeps it at
        # K = 10 with momentum (every step and both optimizers' code) in eager and graph
        # execution (compiling takes 5 to 16 s a cell); the rest is -m heavy
        float64_again = dtype == "float64" and ((K, optimizer) != (10, "momentum") or execution == "compiled")
        # traced and compiled cells run the eager cells' builders: `make test` traces K = 1
        # with SGD and K = 10 with momentum (both K, both optimizers); the other two -m heavy
        traced_again = execution != "eager" and (K, optimizer) in ((1, "momentum"), (10, "sgd"))
        repeat = float64_again or traced_again
        marks = [pytest.mark.slow, pytest.mark.heavy] if repeat else [pytest.mark.slow] if slow else []
        yield pytest.param(cell, marks=marks, id=cell.label)


def cnn_cells():
    """The ConvNet's inner problem: PyTorch's eager reverse mode at K = 1 with SGD in
    `make test` (its images and validation images go to NCHW); every backend, mode,
    execution and optimizer with `pytest -m heavy` (seconds of tracing and compiling
    each; the mlp's cells above run the same builders)."""
    for backend, mode, execution, optimizer in itertools.product(BACKENDS, WORKLOAD.modes, EXECUTIONS, unrolled.OPTIMIZERS):
        cell = Cell("unrolled", backend, mode, execution, "cnn", "S", keywords={"K": 1, "optimizer": optimizer})
        quick = (backend, mode, execution, optimizer) == ("torch", "reverse", "eager", "sgd")
        yield pytest.param(cell, marks=[pytest.mark.slow] if quick else [pytest.mark.slow, pytest.mark.heavy], id=cell.label)


@pytest.mark.parametrize("cell", list(unrolled_cells()) + list(cnn_cells()))
def test_every_unrolled_cell_matches_the_reference(cell):
    reason = support.skip_reason(cell)
    if reason:
        with pytest.raises(NotImplementedError, match="^" + re.escape(reason)):
            bench_lib.compute(**cell.as_dict())
        pytest.skip(reason)
    outputs = bench_lib.compute(**cell.as_dict())
    # forward mode gives d_lr alone, and says why d_init is missing
    assert tuple(outputs) == WORKLOAD.outputs_of(cell.mode)
    assert outputs["d_lr"].shape == () and outputs["d_lr"].dtype == np.dtype(cell.dtype)
    if "d_init" in outputs:
        assert outputs["d_init"].shape == (cell.case.n_params,) and outputs["d_init"].dtype == np.dtype(cell.dtype)
    verdict = verify.verdict_for(cell, outputs)
    assert verdict.passed, verdict.describe()


@pytest.mark.slow
def test_prepare_verifies_times_and_reports_the_approximation_error_of_first_order():
    exact = bench_lib.prepare("unrolled", "jax", "reverse", "compiled", "mlp", "S", K=10, optimizer="momentum")
    approximate = bench_lib.prepare("unrolled", "jax", "first_order", "compiled", "mlp", "S", K=10, optimizer="momentum")
    assert exact.verdict.passed and approximate.verdict.passed
    assert exact.approximation_errors == {}
    # First-order MAML is verified against its own reference and is far from the exact
    # meta-gradient: the distance is reported, not verified away.
    errors = approximate.approximation_errors
    assert set(errors) == {"d_lr", "d_init"}
    assert errors["d_init"] > 0.1 and errors["d_lr"] > 0.1
    assert errors["d_init"] > 1e3 * approximate.verdict.errors["d_init"]


def test_first_order_matches_the_exact_hypergradient_at_one_step_only():
    arrays = bench_lib.inputs("unrolled", "mlp", "S")
    for K in (1, 10):
        exact = WORKLOAD.reference(CASE, arrays, K=K, optimizer="sgd")
        first = WORKLOAD.approximations["first_order"](CASE, arrays, K=K, optimizer="sgd")
        # at K = 1 the only inner gradient is taken at p_0, which lr does not move
        same = np.isclose(first["d_lr"].value, exact["d_lr"].value, rtol=1e-12)
        assert same == (K == 1)
        assert not np.allclose(first["d_init"].value, exact["d_init"].value, rtol=1e-3)


@pytest.mark.parametrize("optimizer", unrolled.OPTIMIZERS)
def test_the_exact_meta_gradient_agrees_with_central_differences_along_random_directions(optimizer):
    arrays = bench_lib.inputs("unrolled", "mlp", "S")
    mu = unrolled.momentum_of(optimizer)
    d_init = WORKLOAD.reference(CASE, arrays, K=10, optimizer=optimizer)["d_init"].value
    rng = np.random.default_rng(7)
    for _ in range(3):
        u = rng.standard_normal(CASE.n_params)
        (difference,) = reference.directional_derivatives(
            lambda p: reference.unrolled_outer_loss(CASE, {**arrays, "params": p}, 10, mu), arrays["params"], u
        )
        assert abs(d_init @ u - difference) <= 1e-8 * abs(difference)


def test_the_reference_d_lr_is_checked_against_a_central_difference(monkeypatch):
    arrays = bench_lib.inputs("unrolled", "mlp", "S")
    exact = reference.unrolled_derivatives

    def off_by_a_thousandth(*args):
        d_lr, d_init = exact(*args)
        return 1.001 * d_lr, d_init

    monkeypatch.setattr(reference, "unrolled_derivatives", off_by_a_thousandth)
    with pytest.raises(AssertionError, match="disagrees with the central difference"):
        WORKLOAD.reference(CASE, arrays, K=10, optimizer="sgd")


def test_momentum_at_one_step_is_sgd_and_differs_after():
    arrays = bench_lib.inputs("unrolled", "mlp", "S")
    sgd = {K: WORKLOAD.reference(CASE, arrays, K=K, optimizer="sgd") for K in (1, 10)}
    momentum = {K: WORKLOAD.reference(CASE, arrays, K=K, optimizer="momentum") for K in (1, 10)}
    np.testing.assert_allclose(momentum[1]["d_init"].value, sgd[1]["d_init"].value, rtol=1e-14)
    assert not np.allclose(momentum[10]["d_init"].value, sgd[10]["d_init"].value, rtol=1e-2)


def test_inputs_add_a_validation_batch_and_the_learning_rate():
    arrays = bench_lib.inputs("unrolled", "mlp", "S")
    assert list(arrays) == ["params", "x", "y", "lr", "xv", "yv"]
    assert arrays["lr"].shape == () and float(arrays["lr"]) == unrolled.LEARNING_RATE
    assert arrays["xv"].shape == arrays["x"].shape and not np.allclose(arrays["xv"], arrays["x"])
    # params and the training batch are the other workloads' draw of the same case
    grad_inputs = bench_lib.inputs("grad", "mlp", "S")
    for name in ("params", "x", "y"):
        np.testing.assert_array_equal(arrays[name], grad_inputs[name])
    assert WORKLOAD.arguments("mlp") == ("params", "lr", "xv", "yv", "x", "y")


def test_keyword_parameters_are_part_of_the_cell_and_checked():
    cell = Cell("unrolled", "jax", "reverse", "compiled", "mlp", "S")
    assert cell.keywords == (("K", 10), ("optimizer", "sgd"))  # the defaults, filled in
    assert cell.label.endswith("/K=10/optimizer=sgd")
    assert Cell(**cell.as_dict()) == cell
    assert Cell("unrolled", "jax", "reverse", "compiled", "mlp", "S", keywords=[["K", 10]]) == cell
    assert Cell("unrolled", "jax", "reverse", "compiled", "mlp", "S", keywords={"K": 37}).options["K"] == 37
    for keywords, message in (
        ({"K": 0}, "K=0 is not valid"),
        ({"K": 2.5}, "K=2.5 is not valid"),
        ({"K": True}, "K=True is not valid"),
        ({"optimizer": "adam"}, "optimizer='adam' is not valid .*expected one of \\('sgd', 'momentum'\\)"),
        ({"steps": 3}, "takes no parameter 'steps'; its parameters: \\('K', 'optimizer'\\)"),
    ):
        with pytest.raises(ValueError, match=message):
            Cell("unrolled", "jax", "reverse", "compiled", "mlp", "S", keywords=keywords)
    with pytest.raises(ValueError, match="workload 'hvp' takes no parameter 'K'"):
        bench_lib.compute("hvp", "jax", "fwd_rev", "eager", "mlp", "S", K=3)


def test_asv_parameters_carry_K_and_the_optimizer():
    names, values = grid.suite_params("unrolled", "mlp")
    assert names[-2:] == ["K", "optimizer"] and values[-2:] == [[1, 10, 100], ["sgd", "momentum"]]
    cell = Cell("unrolled", "torch", "forward", "eager", "mlp", "S", keywords={"K": 100, "optimizer": "momentum"})
    assert grid.suite_values(cell) == ("torch", "forward", "eager", "S", "cpu", "float32", "strict", 100, "momentum")

    class Suite(harness.CheckSuite):
        workload, model = "unrolled", "mlp"

    assert Suite()._cell(grid.suite_values(cell)) == cell


def test_presets_hold_the_unrolled_cells_that_matter():
    default = [c for c in presets.get("default").cells() if c.workload == "unrolled"]
    assert {(c.dtype, c.device, c.size) for c in default} == {("float32", "cpu", "S")}
    at = {(c.backend, c.mode, c.execution, c.options["K"], c.options["optimizer"]) for c in default}
    for backend, mode, execution in itertools.product(BACKENDS, WORKLOAD.modes, EXECUTIONS):
        assert (backend, mode, execution, 10, "sgd") in at
        assert ((backend, mode, execution, 100, "sgd") in at) == (execution == "compiled")
    cpu = {c for c in presets.get("cpu").cells() if c.workload == "unrolled"}
    # K, optimizer, dtype, and the models: mlp S and cnn S
    assert len(cpu) == len(BACKENDS) * len(WORKLOAD.modes) * len(EXECUTIONS) * 3 * 2 * 2 * 2
    assert all(c.size == "S" and c.device == "cpu" for c in cpu) and {c.model for c in cpu} == {"mlp", "cnn"}


def test_every_unrolled_cell_of_every_parameter_combination_is_supported_or_skipped_with_a_reason():
    cells = [c for c in presets.get("full").cells() if c.workload == "unrolled"]
    # backend, mode, execution, size (mlp S and M, cnn S), device, dtype, precision, K, optimizer
    assert len(cells) == 3 * 3 * 3 * 3 * 2 * 2 * 2 * 3 * 2
    for cell in cells:
        reason = support.static_reason(cell)
        if reason is None:
            assert (cell.workload, cell.mode) in bench_lib.backends.load(cell.backend).BUILDERS, cell.label
        elif cell.precision == "tf32" and (cell.device == "cpu" or cell.dtype == "float64"):
            assert "tf32" in reason, (cell.label, reason)
        else:
            assert cell.execution == "graph" and cell.backend in ("jax", "torch"), (cell.label, reason)
    assert "d_init" in support.omitted_outputs(Cell("unrolled", "jax", "forward", "eager", "mlp", "S"))
