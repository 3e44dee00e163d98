"""Bad settings and bad arguments: one clear line naming the value and what is accepted,
exit status 2, nothing written, and no framework imported for an argument the API
can judge by itself."""

import json
import subprocess
import sys

import pytest
from conftest import REPO, bench, config_in, time_row

from bench_lib.core import conditions


def test_more_threads_than_usable_cpus_is_refused(monkeypatch, tmp_path):
    usable = len(conditions.available_cpus())
    for bad in (str(usable + 1), "999", "0", "two"):
        monkeypatch.setenv(conditions.THREADS_ENV, bad)
        with pytest.raises(ValueError, match=f"from 1 to {usable} .*got '{bad}'"):
            conditions.threads()
    import os

    run = bench("--preset", "smoke", "--config", str(config_in(tmp_path)),
                env={**os.environ, conditions.THREADS_ENV: "999"})
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        f"error: {conditions.THREADS_ENV} must be an integer from 1 to {usable} (the CPUs this process may use), "
        "got '999'"
    ]
    assert not (tmp_path / "results").exists()


def test_a_missing_config_or_repository_is_named_without_a_traceback(tmp_path):
    for args, message in (
        (["--config", "nosuch.json"], "error: --config nosuch.json: no such file in"),
        (["--repo", "/nonexistent"], "error: --repo /nonexistent: no such folder"),
        (["--repo", str(tmp_path)], "no benchmarks/ folder there"),
    ):
        run = bench("--preset", "smoke", *args)
        assert run.returncode == 2, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and message in run.stderr and "Traceback" not in run.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    run = bench("--preset", "smoke", "--config", str(broken))
    assert run.returncode == 2 and f"--config {broken}: asv cannot read it" in run.stderr


IMPORTS = """
import sys, bench_lib
try:
    bench_lib.prepare("grad", "jax", "rev", "eager", "rosenbrock", {size}, seed={seed})
except ValueError as error:
    print(error)
print(sorted(m for m in ("jax", "torch", "tensorflow") if m in sys.modules))
"""


