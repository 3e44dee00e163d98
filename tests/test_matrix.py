"""A release of asv.history.conf.json for real, as `make history` runs it: asv builds
one virtualenv (JAX only) from the commit, installs the project's wheel, and `bench`
runs one cell there; the cell records its release, and the report shows it as a release
run, apart from the suite's own environment.  And the hand-run matrix
(asv.matrix.conf.json) keeps one framework per environment."""

import json
import subprocess
import sys

import pytest
from conftest import committed_clone

from bench_lib.reporting import releases, tidy
from bench_lib.run import history


@pytest.mark.slow
def test_a_release_environment_is_built_and_a_cell_runs_there_with_its_release(tmp_path):
    repo = committed_clone(tmp_path / "clone")  # asv builds the project from a commit: this working tree's
    [release] = history.select(history.releases(repo), ("jax==0.10.2",))
    config = history.one_environment_config(repo, history.CONFIG, release, repo / ".asv" / "history")
    results = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, "-m", "bench_lib", "bench", "--preset", "history", "--config", str(config.relative_to(repo)),
         "--results", str(results), "--cells", "hvp/jax/fwd_rev/compiled/mlp-S/*"],
        cwd=repo, capture_output=True, text=True, timeout=1500,
    )
    output = run.stdout + run.stderr
    assert "Cannot decide correct one" not in output  # the project's wheel alone (--no-deps)
    assert run.returncode == 0, output[-4000:]
    assert history.environment_python(config).exists()  # where `make history` finds it again

    table = tidy.load(results, repo / "benchmarks")
    timed = table[table.metric == "time"]
    assert len(timed) == 1 and timed.iloc[0].status == "ok" and timed.iloc[0].jax == "0.10.2"
    assert timed.iloc[0].env_name.startswith("virtualenv-py3.11-") and "jax0.10.2" in timed.iloc[0].env_name
    # the processes imported the commit's bench_lib from the environment (same code, same hash)
    [outcome] = [json.loads(line) for path in (results / "outcomes").glob("*.jsonl") for line in path.read_text().splitlines()]
    assert outcome["conditions"]["bench_lib_path"].startswith(str(repo / ".asv" / "env"))
    trend = releases.trend(table)
    assert list(trend.release) == ["0.10.2"] and list(trend.cell) == ["hvp mlp S fwd_rev compiled float32"]


def test_the_hand_run_matrix_holds_one_framework_per_environment():
    from conftest import REPO

    found = history.releases(REPO, "asv.matrix.conf.json")
    assert {r.backend for r in found} == {"tensorflow", "jax", "torch"}
