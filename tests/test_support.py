"""The support table is complete: every asv parameter combination runs or has a reason."""

import itertools

import pytest

from bench_lib import harness, presets, support
from bench_lib.cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, MODES, Cell
from bench_lib.workloads import SIZES


def every_cell():
    for (workload, modes), (model, sizes) in itertools.product(MODES.items(), SIZES.items()):
        for combo in itertools.product(BACKENDS, modes, EXECUTIONS, sizes, DEVICES, DTYPES):
            backend, mode, execution, size, device, dtype = combo
            yield Cell(workload, backend, mode, execution, model, size, device, dtype)


def test_every_rule_names_real_fields_and_values():
    vocabulary = {
        "workload": set(MODES), "backend": set(BACKENDS), "execution": set(EXECUTIONS),
        "mode": set(itertools.chain(*MODES.values())), "device": set(DEVICES), "dtype": set(DTYPES),
        "model": set(SIZES), "size": set(itertools.chain(*SIZES.values())),
    }
    for rule in support.RULES:
        assert rule.reason.strip()
        for field, values in rule.match.items():
            assert set(values) <= vocabulary[field], (field, values)


def test_every_cell_is_supported_or_skipped_with_a_reason():
    reasons = {}
    for cell in every_cell():
        reason = support.static_reason(cell)
        assert reason is None or reason.strip()
        reasons[cell] = reason
    # The known gaps, and nothing else: graph execution is TensorFlow's alone, and one
    # torch.compile crash.
    skipped = {cell for cell, reason in reasons.items() if reason}
    torch_crash = {
        c for c in reasons
        if (c.backend, c.mode, c.execution, c.model, c.dtype) == ("torch", "rev_fwd", "compiled", "mlp", "float64")
    }
    assert skipped == {c for c in reasons if c.execution == "graph" and c.backend != "tensorflow"} | torch_crash


def test_suite_params_cover_every_cell():
    """asv's params of each suite enumerate exactly the cells of its workload and model."""
    for workload, model in itertools.product(MODES, SIZES):
        names, values = harness.suite_params(workload, model)
        assert len(names) == len(values)
        suite_cells = {
            Cell(workload=workload, model=model, **{"mode": MODES[workload][0], **dict(zip(names, combo, strict=True))})
            for combo in itertools.product(*values)
        }
        assert suite_cells == {c for c in every_cell() if (c.workload, c.model) == (workload, model)}


def test_missing_framework_is_a_skip_with_that_reason(monkeypatch):
    monkeypatch.setitem(support.backends.REGISTRY, "jax", ("jax", "no_such_framework_xyz"))
    cell = Cell("grad", "jax", "rev", "compiled", "mlp", "S")
    with pytest.raises(NotImplementedError, match="jax is not installed"):
        support.require_supported(cell)


def test_full_preset_is_every_cell():
    assert set(presets.get("full").cells()) == set(every_cell())