@pytest.mark.parametrize("size, seed, message", [
    ("1000.0", "0", "size 1000.0 (float) of model 'rosenbrock' for workload 'grad' must be written as one of"),
    ("1000", "True", "seed must be a non-negative int, got True"),
    ("1000", "1.5", "seed must be a non-negative int, got 1.5"),
    ("1000", "-1", "seed must be a non-negative int, got -1"),
    ("True", "0", "unknown size True for model 'rosenbrock'"),
])
def test_the_api_refuses_lookalike_sizes_and_seeds_before_importing_a_framework(size, seed, message):
    run = subprocess.run([sys.executable, "-c", IMPORTS.format(size=size, seed=seed)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    first, imported = run.stdout.strip().splitlines()
    assert message in first and imported == "[]"


def test_numpy_integers_are_taken_as_the_ints_they_are():
    import numpy as np

    from bench_lib import Cell

    cell = Cell("grad", "jax", "rev", "eager", "rosenbrock", np.int64(1000), seed=np.int64(3))
    assert type(cell.size) is int and type(cell.seed) is int
    assert cell == Cell("grad", "jax", "rev", "eager", "rosenbrock", 1000, seed=3)


@pytest.mark.slow
def test_overhead_with_no_cell_to_measure_is_an_error_not_a_perfect_score(smoke_results, capsys, monkeypatch):
    from bench_lib.__main__ import main

    _, work, _ = smoke_results
    monkeypatch.chdir(work)  # the clone: the run's commit
    status = main(["overhead", "--preset", "smoke", "--config", str(work / "asv.conf.json"), "--min-ms", "1e9"])
    assert status == 2
    assert "nothing to measure" in capsys.readouterr().err


def test_a_framework_that_fails_to_import_stops_the_run_in_one_line(tmp_path):
    import os

    fake = tmp_path / "fake" / "jax"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('planted: libjax.so is missing')\n")
    # asv hands ASV_PYTHONPATH to its benchmark processes: so does the check before the run
    run = bench("--preset", "smoke", "--config", str(config_in(tmp_path)), "--allow-uncommitted",
                env={**os.environ, "ASV_PYTHONPATH": str(tmp_path / "fake")})
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: jax is installed but fails to import (jax): ImportError: planted: libjax.so is missing: fix the "
        "environment (make setup), or uninstall it to skip its cells"
    ]
    assert not (tmp_path / "results").exists()


def test_versions_other_than_the_pins_and_gpu_cells_without_a_gpu_are_said_once(tmp_path, monkeypatch):
    from bench_lib.core import gpu, presets
    from bench_lib.run import preflight

    (tmp_path / "constraints.txt").write_text("jax==0.0.1\njaxlib==0.0.1\n")
    notes = preflight.version_notes({"jax"}, tmp_path / "constraints.txt")
    assert len(notes) == 2 and notes[0].startswith(f"note: jax {conditions.package_version('jax')} is installed; "
                                                   "constraints.txt pins 0.0.1")
    assert preflight.version_notes({"jax"}, REPO / "constraints.txt") == []  # this venv is the pinned one
    monkeypatch.setattr(gpu, "driver_conditions", lambda: {})
    cells = [c for c in presets.get("gpu").cells() if c.backend == "jax" and c.workload == "grad" and c.size == "L"]
    notes = preflight.check(cells, dict(__import__("os").environ), REPO)
    assert notes == [f"note: {len(cells)} GPU cells and no GPU here (no nvidia-smi): each will be a skip with the "
                     "framework's reason"]


@pytest.mark.parametrize("option, wait", [("--wait", "nan"), ("--wait", "inf"), ("--wait", "-1"), ("--wait-quiet", "nan")])
def test_a_wait_that_never_ends_or_is_negative_is_refused(option, wait, tmp_path):
    run = bench("--preset", "smoke", "--workloads", "grad", option, wait, "--config", str(config_in(tmp_path)),
                "--allow-uncommitted", timeout=120)
    assert run.returncode == 2 and f"{option} must be a finite number of seconds, 0 or more" in run.stderr, run.stderr
    assert not (tmp_path / "results").exists()


def test_a_report_into_a_file_is_refused_naming_it(tmp_path):
    from bench_lib.reporting import page, tidy

    readme = tmp_path / "README.md"
    readme.write_text("kept")
    with pytest.raises(ValueError, match=f"--out {readme}: a file, not a folder"):
        page.write(tidy.from_rows([time_row()]), readme)
    assert readme.read_text() == "kept"


def test_a_folder_that_is_no_git_checkout_of_its_own_is_named(tmp_path):
    """asv reads commits from git: a copy without git (say, an unpacked archive) and a
    copy inside another repository (whose commit git would name) are refused by `bench`
    and by `publish` (`make dashboard`), saying what git found."""
    import subprocess
    import sys

    from conftest import GIT, working_tree_copy

    plain = working_tree_copy(tmp_path / "plain")
    outer = tmp_path / "outer"
    inner = working_tree_copy(outer / "suite")
    subprocess.run(["git", "init", "--quiet", str(outer)], check=True)
    subprocess.run([*GIT, "-C", str(outer), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(outer), "commit", "--quiet", "-m", "another project"], check=True)
    for folder, problem in ((plain, f"{plain} is not a git checkout ("),
                            (inner, f"{inner} is not a git checkout of its own: it lies inside the repository at "
                                    f"{outer}")):
        for command in (["bench", "--preset", "smoke", "--workloads", "grad"], ["publish"]):
            run = subprocess.run([sys.executable, "-m", "bench_lib", *command], cwd=folder, capture_output=True,
                                 text=True, timeout=120)
            assert run.returncode == 2, (command, run.stdout, run.stderr)
            assert problem in run.stderr and "Traceback" not in run.stderr, (command, run.stderr)
            assert not (folder / "results" / "logs").exists() and not (folder / "html").exists()  # nothing ran


def test_publishing_a_results_folder_that_does_not_exist_names_it(tmp_path):
    missing = tmp_path / "none"
    run = subprocess.run([sys.executable, "-m", "bench_lib", "publish", "--results", str(missing)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr == f"publish: no results folder {missing}\n"


def test_a_run_under_a_machine_name_that_earlier_runs_measured_on_another_cpu_is_refused(tmp_path):
    """asv files runs by machine name alone: another CPU's runs under the same name would
    be drawn, ranked and compared as one machine's."""
    from bench_lib.core.manifest import Environment, Manifest
    from bench_lib.run.preflight import check_same_cpu

    folder = tmp_path / "kept"
    for machine, cpu in (("elsewhere", "Another CPU"), ("here", conditions.cpu_name())):
        outcomes = f"outcomes/{machine}.jsonl"
        (folder / "outcomes").mkdir(parents=True, exist_ok=True)
        record = {"cell": {"workload": "grad"}, "status": "verified", "conditions": {"cpu": cpu}}
        (folder / outcomes).write_text(json.dumps(record) + "\n")
        Manifest(run_id=f"run-{machine}", machine=machine, commit="c" * 40, preset="smoke", workloads=["grad"], cells=1,
                 started="2026-12-01T00:00:00+00:00", status="ok",
                 environments=[Environment("env", "history/x.asv-result", outcomes)]).write(folder)
    check_same_cpu(folder, "here")  # the same CPU, and a machine of no earlier run
    check_same_cpu(folder, "new")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    run = bench("--preset", "smoke", "--config", str(config_in(tmp_path)), "--results", str(folder), "--machine",
                "elsewhere", "--allow-uncommitted", timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert (f"error: {folder} holds runs of machine 'elsewhere' measured on another CPU (Another CPU, run "
            f"run-elsewhere); this one is {conditions.cpu_name()}, and asv would file both under 'elsewhere': name this "
            "machine with --machine NAME, or keep its runs in another folder with --results FOLDER") in run.stderr
    assert sorted(p.relative_to(folder) for p in folder.rglob("*") if p.name != ".run.lock") == before
