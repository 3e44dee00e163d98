"""The support table is complete: every asv parameter combination runs or has a reason."""

import itertools

import pytest

from bench_lib.suite import grid
from bench_lib.suite import harness
from bench_lib.core import presets, workloads
from bench_lib.backends import support
from bench_lib.core.cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, PRECISIONS, Cell
from bench_lib.core.models import CASES


def every_cell():
    for name, workload in workloads.REGISTRY.items():
        names = tuple(workload.parameters)
        keyword_values = [parameter.values for parameter in workload.parameters.values()]
        for model, sizes in workload.sizes.items():
            for combo in itertools.product(
                BACKENDS, workload.modes, EXECUTIONS, sizes, DEVICES, DTYPES, PRECISIONS, *keyword_values
            ):
                backend, mode, execution, size, device, dtype, precision, *values = combo
                yield Cell(
                    name, backend, mode, execution, model, size, device, dtype, keywords=zip(names, values),
                    precision=precision,
                )


def test_every_rule_names_real_fields_and_values():
    vocabulary = {
        "workload": set(workloads.WORKLOADS), "backend": set(BACKENDS), "execution": set(EXECUTIONS),
        "mode": set(itertools.chain(*workloads.MODES.values())), "device": set(DEVICES), "dtype": set(DTYPES),
        "precision": set(PRECISIONS),
        "model": set(CASES), "size": {size for sizes in CASES.values() for size in sizes},
    }
    for rule in support.RULES:
        assert rule.reason.strip()
        for field, values in rule.match.items():
            assert set(values) <= vocabulary[field], (field, values)


def test_every_cell_is_supported_or_skipped_with_a_reason():
    reasons = {cell: support.static_reason(cell) for cell in every_cell()}
    skipped = {cell for cell, reason in reasons.items() if reason}
    # The known gaps, and nothing else: graph execution is TensorFlow's alone, one
    # torch.compile crash (dense layers' losses), TensorFlow XLA folding rev_fwd's inputs
    # into constants, and one XLA miscompilation in JAX.
    graph = {c for c in reasons if c.execution == "graph" and c.backend != "tensorflow"}
    torch_crash = {
        c for c in reasons
        if (c.backend, c.mode, c.execution, c.dtype) == ("torch", "rev_fwd", "compiled", "float64")
        and c.model in ("mlp", "logreg")
    }
    tf_folding = {c for c in reasons if (c.backend, c.mode, c.execution) == ("tensorflow", "rev_fwd", "compiled")}
    # Hessians: each framework's own functions elsewhere, TensorFlow's reverse-over-reverse
    # being its native mode, and dynamo stopping at torch.autograd.functional.
    own = {"autograd_vectorize": "torch", "autograd_loop": "torch", "jacobian_while": "tensorflow"}
    not_theirs = {c for c in reasons if c.workload == "hessian" and own.get(c.mode, c.backend) != c.backend}
    tf_jacrev = {c for c in reasons if (c.workload, c.backend, c.mode) == ("hessian", "tensorflow", "jacrev_jacrev")}
    torch_functional = {
        c for c in reasons
        if c.backend == "torch" and c.mode in ("autograd_vectorize", "autograd_loop") and c.execution == "compiled"
    }
    # XLA's float32 miscompilation of the block's wide reverse-over-reverse Hessian
    jax_miscompiled = {
        c for c in reasons
        if (c.workload, c.backend, c.mode, c.execution, c.model, c.device, c.dtype)
        == ("hessian", "jax", "jacrev_jacrev", "compiled", "transformer", "cpu", "float32")
        and c.precision == "strict"
    }
    # TensorFlow's XLA gradient of a Slice (tf.pad's gradient) has no gradient of its own
    tf_slice = {
        c for c in reasons
        if (c.workload, c.backend, c.mode, c.execution, c.model) == ("hessian", "tensorflow", "vmap_hvp", "compiled", "cnn")
    }
    # tf32 where it would time the strict cell again: on the CPU, and in float64
    tf32_again = {c for c in reasons if c.precision == "tf32" and (c.device == "cpu" or c.dtype == "float64")}
    assert skipped == (
        graph | torch_crash | tf_folding | not_theirs | tf_jacrev | torch_functional | jax_miscompiled | tf32_again | tf_slice
    )
    assert reasons[Cell("hessian", "jax", "jacobian_while", "eager", "mlp", "XXS")] == (
        "'jacobian_while' is TensorFlow's GradientTape.jacobian(experimental_use_pfor=False), which jax does not have"
    )


def test_modes_lists_what_each_backend_implements():
    import bench_lib
    assert bench_lib.modes("hessian", "torch") == (
        "native", "jacrev_jacrev", "vmap_hvp", "loop_hvp", "autograd_vectorize", "autograd_loop"
    )
    assert bench_lib.modes("hessian", "tensorflow") == ("native", "vmap_hvp", "loop_hvp", "jacobian_while")
    assert bench_lib.modes("hessian", "jax") == ("native", "jacrev_jacrev", "vmap_hvp", "loop_hvp")


def test_suite_params_cover_every_cell():
    """asv's params of each suite enumerate exactly the cells of its workload and model."""
    for name, workload in workloads.REGISTRY.items():
        for model in workload.sizes:
            names, values = grid.suite_params(name, model)
            assert len(names) == len(values)
            suite = type("Suite", (harness.CheckSuite,), {"workload": name, "model": model})()
            suite_cells = {suite._cell(combo) for combo in itertools.product(*values)}
            assert suite_cells == {c for c in every_cell() if (c.workload, c.model) == (name, model)}


def test_missing_framework_is_a_skip_with_that_reason(monkeypatch):
    monkeypatch.setitem(support.backends.FRAMEWORKS, "jax", "no_such_framework_xyz")
    cell = Cell("grad", "jax", "rev", "compiled", "mlp", "S")
    with pytest.raises(NotImplementedError, match="jax is not installed"):
        support.require_supported(cell)


def test_full_preset_is_every_cell():
    assert set(presets.get("full").cells()) == set(every_cell())


def test_the_smallest_cells_are_each_workloads_own():
    cells = presets.smallest(devices=("cpu",)).cells()
    assert {(c.workload, c.model, c.size) for c in cells} == {
        (name, model, size) for name, w in workloads.REGISTRY.items() for model, size in w.smallest.items()
    }
