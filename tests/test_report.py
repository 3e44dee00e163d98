"""Derived views on results with known values, and the report from a real asv run."""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from bench_lib.reporting import tidy
from bench_lib.reporting.page import write as write_report
from bench_lib.reporting.summary import README_BEGIN, README_END, headline, headline_runs, readme_headline, summary_markdown
from bench_lib.reporting.views import best_per_backend, ratios_to_grad, side_by_side, slopes
from bench_lib.__main__ import main


def row(workload, backend, mode, execution, seconds, size="S", K=None, metric="time", run_id="run"):
    return {
        "machine": "m", "commit": "c" * 40, "date": pd.Timestamp("2026-11-29", tz="UTC"), "run_id": run_id,
        "env_name": "e", "workload": workload, "model": "mlp", "size": size, "backend": backend, "mode": mode,
        "execution": execution, "device": "cpu", "dtype": "float32", "K": K,
        "optimizer": "sgd" if workload == "unrolled" else None, "metric": metric, "value": seconds,
        "unit": "seconds", "q_25": seconds, "q_75": seconds, "status": "ok",
    }


@pytest.fixture
def known():
    rows = [
        row("grad", "jax", "rev", "compiled", 0.001),
        row("grad", "torch", "rev", "compiled", 0.002),
        row("grad", "jax", "rev", "compiled", 0.0002, size="XXS"),
        row("hvp", "jax", "fwd_rev", "compiled", 0.003),
        row("hvp", "torch", "fwd_rev", "compiled", 0.004),
        row("hvp", "torch", "fwd_rev", "eager", 0.010),
        *(row("unrolled", "jax", "reverse", "compiled", 0.0005 * K, K=K) for K in (1, 10, 100)),
        row("hessian", "jax", "vmap_hvp", "compiled", 0.01, size="XXS"),
        row("hessian", "jax", "vmap_hvp", "compiled", 0.01 * (2442 / 586) ** 2, size="XS"),
    ]
    return tidy.from_rows(rows)


def test_ratios_to_the_gradient_of_the_same_case(known):
    ratios = ratios_to_grad(known).set_index(["workload", "backend", "execution"])
    assert ratios.loc[("hvp", "jax", "compiled"), "ratio_to_grad"] == pytest.approx(3.0)
    assert ratios.loc[("hvp", "torch", "compiled"), "ratio_to_grad"] == pytest.approx(2.0)
    assert np.isnan(ratios.loc[("hvp", "torch", "eager"), "ratio_to_grad"])  # no eager grad
    unrolled = ratios.loc[("unrolled", "jax", "compiled")].set_index("K")
    assert unrolled.loc[100, "ratio_to_grad"] == pytest.approx(50.0)
    hessian = ratios.loc[("hessian", "jax", "compiled")].set_index("size")
    assert hessian.loc["XXS", "ratio_to_grad"] == pytest.approx(50.0)  # Hessian/grad at the same size
    assert np.isnan(hessian.loc["XS", "ratio_to_grad"])  # no grad of XS in this table


def test_backends_side_by_side_name_the_fastest(known):
    wide = side_by_side(known)
    hvp = wide[(wide.workload == "hvp") & (wide.execution == "compiled")].iloc[0]
    assert hvp.fastest == "jax" and hvp["torch/fastest"] == pytest.approx(4 / 3) and hvp["jax/fastest"] == 1.0


def test_best_mode_and_execution_per_backend(known):
    best = best_per_backend(known)
    torch_hvp = best[(best.workload == "hvp") & (best.backend == "torch")]
    assert len(torch_hvp) == 1 and torch_hvp.execution.item() == "compiled" and torch_hvp.seconds.item() == 0.004


def test_each_cells_latest_measurement_across_runs_of_parts_of_a_preset():
    first = [row("grad", "jax", "rev", "compiled", 0.001, run_id="a"), row("hvp", "jax", "fwd_rev", "compiled", 0.003, run_id="a")]
    later = [{**row("grad", "jax", "rev", "compiled", 0.002, run_id="b"), "date": pd.Timestamp("2026-11-30", tz="UTC")}]
    latest = tidy.latest_measurements(tidy.from_rows(first + later)).set_index("workload")
    assert latest.loc["grad", "run_id"] == "b" and latest.loc["grad", "value"] == 0.002
    assert latest.loc["hvp", "run_id"] == "a"  # measured only by the first run: still there


def test_the_headline_has_one_row_per_case_and_a_column_per_backend(known):
    text = headline(known)
    lines = text.splitlines()
    assert lines[0] == "| workload | case | jax | torch |"  # the backends that have a time
    hvp = next(line for line in lines if line.startswith("| hvp | mlp S"))
    assert "**3 ms** [3 ms, 3 ms] fwd_rev compiled" in hvp and "| 4 ms [4 ms, 4 ms] fwd_rev compiled |" in hvp


