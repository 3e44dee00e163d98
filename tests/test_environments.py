"""A run over two asv environments keeps every cell's status in both: the manifest
names each environment's results and outcomes, and the tidy table reads them."""

import json

import pytest
from conftest import REPO, bench, config_in

from bench_lib.core.manifest import manifests
from bench_lib.reporting import tidy


@pytest.mark.slow
def test_two_environments_in_one_run_keep_every_cells_status(tmp_path):
    config = config_in(tmp_path, matrix={"env": {"BENCH_TEST_ENV": ["a", "b"]}})  # two environments of one Python
    run = bench("--preset", "smoke", "--workloads", "grad", "--config", str(config), "--allow-uncommitted")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [manifest] = manifests(tmp_path / "results")
    assert manifest.status == "ok" and manifest.exit_status == 0 and manifest.ended
    names = sorted(environment.name for environment in manifest.environments)
    assert len(names) == 2 and "BENCH_TEST_ENVa" in names[0] and "BENCH_TEST_ENVb" in names[1]
    for environment in manifest.environments:
        outcomes = [json.loads(line) for line in (tmp_path / "results" / environment.outcomes).read_text().splitlines()]
        statuses = {record["cell"]["execution"]: record["status"] for record in outcomes}
        assert statuses == {"graph": "skipped", "compiled": "verified"}, (environment.name, statuses)
    table = tidy.load(tmp_path / "results", REPO / "benchmarks")
    times = table[table.metric == "time"].set_index(["env_name", "execution"]).status.astype(str).sort_index()
    assert times.to_dict() == {
        (names[0], "compiled"): "ok", (names[0], "graph"): "skipped",
        (names[1], "compiled"): "ok", (names[1], "graph"): "skipped",
    }
    assert set(table.run_id) == {manifest.run_id}
