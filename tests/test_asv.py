"""asv sees a consistent suite, and a real asv run records what the preset asked for."""

import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, asv_value, bench, config_in

import bench_lib.core.workloads
from bench_lib.suite import grid
from bench_lib.core import presets

def asv(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "asv", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def test_asv_check_passes():
    result = asv("check", "--python=same")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No problems found" in result.stdout


SUITES_IMPORTED = """
import pkgutil, sys
sys.argv = ["benchmark.py", "run_server"]  # as asv starts its forkserver
import benchmarks
for module in pkgutil.iter_modules(benchmarks.__path__):
    __import__(f"benchmarks.{module.name}")
print(sorted(m for m in ("jax", "torch", "tensorflow") if m in sys.modules))
"""


def test_importing_the_suites_imports_no_framework():
    """asv's forkserver imports the suites and forks every benchmark process from
    itself: a framework imported there would be in every fork, which frameworks do not
    support (docs/methodology.md, "Each process imports its framework")."""
    run = subprocess.run([sys.executable, "-c", SUITES_IMPORTED], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_preset_regexes_select_exactly_the_preset_cells():
    """asv matches --bench against '<name>(<param reprs>)' for every parameter combination."""
    cells = presets.get("default").cells()
    regexes = grid.asv_regexes(cells, REPO / "benchmarks")
    selected = 0
    for benchmark in grid.benchmarks(REPO / "benchmarks"):
        for combo in itertools.product(*benchmark.params):
            label = f"{benchmark.name}({', '.join(repr(v) for v in combo)})"
            selected += any(re.search(r, label) for r in regexes)
    # one timing and four check benchmarks per cell (error, first call, peak memory,
    # device memory), and the approximation error of each first-order MAML cell
    approximations = sum(1 for cell in cells if cell.mode in cell.spec.approximations)
    assert approximations > 0 and selected == 5 * len(cells) + approximations


@pytest.mark.slow
def test_asv_records_timed_verified_and_skipped_cells(smoke_results):
    results, work, stdout = smoke_results
    compiled = ("jax", "fwd_rev", "compiled", "S", "cpu", "float32", "strict")
    assert 0 < asv_value(results, "hvp.MlpHVP.time_hvp", compiled) < 1.0
    assert 0 < asv_value(results, "hvp.MlpHVPChecks.track_error", compiled) <= 1e-4
    assert asv_value(results, "hvp.MlpHVPChecks.track_first_call", compiled) > 0
    assert asv_value(results, "grad.MlpGrad.time_grad", ("jax", "compiled", "S", "cpu", "float32", "strict")) > 0
    vmap = ("jax", "vmap_hvp", "compiled", "XXS", "cpu", "float32", "strict")
    assert 0 < asv_value(results, "hessian.MlpHessian.time_hessian", vmap) < 1.0
    assert asv_value(results, "hessian.MlpHessianChecks.track_peak_memory", vmap) >= 586 * 586 * 4
    loop = ("jax", "loop_hvp", "compiled", 100, "cpu", "float32", "strict")
    assert 0 < asv_value(results, "hessian.RosenbrockHessianByRows.time_hessian", loop) < 1.0
    assert 0 < asv_value(results, "hessian.RosenbrockHessianChecks.track_error", loop) <= 1e-4
    # K and the optimizer are asv parameters; first-order MAML is timed, verified
    # against its own reference, and its distance to the exact outputs recorded.
    maml = ("jax", "first_order", "compiled", "S", "cpu", "float32", "strict", 10, "sgd")
    assert 0 < asv_value(results, "unrolled.MlpUnrolled.time_unrolled", maml) < 1.0
    assert 0 < asv_value(results, "unrolled.MlpUnrolledChecks.track_error", maml) <= 1e-4
    assert asv_value(results, "unrolled.MlpUnrolledFirstOrder.track_approximation_error", maml) > 0.1
    # A skip (jax has no graph mode) is NaN in asv's JSON, a failure would be null.
    skipped = asv_value(results, "grad.MlpGrad.time_grad", ("jax", "graph", "S", "cpu", "float32", "strict"))
    assert skipped is not None and math.isnan(skipped)
    # Cells outside the preset were not run.
    outside = asv_value(results, "grad.MlpGrad.time_grad", ("torch", "eager", "S", "cpu", "float32", "strict"))
    assert outside is None or math.isnan(outside)
    assert (work / "html" / "index.html").exists()
    assert "results:" in stdout and "dashboard:" in stdout


@pytest.mark.slow
def test_the_run_keeps_skip_reasons_and_conditions_that_asv_drops(smoke_results):
    _, work, stdout = smoke_results
    files = list((work / "results" / "outcomes").glob("*.jsonl"))
    assert len(files) == 1 and str(files[0]) in stdout
    outcomes = [json.loads(line) for line in files[0].read_text().splitlines()]
    by_execution = {(o["cell"]["workload"], o["cell"]["execution"]): o for o in outcomes}
    assert len(outcomes) == len(presets.get("smoke").cells()) == 7
    skipped = by_execution[("grad", "graph")]
    assert skipped["status"] == "skipped" and "JAX has no graph execution" in skipped["reason"]
    verified = by_execution[("hvp", "compiled")]
    assert verified["status"] == "verified" and verified["margin"] <= 1.0
    assert 0 < verified["errors"]["hvp"] <= verified["tolerances"]["hvp"]
    assert verified["conditions"]["threads"] >= 1 and verified["conditions"]["jax"]
    hessians = [o for o in outcomes if o["cell"]["workload"] == "hessian"]
    assert len(hessians) == 2
    assert all(o["status"] == "verified" and o["peak_memory_bytes"] > 0 for o in hessians)
    [maml] = [o for o in outcomes if o["cell"]["workload"] == "unrolled"]
    assert maml["cell"]["keywords"] == [["K", 10], ["optimizer", "sgd"]]
    assert maml["status"] == "verified" and maml["approximation_errors"]["d_init"] > 0.1
    # what the rest of the machine did while each timed cell was timed: over about 2.5 s for
    # the grad and HVP (0.5 s of asv's warm-up and 2 s of samples)
    timed = {(o["cell"]["workload"], o["cell"]["model"]): o["conditions"] for o in outcomes if o["status"] == "verified"}
    assert all(0 <= conditions["interference"] <= 1.5 for conditions in timed.values()), timed
    assert timed[("grad", "mlp")]["interference_seconds"] > 1.0 and timed[("hvp", "mlp")]["interference_seconds"] > 1.0


@pytest.mark.slow
def test_asv_runs_the_timing_benchmark_first_so_each_cell_is_prepared_once(smoke_results):
    """The check benchmarks read the timing process's record; that holds while asv runs
    '<Suite>.time_*' before '<Suite>Checks.track_*' (name order).  Otherwise a check
    process prepares the cell again, and this test says so.  A cell timed while the
    machine was busy is timed once more at the end of the run (it keeps its
    ``first_timing``): that second timing process prepares it once more."""
    _, work, _ = smoke_results
    [path] = (work / "results" / "outcomes").glob("*.jsonl")
    for outcome in map(json.loads, path.read_text().splitlines()):
        timings = 2 if "first_timing" in outcome else 1
        assert outcome["preparations"] == timings and outcome["prepared_in"] == "time", outcome["cell"]


@pytest.mark.slow
def test_the_run_leaves_no_records_behind(smoke_results):
    _, work, _ = smoke_results
    leftover = work / "results" / ".records"
    assert not leftover.exists() or not list(leftover.iterdir())


@pytest.mark.slow
def test_a_users_run_leaves_the_checkouts_tracked_files_alone(smoke_results):
    """`make bench` in a clean clone: its results, report, logs and dashboard go to
    results/ and html/, both ignored, so `git status` shows nothing to commit and the
    committed reference run is as it was."""
    _, work, stdout = smoke_results
    git = ["git", "status", "--porcelain", "--untracked-files=all"]
    assert subprocess.run(git, cwd=work, capture_output=True, text=True, check=True).stdout == ""
    ignored = subprocess.run([*git, "--ignored"], cwd=work, capture_output=True, text=True, check=True).stdout
    assert not [line for line in ignored.splitlines() if line.startswith("!! reference/")], ignored
    assert f"results: {work / 'results'} " in stdout and f"report: {work / 'results' / 'report'}" in stdout
    assert (work / "results" / "report" / "summary.md").is_file() and (work / "html" / "index.html").is_file()


@pytest.mark.slow
def test_the_environment_is_named_by_versions_and_threads_not_by_the_checkouts_path(smoke_results):
    """Two clones with the same versions file their results under one environment
    name, so asv's compare and dashboard line them up (the `installed` environment)."""
    from bench_lib.core import conditions
    from bench_lib.run.asv_environment import describe

    results, work, _ = smoke_results
    python, frameworks = describe(sys.executable)
    assert frameworks == {name: version for backend in ("tensorflow", "jax", "torch")
                          for name, version in conditions.framework_versions(backend).items() if version}
    versions = "-".join(f"{name}{version}" for name, version in sorted(frameworks.items()))
    assert results["env_name"] == f"installed-py{python}-{versions}-BENCH_THREADS{conditions.threads()}"
    assert results["params"]["python"] == python == "{0}.{1}".format(*sys.version_info)
    assert results["requirements"] == frameworks  # the dashboard offers them as a virtualenv's
    assert str(work) not in json.dumps({key: value for key, value in results.items() if key != "results"})


def test_bad_thread_count_stops_the_run_before_asv_records_anything():
    run = bench("--preset", "smoke", env={**os.environ, "BENCH_THREADS": "lots"}, timeout=120)
    assert run.returncode == 2
    assert "BENCH_THREADS must be an integer from 1 to" in run.stderr and "got 'lots'" in run.stderr
    assert "asv:" not in run.stdout


def test_time_suites_split_each_workloads_modes_and_checks_cover_them_all():
    """A cell is timed by exactly one benchmark and checked by every track_* method."""
    benchmarks = grid.benchmarks(REPO / "benchmarks")
    for name, workload in bench_lib.core.workloads.REGISTRY.items():
        for model in workload.sizes:
            ours = [b for b in benchmarks if (b.workload, b.model) == (name, model)]
            timed = [mode for b in ours if ".time_" in b.name for mode in b.modes]
            assert sorted(timed) == sorted(workload.modes), (name, model)
            tracks = {b.name.rsplit(".", 1)[1] for b in ours if ".track_" in b.name and b.modes == workload.modes}
            assert tracks == {"track_error", "track_first_call", "track_peak_memory", "track_device_memory"}, (name, model)
            approximated = [mode for b in ours if b.name.endswith(".track_approximation_error") for mode in b.modes]
            assert approximated == list(workload.approximations), (name, model)


def test_the_run_names_its_thread_count_to_asv_and_keeps_the_configurations_paths(tmp_path):
    """asv reads a configuration's paths from its own folder, and puts matrix environment
    variables in the environment's name, which its `compare` and dashboard keep apart."""
    from bench_lib.run import asv_config

    (tmp_path / "asv.conf.json").write_text(
        '{\n  // a comment, as asv allows\n  "version": 1, "repo": ".", "benchmark_dir": "benchmarks",'
        ' "results_dir": "results", "html_dir": "html", "env_dir": ".asv/env",'
        ' "matrix": {"env": {"OTHER": ["1"]}}}'
    )
    derived = json.loads(Path(asv_config.derived_config(tmp_path, "asv.conf.json", "token", 3)).read_text())
    assert derived["repo"] == str(tmp_path.resolve()) and derived["results_dir"] == str(tmp_path.resolve() / "results")
    assert derived["matrix"]["env"] == {"OTHER": ["1"], "BENCH_THREADS": ["3"]}
    assert derived["plugins"] == [asv_config.ENVIRONMENT_PLUGIN]  # the environment `bench` runs asv in
    elsewhere = json.loads(Path(asv_config.derived_config(tmp_path, "asv.conf.json", "t2", results_dir=tmp_path / "mine"))
                           .read_text())
    assert elsewhere["results_dir"] == str(tmp_path.resolve() / "mine") and elsewhere["matrix"] == {"env": {"OTHER": ["1"]}}


def test_a_part_of_a_preset_without_cells_is_an_error_before_asv_runs(tmp_path):
    run = bench("--preset", "smoke", "--config", str(config_in(tmp_path)), "--workloads", "unrolled", "--models",
                "rosenbrock", timeout=120)
    assert run.returncode == 2
    assert "preset 'smoke' has no cells of workloads ['unrolled'], models ['rosenbrock'] and sizes []" in run.stderr
    assert not (tmp_path / "results").exists()
    run = bench("--preset", "smoke", "--config", str(config_in(tmp_path)), "--cells", "hvp/tensorflow/*", timeout=120)
    assert run.returncode == 2 and ("has no cells of workloads [], models [] and sizes [] matching ['hvp/tensorflow/*'] "
                                    "(`python -m bench_lib cells --preset smoke` lists its cells)") in run.stderr


def test_cell_patterns_pick_a_presets_cells_by_label():
    """`bench --cells`: a cell is run when its label matches one of the patterns."""
    from bench_lib.run.plan import Request

    request = Request("default", REPO, cells=("hvp/torch/*/compiled/*", "grad/jax/rev/compiled/mlp-S/*"))
    cells = presets.get("default").cells()
    expected = [cell for cell in cells if (cell.workload, cell.backend, cell.execution) == ("hvp", "torch", "compiled")
                or (cell.workload, cell.backend, cell.execution, cell.model, cell.size) == ("grad", "jax", "compiled", "mlp", "S")]
    assert len(expected) > 1 and [cell for cell in cells if request.selected(cell)] == expected


def test_a_preset_in_the_environment_runs_its_cells_and_skips_the_rest_saying_so(monkeypatch):
    """`BENCH_PRESET=smoke asv run ...`: over every suite's whole grid, the preset's cells
    are run and every other cell is a skip naming the preset."""
    import itertools

    from bench_lib.backends.support import CellUnsupported
    from bench_lib.suite import harness

    monkeypatch.setenv(harness.PRESET_ENV, "smoke")
    run, skipped = set(), 0
    for name, suite in suite_classes():
        for values in itertools.product(*suite.params):
            try:
                run.add(suite()._cell(values))
            except CellUnsupported as skip:
                assert str(skip) == "not in preset 'smoke' (BENCH_PRESET)", name
                skipped += 1
    assert run == set(presets.get("smoke").cells()) and skipped > 1000
    monkeypatch.setenv(harness.PRESET_ENV, "everything")
    with pytest.raises(ValueError, match="unknown preset 'everything'"):
        harness.outside_the_preset(next(iter(run)))


def suite_classes():
    """Every timing suite class of benchmarks/ (one per workload, model and timing settings)."""
    import importlib
    import pkgutil

    import benchmarks
    from bench_lib.suite import harness

    for module in pkgutil.iter_modules(benchmarks.__path__):
        loaded = importlib.import_module(f"benchmarks.{module.name}")
        for name, value in vars(loaded).items():
            if isinstance(value, type) and issubclass(value, harness.TimeSuite) and "workload" in value.__dict__:
                yield f"{module.name}.{name}", value


def test_a_run_is_one_asv_run_per_workload_and_backend_each_of_exactly_its_cells():
    """asv saves a run's results only when it ends: a stopped run loses one backend's
    cells of one workload, never a whole workload."""
    import re

    from bench_lib.run.plan import Request, validate
    from bench_lib.suite import grid

    plan = validate(Request("default", REPO, workloads=("grad", "hvp"), allow_uncommitted=True))
    chunks = plan.chunks()
    assert [(chunk.workload, chunk.backend) for chunk in chunks] == [
        (workload, backend) for workload in ("grad", "hvp") for backend in ("tensorflow", "jax", "torch")]
    assert sorted(cell.label for chunk in chunks for cell in chunk.cells) == sorted(cell.label for cell in plan.cells)
    suite = grid.benchmarks(REPO / "benchmarks")
    for chunk in chunks:
        assert {(cell.workload, cell.backend) for cell in chunk.cells} == {(chunk.workload, chunk.backend)}
        for cell in plan.cells:
            names = [f"{b.name}({grid.param_reprs(cell)})" for b in suite if b.covers(cell)]
            matched = [name for name in names if any(re.search(regex, name) for regex in chunk.regexes)]
            assert matched == (names if cell in chunk.cells else []), (chunk.name, cell.label)
