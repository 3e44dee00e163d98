"""asv.matrix.conf.json for real: asv builds one virtualenv (JAX only) from the commit,
installs the project's wheel and runs one cell."""

import json
import subprocess
import sys

import pytest
from conftest import committed_clone
from asv import util as asv_util

from bench_lib.suite import grid
from bench_lib.core import presets
from bench_lib.reporting import tidy


@pytest.mark.slow
def test_the_version_matrix_builds_an_environment_and_runs_a_cell(tmp_path):
    repo = committed_clone(tmp_path / "clone")  # asv builds the project from a commit: this working tree's
    config = asv_util.load_json(str(repo / "asv.matrix.conf.json"), js_comments=True)
    jax_envs = [env for env in config["include"] if "jax" in env["req"]]
    assert len(jax_envs) >= 2, "the matrix compares JAX versions"
    newest = max(jax_envs, key=lambda env: tuple(int(part) for part in env["req"]["jax"].split(".")))
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    config.update(
        repo=str(repo), benchmark_dir=str(repo / "benchmarks"), env_dir=str(tmp_path / "env"),
        results_dir=str(tmp_path / "results"), html_dir=str(tmp_path / "html"), pythons=[python],
        include=[{**newest, "python": python}],
    )
    (tmp_path / "asv.conf.json").write_text(json.dumps(config))
    cell = presets.Selection(
        workloads=("hvp",), models=("mlp",), sizes=("S",), backends=("jax",), modes=("fwd_rev",),
        executions=("compiled",), devices=("cpu",), dtypes=("float32",),
    )
    [regex] = [r for r in grid.asv_regexes(list(cell.cells()), repo / "benchmarks") if ".time_" in r]
    asv = [sys.executable, "-m", "asv"]
    conf = ["--config", str(tmp_path / "asv.conf.json")]
    subprocess.run([*asv, "machine", "--yes", *conf], cwd=repo, check=True, capture_output=True)
    run = subprocess.run(
        [*asv, "run", *conf, "HEAD^!", "--bench", regex, "--show-stderr"],
        cwd=repo, capture_output=True, text=True, timeout=1500,
    )
    output = run.stdout + run.stderr
    assert "Cannot decide correct one" not in output
    assert run.returncode == 0, output[-4000:]

    table = tidy.load(tmp_path / "results", repo / "benchmarks")
    assert set(table.env_name) == {next(iter(set(table.env_name)))} and "jax" + newest["req"]["jax"] in table.env_name[0]
    assert len(table) == 1
    timed = table.iloc[0]
    assert (timed.workload, timed.backend, timed["mode"], timed.metric, timed.status) == ("hvp", "jax", "fwd_rev", "time", "ok")
    assert timed.jax == newest["req"]["jax"]  # from asv's environment: a plain asv run keeps no outcome records
    assert 1e-6 < timed.value < 1.0
    # the environment's bench_lib is installed from the commit, not another checkout: no warning, asv's own version
    [result] = [p for p in (tmp_path / "results").glob("*/*.json") if p.name != "machine.json"]
    assert {row[2] for row in json.loads(result.read_text())["results"].values()} == {"1"}
    assert "warning: these benchmarks are" not in output
