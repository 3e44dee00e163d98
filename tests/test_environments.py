"""A run over two asv environments keeps every cell's status in both: the manifest
names each environment's results and outcomes, and the tidy table reads them.  The run
is of uncommitted code, which asv's commit files never keep."""

import json
import subprocess

import pytest
from conftest import REPO, bench, committed_clone, config_in

from bench_lib.core.manifest import manifests
from bench_lib.reporting import compare, tidy
from bench_lib.reporting.summary import readme_headline, summary_markdown


@pytest.fixture(scope="module")
def uncommitted_run(tmp_path_factory):
    """The smoke preset's grad cells in two environments of one Python (a matrix of
    environment variables), from a clone with a change to ``benchmarks/grad.py`` that is
    not committed: (the finished process, the clone, the run's folder)."""
    work = tmp_path_factory.mktemp("environments")
    clone = committed_clone(work / "clone")
    changed = clone / "benchmarks" / "grad.py"
    changed.write_text(changed.read_text() + "\n# an uncommitted change\n")
    config = config_in(work, repo=clone, matrix={"env": {"BENCH_TEST_ENV": ["a", "b"]}})
    run = bench("--preset", "smoke", "--workloads", "grad", "--config", str(config), "--allow-uncommitted", cwd=clone)
    return run, clone, work / "results"


@pytest.mark.slow
def test_two_environments_in_one_run_keep_every_cells_status(uncommitted_run):
    run, _, results = uncommitted_run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [manifest] = manifests(results)
    assert manifest.status == "ok" and manifest.exit_status == 0 and manifest.ended
    names = sorted(environment.name for environment in manifest.environments)
    assert len(names) == 2 and "BENCH_TEST_ENVa" in names[0] and "BENCH_TEST_ENVb" in names[1]
    for environment in manifest.environments:
        outcomes = [json.loads(line) for line in (results / environment.outcomes).read_text().splitlines()]
        statuses = {record["cell"]["execution"]: record["status"] for record in outcomes}
        assert statuses == {"graph": "skipped", "compiled": "verified"}, (environment.name, statuses)
    table = tidy.load(results, REPO / "benchmarks")
    times = table[table.metric == "time"].set_index(["env_name", "execution"]).status.astype(str).sort_index()
    assert times.to_dict() == {
        (names[0], "compiled"): "ok", (names[0], "graph"): "skipped",
        (names[1], "compiled"): "ok", (names[1], "graph"): "skipped",
    }
    assert set(table.run_id) == {manifest.run_id}


@pytest.mark.slow
def test_a_run_of_uncommitted_code_stays_out_of_asvs_files_and_is_marked(uncommitted_run, capsys):
    run, clone, results = uncommitted_run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    # asv wrote its commit files and got them back as they were: none, here
    assert [p.name for p in results.glob("*/*.json")] == ["machine.json"]
    assert f"asv's file of commit {commit[:8]}, and so the dashboard, do not have this run's numbers" in run.stdout
    [manifest] = manifests(results)
    assert manifest.uncommitted == ["benchmarks/grad.py"]
    table = tidy.load(results, REPO / "benchmarks")
    assert (table[table.status == "ok"].uncommitted == "benchmarks/grad.py").all()
    note = f"Run `{manifest.run_id}` ran uncommitted changes to benchmarks/grad.py: its results are not commit {commit[:8]}'s."
    assert note in summary_markdown(table) and note in readme_headline(table)
    # the marker is checked here, not the machine's load: on a busy machine the smoke
    # run's times come out contended or unstable, and the headline leaves them out
    quiet = table.assign(unstable=False, contended=False, implausible=None)
    assert "(uncommitted code)" in readme_headline(quiet)
    assert compare.run(manifest.run_id, manifest.run_id, str(results), 1.1, False, str(REPO / "benchmarks")) == 0
    assert f"note (new): {note.replace('`', '')}" in capsys.readouterr().out
