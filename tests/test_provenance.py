"""Which code ran: a second clone sharing this virtualenv (whose editable install is
this checkout) runs its own bench_lib under asv, every cell records which one, and
uncommitted changes stop a run unless allowed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, bench, config_in

from bench_lib.core import conditions, provenance
from bench_lib.run import checkout


def test_the_source_hash_follows_every_python_file(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    first = provenance.source_hash(package)
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert provenance.source_hash(package) != first
    assert provenance.imported()["bench_lib_path"] == str(REPO / "bench_lib")
    recorded = conditions.record()
    assert recorded["bench_lib_hash"] == provenance.source_hash(REPO / "bench_lib") and "uncommitted" in recorded


def clone(tmp_path) -> Path:
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    return target


@pytest.mark.slow
def test_a_second_clone_times_its_own_code_not_the_installed_one(planted_run):
    """The clone of conftest.planted_run: among its planted faults, its JAX backend's mlp
    Hessian (a vmap of HVPs) is 0.1% off.  This checkout's right one passes (the smoke
    run); the clone's wrong one is what asv's processes ran."""
    run, _, clone, results = planted_run
    assert run.returncode != 0  # asv's exit status: a benchmark failed
    assert "| invalid | 1 | VerificationError: hessian/jax/vmap_hvp/compiled/mlp-XXS" in run.stdout  # the summary
    outcomes = [json.loads(line) for path in sorted((results / "outcomes").glob("*.jsonl"))
                for line in path.read_text().splitlines()]
    by_cell = {(o["cell"]["workload"], o["cell"]["model"], o["cell"]["execution"]): o for o in outcomes}
    wrong = by_cell[("hessian", "mlp", "compiled")]
    assert wrong["status"] == "invalid" and "VerificationError" in wrong["message"]
    right = by_cell[("hessian", "rosenbrock", "compiled")]  # no fault planted in its code path
    assert right["status"] == "verified"
    assert right["conditions"]["bench_lib_path"] == str(clone / "bench_lib")
    assert right["conditions"]["bench_lib_hash"] == provenance.source_hash(clone / "bench_lib")
    assert right["conditions"]["bench_lib_hash"] != provenance.source_hash(REPO / "bench_lib")


def test_uncommitted_changes_stop_the_run_unless_allowed(tmp_path):
    other = clone(tmp_path)
    (other / "bench_lib" / "verification" / "verify.py").write_text((other / "bench_lib" / "verification" / "verify.py").read_text() + "\n# changed\n")
    run = bench("--preset", "smoke", "--config", str(config_in(tmp_path, repo=other)), cwd=other, timeout=300)
    assert run.returncode == 2
    assert "1 files differ from commit" in run.stderr and "bench_lib/verification/verify.py" in run.stderr
    assert "--allow-uncommitted" in run.stderr and not (tmp_path / "results").exists()
    assert checkout.uncommitted(other) == ["bench_lib/verification/verify.py"]


@pytest.mark.slow
def test_a_plain_asv_run_of_another_checkouts_suites_says_which_bench_lib_ran(tmp_path):
    """A plain ``asv run`` (no ASV_PYTHONPATH) from a clone sharing this virtualenv: its
    processes import the virtualenv's editable install (this checkout, in a clean clone)
    beside the clone's suites.  They warn, and asv's result file names that bench_lib in
    the benchmark's version."""
    import os

    from conftest import committed_clone

    from bench_lib.core.cells import Cell
    from bench_lib.suite import grid

    environ = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    installed = Path(checkout.as_seen_by(environ, sys.executable)["bench_lib_path"])  # as asv's processes see it
    other = committed_clone(tmp_path / "clone")
    config = config_in(tmp_path, repo=other)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=other, capture_output=True, text=True).stdout.strip()
    cell = Cell("grad", "jax", "rev", "compiled", "rosenbrock", 1000, "cpu", "float32")
    [timing, *_] = grid.regexes_by_workload([cell], REPO / "benchmarks")["grad"]
    asv = [sys.executable, "-m", "asv"]
    subprocess.run([*asv, "machine", "--yes", "--machine", "vm", "--config", str(config)], cwd=other, check=True,
                   capture_output=True)
    run = subprocess.run([*asv, "run", "--python=same", "--config", str(config), "--set-commit-hash", commit,
                          "--machine", "vm", "--show-stderr", "--bench", timing], cwd=other, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (f"warning: these benchmarks are {other}'s, but this process imported bench_lib from {installed}"
            in " ".join(run.stdout.split()))
    [result] = (tmp_path / "results" / "vm").glob(f"{commit[:8]}-*.json")
    version = json.loads(result.read_text())["results"]["grad.RosenbrockGrad.time_grad"][2]
    assert version == f"1 (bench_lib {provenance.source_hash(installed)} of {installed}, not of {other})"