def test_the_readmes_headline_keeps_each_workloads_largest_case_and_the_summary_every_case(known):
    momentum = {**row("unrolled", "torch", "reverse", "eager", 0.02, K=10), "optimizer": "momentum"}
    table = tidy.from_rows([*known.to_dict("records"), momentum])
    cases = [line.split(" | ")[1] for line in headline(table, largest_only=True).splitlines()[2:]]
    # the largest n (grad S over XXS, hessian XS over XXS), then the largest K per inner optimizer
    assert cases == ["mlp S, cpu, float32", "mlp XS, cpu, float32", "mlp S, cpu, float32",
                     "mlp S, cpu, float32, K=10, momentum", "mlp S, cpu, float32, K=100, sgd"]
    assert len(headline(table).splitlines()) - 2 == 9  # every case
    assert "the largest case of each workload and model" in readme_headline(table)
    assert "mlp XXS" not in readme_headline(table) and "mlp XXS" in summary_markdown(table)


def test_slopes_against_n_and_K(known):
    fitted = slopes(known).set_index("workload")
    assert fitted.loc["unrolled", "slope"] == pytest.approx(1.0)
    assert fitted.loc["unrolled", "points"] == "1,10,100"
    assert fitted.loc["hessian", "slope"] == pytest.approx(2.0)


@pytest.mark.slow
def test_the_report_of_a_real_run(smoke_results, tmp_path):
    _, work, stdout = smoke_results
    assert f"report: {work / 'results' / 'report' / 'report.html'}" in stdout
    # the run ends with its own summary: cells by status, reasons, best times
    summary = stdout[stdout.rindex("# Results summary"):]
    assert "5 ok, 2 skipped" in summary and "JAX has no graph execution" in summary
    assert "Best time per backend" in summary
    table = tidy.load(work / "results", REPO / "benchmarks")
    paths = write_report(table, tmp_path / "report")
    page = paths["report.html"].read_text()
    # one file: Bokeh's JavaScript inline, nothing fetched from elsewhere
    assert "Bokeh" in page and not re.search(r"""<(script|link)[^>]+(src|href)=["']?https?:""", page)
    assert 'id="unrolled"' in page and "Fastest backend per case" in page
    summary = paths["summary.md"].read_text()
    assert "skipped" in summary and "JAX has no graph execution" in summary
    pictures = [path for name, path in paths.items() if name.startswith("figures/")]
    assert len(pictures) >= 3 and all(f"]({path.relative_to(paths['summary.md'].parent)})" in summary
                                      for path in pictures)
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in pictures)
    assert len(pd.read_csv(paths["results.csv"])) == len(table)
    assert len(pd.read_parquet(paths["results.parquet"])) == len(table)


