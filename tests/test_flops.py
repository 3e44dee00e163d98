"""The mlp's FLOP counts against XLA's own count, achieved FLOP/s, the peak flag and
the README's generated headline."""

import json

import pytest

from bench_lib.reporting import flops, tidy
from bench_lib.reporting.summary import README_BEGIN, README_END, headline_runs, summary_markdown, update_readme
from bench_lib.reporting.views import achieved_flops
from bench_lib.run import peak
from bench_lib.core.models import spec

from test_report import row


def _xla_flops(function, *args) -> float:
    import jax

    cost = jax.jit(function).lower(*args).compile().cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)["flops"]


@pytest.mark.parametrize("size", ["XXS", "S"])
def test_counts_are_a_lower_bound_close_to_xlas_count_of_the_compiled_jax_code(size):
    """XLA counts every operation (tanh, biases, the loss), the formula the matmuls of
    the cheapest schedule only: XLA's count is at least the formula's, and close to it."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    m = spec("mlp", size)
    shapes = m.param_shapes
    params = tuple(jnp.full(shape, 0.1) for shape in shapes)
    x, y = jnp.ones((m.batch, m.n_in)), jnp.ones((m.batch, m.n_out))

    def loss(p, x, y):
        w1, b1, w2, b2, w3, b3 = p
        h = jnp.tanh(jnp.tanh(x @ w1 + b1) @ w2 + b2)
        return 0.5 * jnp.mean((h @ w3 + b3 - y) ** 2)

    grad = jax.grad(loss)

    def hvp(p, v, x, y):
        return jax.jvp(lambda q: grad(q, x, y), (p,), (v,))[1]

    ratios = {
        "grad": _xla_flops(grad, params, x, y) / flops.mlp_flops("grad", size),
        "hvp": _xla_flops(hvp, params, params, x, y) / flops.mlp_flops("hvp", size),
    }
    if size == "XXS":
        flat, unravel = ravel_pytree(params)
        hessian = jax.hessian(lambda q: loss(unravel(q), x, y))
        ratios["hessian"] = _xla_flops(hessian, flat) / flops.mlp_flops("hessian", size)
    for workload, ratio in ratios.items():
        assert 1.0 <= ratio < 1.25, (workload, ratio)


@pytest.mark.parametrize("model,size", [("logreg", 100000), ("cnn", "S"), ("transformer", "S")])
def test_the_architectures_counts_are_a_lower_bound_close_to_xlas_count(model, size):
    """The same against the JAX backend's own loss (its convolutions and attention):
    XLA's count of the compiled grad and forward-over-reverse HVP is at least the
    formula's and within 25% of it (the transformer's LayerNorms, softmax and GELU are
    what XLA counts beyond the products)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import bench_lib
    from bench_lib.backends.ops.jax import array_ops
    from bench_lib.core.models import loss_function, native_blocks

    case = spec(model, size)
    loss = loss_function(case, array_ops(jax, bench_lib.Cell("hvp", "jax", "fwd_rev", "compiled", model, size)))
    arrays = bench_lib.inputs("hvp", model, size)
    params = tuple(jnp.asarray(block, jnp.float32) for block in native_blocks(case, arrays["params"]))
    x, y = jnp.asarray(arrays["x"], jnp.float32), jnp.asarray(arrays["y"], jnp.float32)
    grad = jax.grad(loss)

    def hvp(p, v, x, y):
        return jax.jvp(lambda q: grad(q, x, y), (p,), (v,))[1]

    for workload, ratio in {
        "grad": _xla_flops(grad, params, x, y) / flops.flops("grad", model, str(size)),
        "hvp": _xla_flops(hvp, params, params, x, y) / flops.flops("hvp", model, str(size)),
    }.items():
        assert 1.0 <= ratio < 1.25, (workload, ratio)


def test_the_counts_follow_from_each_models_products():
    assert flops.flops("hvp", "mlp", "S") == 2 * 128 * (3 * 64 * 64 + 8 * 64 * 64 + 8 * 64 * 10)
    # logistic regression is one product with the data: grad 2c, HVP c + 2c, Hessian c + n 2c
    c = 256 * 399 * 10
    assert [flops.flops(w, "logreg", "4000") for w in ("grad", "hvp", "hessian")] == [4 * c, 6 * c, 2 * (c + 4000 * 2 * c)]
    assert flops.flops("unrolled", "mlp", "S") is None
    assert flops.flops("hvp", "rosenbrock", 1000) is None


def test_achieved_flops_and_the_flag_above_the_peak():
    hvp_s = flops.mlp_flops("hvp", "S")
    table = tidy.from_rows([
        row("hvp", "jax", "fwd_rev", "compiled", hvp_s / 50e9),  # 50 GFLOP/s
        row("hvp", "torch", "fwd_rev", "compiled", hvp_s / 500e9),  # 500 GFLOP/s: impossible here
        row("unrolled", "jax", "reverse", "compiled", 0.01, K=10),  # no count
    ])
    rates = achieved_flops(table, {"m": {"float32": 100e9}}).set_index("backend")
    assert list(rates.index) == ["jax", "torch"]
    assert rates.loc["jax", "flops_per_second"] == pytest.approx(50e9)
    assert rates.loc["jax", "of_peak"] == pytest.approx(0.5)
    assert not rates.loc["jax", "above_peak"] and rates.loc["torch", "above_peak"]
    summary = summary_markdown(table, {"m": {"float32": 100e9}})
    assert "1 times imply more FLOP/s than the machine's measured peak" in summary and "500.0 GFLOP/s" in summary
    unknown = achieved_flops(table, {})  # no peak measured for the machine: no flag
    assert not unknown.above_peak.any()


def test_the_kept_peak_is_the_highest_measured(tmp_path, monkeypatch):
    measured = iter([{"float32": 100e9}, {"float32": 60e9}, {"float32": 120e9}])
    monkeypatch.setattr(peak, "measure_peak", lambda threads: next(measured))
    for expected in (100e9, 100e9, 120e9):
        path = peak.record_peak(tmp_path, "m", 2)
        assert flops.load_peaks(tmp_path) == {"m": {"float32": expected}}
    assert json.loads(path.read_text())["threads"] == 2
    # a damaged peak is named, never dropped in silence (no rate would be flagged)
    path.write_text("{not json")
    with pytest.raises(flops.DamagedPeakFile, match=f"{path} is not a readable peak file"):
        flops.load_peaks(tmp_path)
    assert path.read_text() == "{not json"
    assert flops.load_peaks(tmp_path, move_damaged=True) == {}
    assert not path.exists() and (tmp_path / "damaged" / "peaks" / "m.peak.damaged").read_text() == "{not json"


def test_the_readme_headline_is_replaced_between_its_markers_only(tmp_path):
    table = tidy.from_rows([row("grad", "jax", "rev", "compiled", 0.001), row("grad", "torch", "rev", "compiled", 0.002)])
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_BEGIN}\nold table\n{README_END}\nrest\n")
    update_readme(readme, table)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{README_END}\nrest\n") and "old table" not in text
    assert "| workload | case | jax | torch |" in text
    assert headline_runs(readme) == ["run"]
    assert "| grad | mlp S, cpu, float32 | **1 ms** [1 ms, 1 ms] rev compiled | 2 ms [2 ms, 2 ms] rev compiled |" in text
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    with pytest.raises(ValueError, match="no headline block"):
        update_readme(plain, table)
    assert plain.read_text() == "no markers\n"
