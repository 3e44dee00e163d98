"""Which run each number belongs to.  asv merges every run of a commit into one file;
the suite's archive of a run holds that run's benchmarks only, a plain ``asv run``
merged after it is a run of its own, a damaged commit file is rebuilt from every
archived run (never from a run of uncommitted code), and a run that did not end is
shown as such (its manifest and the results folder's lock say how it stands)."""

import json
import os
import subprocess
import sys

from bench_lib.core import manifest
from bench_lib.core.manifest import Environment, Manifest
from bench_lib.reporting import store
from bench_lib.run import keep

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ENV = "existing-py"
COLUMNS = ["result", "params", "version", "started_at", "duration"]


def asv_file(path, benchmarks: dict) -> None:
    """An asv result file of COMMIT in ENV: benchmark name -> (value, started at, in ms)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "commit_hash": COMMIT, "env_name": ENV, "date": 1, "params": {"machine": path.parent.name},
        "python": "3.11", "requirements": {}, "env_vars": {}, "result_columns": COLUMNS,
        "results": {name: [[value], [], "1", started, 0.5] for name, (value, started) in benchmarks.items()},
        "durations": {}, "version": 2,
    }))


def kept(results) -> dict:
    """run id -> (state, {benchmark: value}) of every run the folder keeps."""
    return {
        run.run_id: (run.state, {key: run.result.get_result_value(key, [])[0] for key in run.result.get_all_result_keys()})
        for run in store.runs(results)
    }


def add_manifest(results, run_id: str, status: str = "ok", uncommitted=(), outcomes: bool = True) -> None:
    name = f"{COMMIT[:8]}-{run_id}"
    environment = Environment(ENV, f"{store.HISTORY}/vm/{name}{store.ARCHIVE_SUFFIX}", f"{store.OUTCOMES}/{name}.jsonl")
    Manifest(run_id, "vm", COMMIT, "smoke", ["grad"], 1, "2026-01-01T00:00:00+00:00", status=status,
             environments=[environment], uncommitted=list(uncommitted)).write(results)
    if outcomes:
        (results / environment.outcomes).parent.mkdir(parents=True, exist_ok=True)
        (results / environment.outcomes).write_text("")


def test_the_archive_of_a_run_holds_its_own_benchmarks_and_none_of_the_commits_earlier_runs(tmp_path):
    commit_file = tmp_path / "vm" / f"{COMMIT[:8]}-{ENV}.json"
    asv_file(commit_file, {"earlier": (1.0, 1_000)})
    since = 2.0  # seconds; asv's starts are in ms
    asv_file(commit_file, {"earlier": (1.0, 1_000), "first workload": (2.0, 2_500)})  # asv merged this run in
    [environment] = store.archive_runs(tmp_path, COMMIT, "run", since)
    archive = tmp_path / environment.result
    assert list(json.loads(archive.read_text())["results"]) == ["first workload"]
    # the next workload's asv run; asv's file may have been put back meanwhile (uncommitted code)
    asv_file(commit_file, {"earlier": (1.0, 1_000), "second workload": (3.0, 3_000)})
    store.archive_runs(tmp_path, COMMIT, "run", since)
    assert sorted(json.loads(archive.read_text())["results"]) == ["first workload", "second workload"]


def test_an_archive_without_its_outcomes_is_an_incomplete_run_and_takes_nothing_of_others(tmp_path):
    asv_file(tmp_path / store.HISTORY / "vm" / f"{COMMIT[:8]}-first{store.ARCHIVE_SUFFIX}", {"a": (1.0, 1_000)})
    asv_file(tmp_path / store.HISTORY / "vm" / f"{COMMIT[:8]}-second{store.ARCHIVE_SUFFIX}", {"b": (2.0, 2_000)})
    add_manifest(tmp_path, "first")
    add_manifest(tmp_path, "second", outcomes=False)  # ended, but its outcomes were never written (a full disk)
    # asv's file holds both runs, and a plain `asv run` of "c" merged after them
    (tmp_path / "vm").mkdir()
    (tmp_path / "vm" / "machine.json").write_text(json.dumps({"machine": "vm", "version": 1}))
    asv_file(tmp_path / "vm" / f"{COMMIT[:8]}-{ENV}.json", {"a": (1.0, 1_000), "b": (2.0, 2_000), "c": (3.0, 3_000)})
    assert kept(tmp_path) == {
        "first": ("complete", {"a": 1.0}),
        "second": ("missing outcomes", {"b": 2.0}),
        f"vm-{COMMIT[:8]}-{ENV}": ("plain", {"c": 3.0}),
    }
    # a run's start is its manifest's (tidy's date); a plain run has none, and its first benchmark's is used
    assert {run.run_id: run.started for run in store.runs(tmp_path)} == {
        "first": "2026-01-01T00:00:00+00:00", "second": "2026-01-01T00:00:00+00:00", f"vm-{COMMIT[:8]}-{ENV}": None}


def test_how_a_run_stands_follows_its_manifest_and_the_lock(tmp_path):
    run = Manifest("r1", "vm", COMMIT, "smoke", [], 1, "2026-01-01T00:00:00+00:00")
    assert manifest.state(run, tmp_path) == "killed"  # running, and nothing holds the folder
    (tmp_path / manifest.LOCK).write_text(f"run r1, pid {os.getpid()}, since 2026-01-01 00:00:00")
    assert manifest.state(run, tmp_path) == "running"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / manifest.LOCK).write_text(f"run r1, pid {gone.stdout.strip()}, since 2026-01-01 00:00:00")
    assert manifest.state(run, tmp_path) == "killed"  # the lock file still names it; its process is gone
    for status in ("interrupted", "stopped"):
        run.status = status
        assert manifest.state(run, tmp_path) == status
    run.status = "failed"  # every workload ran, some cells failed
    assert manifest.state(run, tmp_path) == "complete"


def test_a_damaged_commit_file_is_rebuilt_from_every_committed_run(tmp_path, capsys):
    history = tmp_path / store.HISTORY / "vm"
    asv_file(history / f"{COMMIT[:8]}-first{store.ARCHIVE_SUFFIX}", {"a": (1.0, 1_000), "b": (1.5, 1_000)})
    asv_file(history / f"{COMMIT[:8]}-second{store.ARCHIVE_SUFFIX}", {"b": (2.0, 2_000)})
    asv_file(history / f"{COMMIT[:8]}-trial{store.ARCHIVE_SUFFIX}", {"a": (9.0, 3_000), "c": (9.0, 3_000)})
    for run_id in ("first", "second"):
        add_manifest(tmp_path, run_id)
    add_manifest(tmp_path, "trial", uncommitted=["benchmarks/grad.py"])
    commit_file = tmp_path / "vm" / f"{COMMIT[:8]}-{ENV}.json"
    commit_file.parent.mkdir(parents=True)
    commit_file.write_text('{"commit_hash": "01234')  # cut short by a full disk
    assert [p.name for p in store.restore_from_history(commit_file, tmp_path)] == [
        f"{COMMIT[:8]}-first{store.ARCHIVE_SUFFIX}", f"{COMMIT[:8]}-second{store.ARCHIVE_SUFFIX}"]
    results = json.loads(commit_file.read_text())["results"]
    assert {name: row[0] for name, row in results.items()} == {"a": [1.0], "b": [2.0]}  # the later run's b; no trial
    assert f"rebuilt {commit_file} from 2 archived runs" in capsys.readouterr().err


def test_asvs_commit_file_is_put_back_as_it_was_after_a_run_of_uncommitted_code(tmp_path):
    existing = tmp_path / "vm" / f"{COMMIT[:8]}-{ENV}.json"
    asv_file(existing, {"committed": (1.0, 1_000)})
    before = existing.read_bytes()
    made = tmp_path / "vm" / f"{COMMIT[:8]}-other-env.json"
    with keep.commit_files_kept(tmp_path, COMMIT, "token", put_back=True):
        asv_file(existing, {"committed": (1.0, 1_000), "uncommitted": (5.0, 2_000)})  # asv's merge
        asv_file(made, {"uncommitted": (5.0, 2_000)})
    assert existing.read_bytes() == before and not made.exists()


def test_a_run_that_did_not_end_or_ran_uncommitted_code_is_said_wherever_its_numbers_are(tmp_path):
    from conftest import time_row

    from bench_lib.reporting import page, tidy
    from bench_lib.reporting.summary import readme_headline, summary_markdown

    table = tidy.from_rows([
        time_row(run_id="killed-run", run_state="killed"),
        time_row(run_id="trial", uncommitted="benchmarks/grad.py", backend="torch", mode="rev_rev", value=2e-3),
    ])
    killed = "Run `killed-run` is incomplete: it was killed (its manifest never says how it ended)"
    trial = "Run `trial` ran uncommitted changes to benchmarks/grad.py: its results are not commit cccccccc's."
    for text in (summary_markdown(table), readme_headline(table)):
        assert killed in text and trial in text
    assert "rev_rev eager (uncommitted code)" in readme_headline(table)
    report = page.write(table, tmp_path)["report.html"].read_text()
    assert "<td>killed</td>" in report and "<td>benchmarks/grad.py</td>" in report


def test_the_archive_keeps_only_the_parameter_combinations_the_run_ran(tmp_path):
    """asv keeps a benchmark's other combinations from earlier runs when a run selects
    some: the archive leaves those out (NaN, asv's "not run")."""
    import math

    commit_file = tmp_path / "vm" / f"{COMMIT[:8]}-{ENV}.json"
    asv_file(commit_file, {"grad.MlpGrad.time_grad": (0.0, 2_500)})
    data = json.loads(commit_file.read_text())
    data["results"]["grad.MlpGrad.time_grad"][0] = [1.0, 2.0, 3.0]  # combination 1 is this run's
    commit_file.write_text(json.dumps(data))
    [environment] = store.archive_runs(tmp_path, COMMIT, "run", 2.0, {"grad.MlpGrad.time_grad": {1}})
    values = json.loads((tmp_path / environment.result).read_text())["results"]["grad.MlpGrad.time_grad"][0]
    assert math.isnan(values[0]) and values[1] == 2.0 and math.isnan(values[2])