def test_a_bad_selection_is_named_and_writes_nothing(tmp_path, capsys):
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    out = tmp_path / "out"
    assert main(["report", "--results", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "no results folder" in capsys.readouterr().err
    assert main(["report", "--results", str(results_dir), "--out", str(out), "--machine", "nosuch"]) == 2
    error = capsys.readouterr().err
    assert "no results in" in error and "machine 'nosuch'" in error
    assert not out.exists()


def test_a_report_of_grad_and_hvp_alone_has_no_slopes_and_no_error(known, tmp_path):
    only = known[known.workload.isin(["grad", "hvp"])]
    assert slopes(only).empty
    paths = write_report(only, tmp_path)
    assert "HVP / grad" in paths["report.html"].read_text()


def test_an_approximation_or_a_mode_with_fewer_outputs_is_never_the_best_time(known):
    cheaper = [row("unrolled", "jax", mode, "compiled", 1e-6, K=10) for mode in ("first_order", "forward")]
    with_first_order = pd.concat([known, tidy.from_rows(cheaper)])
    best = best_per_backend(tidy.from_rows(with_first_order.to_dict("records")))
    unrolled = best[best.workload == "unrolled"]
    assert set(unrolled["mode"]) == {"reverse"} and len(unrolled) == 3  # K = 1, 10, 100


def test_a_run_of_part_of_a_preset_starts_when_its_own_benchmarks_did():
    class Result:
        started_at = {"grad.MlpGrad.time_grad": 1000, "unrolled.MlpUnrolled.time_unrolled": 5000}
        date = 1

    benchmarks = {"grad.MlpGrad.time_grad": ("grad", "mlp"), "unrolled.MlpUnrolled.time_unrolled": ("unrolled", "mlp")}
    assert tidy._started(Result, benchmarks, {("unrolled", "mlp")}) == 5000
    assert tidy._started(Result) == 1000


@pytest.fixture(scope="module")
def reference_table():
    return tidy.load(REPO / "reference", REPO / "benchmarks")


def test_the_readmes_headline_is_the_one_generated_from_the_committed_results(reference_table):
    """The README's table is never typed by hand: regenerated from the runs it names
    (runs kept in reference/ never change; later runs are not among them)."""
    runs = headline_runs(REPO / "README.md")
    assert runs, "the README has no generated headline table"
    table = reference_table
    generated = readme_headline(table[table.run_id.isin(runs)])
    text = (REPO / "README.md").read_text()
    block = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert block.strip() == generated.strip()


def test_tensorflows_cpu_peak_memory_read_before_the_suite_asked_is_not_shown(reference_table):
    """The committed TensorFlow CPU cells were measured with oneDNN's allocator keeping
    memory resident (10.8 MiB read for a pass of about 1.6 GiB): not measured, with the
    reason, while the other frameworks' numbers stay."""
    memory = reference_table[(reference_table.metric == "peak_memory") & (reference_table.device == "cpu")]
    tensorflow = memory[memory.backend == "tensorflow"]
    assert "ok" not in set(tensorflow.status)
    hidden = tensorflow[tensorflow.status == "not_measured"]
    assert len(hidden) > 100 and hidden.value.isna().all()
    assert hidden.reason.str.contains("oneDNN allocator").all()
    others = memory[(memory.backend != "tensorflow") & (memory.status == "ok")]
    assert len(others) > 100 and (others.value >= 0).all() and others.reason.isna().all()


def test_a_cells_own_record_says_whether_its_host_memory_was_hidden():
    cell = {"workload": "grad", "model": "mlp", "size": "S", "backend": "tensorflow", "mode": "rev",
            "execution": "graph", "device": "cpu", "dtype": "float32"}
    measured = {"cell": cell, "status": "verified", "conditions": {"host_memory_hidden": None}}
    older = {"cell": cell, "status": "verified", "conditions": {}}
    torch = {"cell": {**cell, "backend": "torch"}, "status": "verified", "conditions": {}}
    assert tidy._record_columns(measured, {})[-1] is None  # oneDNN off: the number stands
    assert "oneDNN allocator" in tidy._record_columns(older, {})[-1]
    assert tidy._record_columns(torch, {})[-1] is None


def test_a_hidden_host_memory_is_not_measured_with_its_reason_number_or_not():
    reason = "not measured: TensorFlow's oneDNN optimisations are on"
    frame = pd.DataFrame({
        "metric": ["peak_memory", "peak_memory", "time", "peak_memory", "device_memory"],
        "value": [float("nan"), 36864.0, 1.0, 2**20, float("nan")],  # a new run's, an older run's, ..., torch's
        "status": ["ok"] * 5, "reason": [None] * 5,
        "host_memory_hidden": [reason, reason, reason, None, None],
    })
    shown = tidy._not_measured(frame)
    assert shown.status.tolist() == ["not_measured", "not_measured", "ok", "ok", "not_measured"]
    assert shown.reason.tolist()[:4] == [reason, reason, None, None]
    assert shown.value.tolist()[2:4] == [1.0, 2**20]


def test_an_unstable_contended_or_implausible_time_is_listed_and_never_a_best():
    wide = {**row("grad", "torch", "rev", "eager", 0.0004), "q_25": 0.00036, "q_75": 0.00153}
    busy = {**row("grad", "torch", "rev", "compiled", 0.0003), "interference": 0.45, "interference_seconds": 2.0}
    short = {**row("grad", "torch", "rev", "eager", 0.0005), "interference": 0.45, "interference_seconds": 0.01}
    steady = row("grad", "torch", "rev", "graph", 0.002)
    hvp = row("hvp", "jax", "fwd_rev", "compiled", 0.0002)  # below its gradient's 1 ms: one of the two is wrong
    table = tidy.from_rows([row("grad", "jax", "rev", "compiled", 0.001), wide, busy, steady, hvp,
                            {**short, "model": "rosenbrock", "size": "100"}])  # timed 10 ms: too short to say
    assert table.unstable.tolist() == [False, True, False, False, False, False]
    assert table.contended.tolist() == [False, False, True, False, False, False]
    assert table.implausible.tolist() == ["gradient slower than the HVP fwd_rev (200 µs)", None, None, None,
                                          "HVP fwd_rev faster than its gradient (1 ms)", None]
    summary = summary_markdown(table)
    assert "1 time is unstable" in summary and "- grad mlp S torch rev eager float32: 400 µs [360 µs, 1.53 ms]" in summary
    assert "1 time was contended" in summary and "- grad mlp S torch rev compiled float32: 300 µs, others used 45%" in summary
    assert "2 times are implausible" in summary
    # a run from before the interference measurement: its load average says it
    old = tidy.from_rows([{**row("grad", "torch", "rev", "eager", 0.0004), "load_average": 7.16, "usable_cpus": 2}])
    assert "- grad mlp S torch rev eager float32: 400 µs, load average 7.16 on 2 cores" in summary_markdown(old)
    best = headline(table[table.model == "mlp"])
    # torch: its one trusted time; jax: none (its grad and HVP contradict each other)
    assert best.splitlines() == ["| workload | case | torch |", "| --- | --- | --- |",
                                 "| grad | mlp S, cpu, float32 | **2 ms** [2 ms, 2 ms] rev graph |"]


def test_the_overview_answers_which_backend_is_fastest_and_by_how_much(known):
    from bench_lib.reporting.interactive import data

    skipped = {**row("hvp", "tensorflow", "fwd_rev", "compiled", None), "status": "skipped", "reason": "no"}
    contended = {**row("hvp", "jax", "rev_rev", "compiled", 0.001), "interference": 0.5, "interference_seconds": 9.0}
    table = tidy.from_rows(known.to_dict("records") + [skipped, contended])
    cells = data.cells(table)
    case = "m | hvp: mlp S, cpu, float32"
    # the contended 1 ms decides nothing: JAX's 3 ms is the fastest, torch's 4 ms 1.33 times it
    assert data.answer(cells, case) == {"backend": "jax", "mode": "fwd_rev", "execution": "compiled", "seconds": 0.003,
                                        "next_backend": "torch", "next_ratio": pytest.approx(4 / 3)}
    matrix = data.best_matrix(cells).set_index(["case", "backend"])
    assert matrix.loc[(case, "torch"), "label"] == "1.33x fwd_rev compiled"
    assert matrix.loc[(case, "tensorflow"), "label"] == "skipped" and np.isnan(matrix.loc[(case, "tensorflow"), "ratio"])
    # every cell keeps its asv dashboard page, its machine and parameters selected
    link = cells[(cells.case == case) & (cells.backend == "torch") & (cells.execution == "eager")].dashboard.iloc[0]
    assert link.startswith("#hvp.") and "machine=m" in link and "p-backend='torch'" in link.replace("%27", "'")


def test_the_static_figures_never_join_two_models_and_say_why_a_panel_is_empty(monkeypatch):
    from bench_lib.reporting import figures as figures_module

    drawn = {}
    monkeypatch.setattr(figures_module, "_png", lambda figure, name, title: drawn.setdefault(name, figure))
    hessians = [{**row("hessian", "jax", "native", "compiled", seconds, size=size), "model": model}
                for model, size, seconds in (("rosenbrock", "100", 1e-4), ("rosenbrock", "1000", 1e-3),
                                             ("mlp", "XS", 2e-2), ("mlp", "XXS", 3e-3))]
    hessians.append({**hessians[0], "backend": "torch", "mode": "vmap_hvp", "value": 2e-4, "q_25": 2e-4, "q_75": 2e-4})
    unrolled = [row("unrolled", backend, "reverse", "compiled", value, K=k, metric=metric)
                for backend in ("jax", "tensorflow") for k in (1, 10)
                for metric, value in (("time", 1e-3 * k), ("peak_memory", 2**20 * k))]
    hidden = [{**r, "value": None, "status": "not_measured", "reason": "not measured: TensorFlow's oneDNN allocator"}
              for r in unrolled if r["backend"] == "tensorflow" and r["metric"] == "peak_memory"]
    unrolled = [r for r in unrolled if not (r["backend"] == "tensorflow" and r["metric"] == "peak_memory")] + hidden
    figures_module.figures(tidy.from_rows(hessians + unrolled))

    panels = {axis.get_title(): axis for axis in drawn["hessian_scaling"].axes}
    mlp, rosenbrock = panels["mlp: Hessian time against n (cpu)"], panels["rosenbrock: Hessian time against n (cpu)"]
    assert [list(line.get_xdata()) for line in mlp.lines] == [[586, 2442]]  # mlp XXS and XS, nothing else
    assert sorted(line.get_label() for line in rosenbrock.lines) == ["jax native compiled", "torch vmap_hvp compiled"]
    panels = {axis.get_title(): axis for axis in drawn["unrolled_scaling"].axes}
    assert len(panels["jax, mlp S: peak memory against K"].lines) == 1
    empty = panels["tensorflow, mlp S: peak memory against K"]
    assert not empty.lines and "oneDNN allocator" in " ".join(text.get_text() for text in empty.texts)
