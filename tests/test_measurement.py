"""The measurement commands' plumbing: what they read from asv's results, and the
interleaving of the two sides of a comparison (timing itself is not asserted here)."""

import math

import pytest

from bench_lib.tools import handwritten
from bench_lib.tools.idiom import cells_to_compare
from bench_lib.tools.overhead import asv_run_median
from bench_lib.tools import timing
from bench_lib.tools.timing import interleaved


def results(value, q25=None, q75=None):
    columns = ["result", "params", "stats_q_25", "stats_q_75"]
    return {"result_columns": columns, "results": {"b.S.time_x": [[value], [["1"]], [q25], [q75]]}}


def test_asv_run_median_reads_the_median_and_its_quartiles_and_refuses_skips_and_failures():
    assert asv_run_median(results(2.0, 1.5, 2.5), "b.S.time_x", 0) == (2.0, 1.5, 2.5)
    assert asv_run_median(results(2.0), "b.S.time_x", 0) == (2.0, 2.0, 2.0)
    assert asv_run_median(results(math.nan), "b.S.time_x", 0) is None  # skipped
    assert asv_run_median(results(None), "b.S.time_x", 0) is None  # failed
    assert asv_run_median(results(2.0), "b.S.time_other", 0) is None


def test_interleaved_alternates_which_side_goes_first_and_takes_the_median_of_the_rounds_ratios(monkeypatch):
    order = []
    # each side's batch means, round by round, in place of measured ones
    means = {"a": iter([1.0, 2.0, 3.0, 4.0]), "b": iter([2.0, 2.0, 1.0, 8.0])}

    def batch_mean(call, calls):
        call()
        return next(means[order[-1]])

    monkeypatch.setattr(timing, "batch_mean", batch_mean)
    comparison = interleaved(lambda: order.append("a"), lambda: order.append("b"), rounds=4, seconds=0.001)
    # per-round ratios a/b: 0.5, 1, 3, 0.5; not the ratio of the medians (2.5 / 2)
    assert comparison == timing.Comparison(a_seconds=2.5, b_seconds=2.0, ratio=0.75, ratio_min=0.5, ratio_max=3.0,
                                           rounds=4)
    runs = [order[0]]
    for side in order[1:]:
        if side != runs[-1]:
            runs.append(side)
    # after calibration (a then b), rounds go a b, b a, a b, b a
    assert runs[2:] == ["a", "b", "a", "b", "a"]


def test_idiom_compares_every_supported_default_cell_the_hand_written_modules_cover():
    cells = list(cells_to_compare("default"))
    mlp = [c for c in cells if c.model == "mlp"]
    # grad and hvp at S and M, grad at XXS and XS, hessian, unrolled (reverse and
    # forward: K = 10, and K = 100 compiled)
    assert len(mlp) == 54 + 14 + 22 + 20
    # cnn S and transformer S: grad and three HVPs in every execution each framework has,
    # but TensorFlow's compiled rev_fwd (a skip)
    assert len(cells) - len(mlp) == 2 * ((4 * 3 - 1) + 2 * 4 * 2)
    assert {c.model for c in cells} == {"mlp", "cnn", "transformer"}
    assert list(cells_to_compare("default", models=("cnn",))) == [c for c in cells if c.model == "cnn"]
    for cell in cells:
        assert handwritten.covers(cell.backend, cell.workload, cell.mode, cell.device, cell.model, cell.dtype)
        assert cell.execution in handwritten.EXECUTIONS
    fastest_at_xs = {("jax", "jacrev_jacrev"), ("torch", "vmap_hvp"), ("tensorflow", "jacobian_while")}  # measured
    compared = {(c.backend, c.mode) for c in cells if c.workload == "hessian" and c.execution == "compiled"}
    assert fastest_at_xs <= compared


def test_an_unknown_hand_written_backend_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown backend 'mxnet'"):
        handwritten.load("mxnet")


def test_scaling_fits_the_log_log_slope_per_strategy():
    from bench_lib.reporting.fit import slope
    from bench_lib.tools.scaling import fit

    assert slope([100, 1000, 4000], [1e-4 * n**2 for n in (100, 1000, 4000)]) == pytest.approx(2.0)
    assert slope([586], [1.0]) is None  # one size: no slope
    cell = {"backend": "jax", "mode": "vmap_hvp", "execution": "compiled", "model": "rosenbrock"}
    rows = [
        {"cell": cell, "n": n, "seconds": 1e-6 * n, "peak_bytes": 8 * n * n} for n in (4000, 100, 1000)
    ] + [{"cell": {**cell, "mode": "native"}, "error": "VerificationError: ..."}]
    [fitted] = fit(rows)
    assert fitted["n"] == [100, 1000, 4000]
    assert fitted["time_slope"] == pytest.approx(1.0) and fitted["memory_slope"] == pytest.approx(2.0)


def test_scaling_measures_the_supported_cpu_cells_of_the_cpu_sizes():
    from bench_lib.tools.scaling import cells_to_measure

    cells = list(cells_to_measure("hessian", "float32", ("torch",), ("mlp",)))
    assert {c.size for c in cells} == {"XXS", "XS"}  # mlp S is the GPU size
    assert {c.execution for c in cells} == {"eager", "compiled"}  # torch has no graph execution
    assert all(c.device == "cpu" and c.dtype == "float32" and c.backend == "torch" for c in cells)
