"""Faults injected into runs and results: two runs into one results folder, asv
aborting, damaged result files, faults planted in the code, killed runs.  Nothing
recorded is lost, and nothing passes for what it is not."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import PLANTED_TIMEOUT, REPO, bench, config_in, time_row

from bench_lib.reporting import store, tidy
from bench_lib.run.control import CONFIG_PREFIX, LOCK, SCRATCH_PREFIX, run_lock


def smoke(config, *args, env=None):
    """The smoke preset, run into ``config``'s results folder."""
    return bench("--preset", "smoke", "--config", str(config), "--allow-uncommitted", *args, env=env)


def test_a_second_run_into_the_same_results_folder_stops_naming_the_first(tmp_path):
    results_dir = tmp_path / "results"
    results_dir.mkdir()  # a results folder that exists (a first lock of a new one removes it with itself)
    with run_lock(results_dir, "first-run"):
        with pytest.raises(ValueError, match=r"another run is writing to .*\(run first-run, pid \d+"):
            with run_lock(results_dir, "second-run"):
                pass
        started = time.monotonic()
        run = smoke(config_in(tmp_path), "--wait", "1")
        assert time.monotonic() - started >= 1.0
    assert run.returncode == 2, run.stderr
    assert "another run is writing to" in run.stderr and "run first-run" in run.stderr
    assert sorted(p.name for p in results_dir.iterdir()) == [LOCK]  # the second run wrote nothing
    assert (results_dir / LOCK).read_text() == ""  # released, and free again
    with run_lock(results_dir, "third-run"):
        assert "run third-run" in (results_dir / LOCK).read_text()


@pytest.mark.slow
def test_an_asv_run_that_aborts_records_nothing_publishes_nothing_and_fails(tmp_path):
    run = smoke(config_in(tmp_path), "--workloads", "hessian", "--models", "rosenbrock", "--", "--no-such-option")
    assert run.returncode != 0
    assert "asv saved no results" in run.stderr and "nothing of this run was recorded" in run.stderr
    assert "dashboard:" not in run.stdout and "results:" not in run.stdout
    assert not list((tmp_path / "results").glob("outcomes/*.jsonl")) and not (tmp_path / "html").exists()


DAMAGES = {
    "truncated": lambda text: text[: len(text) // 2],
    "garbage": lambda text: "\x00\x01 not json at all",
    "unknown version": lambda text: json.dumps({**json.loads(text), "version": 99}),
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_result_file_is_named_never_skipped_and_never_destroyed(smoke_results, tmp_path, damage, capsys):
    from bench_lib.__main__ import main

    _, work, _ = smoke_results
    copy = tmp_path / "results"
    shutil.copytree(work / "results", copy)
    [damaged] = [p for p in copy.glob("*/*.json") if p.name != "machine.json"]
    text = DAMAGES[damage](damaged.read_text())
    damaged.write_text(text)

    with pytest.raises(store.DamagedResultFile, match=re.escape(f"{damaged} is not a readable asv result file")):
        tidy.load(copy, REPO / "benchmarks")
    assert main(["report", "--results", str(copy), "--out", str(tmp_path / "report")]) == 2
    assert str(damaged) in capsys.readouterr().err and not (tmp_path / "report").exists()
    # A run into that folder stops before asv, and leaves the file as it was
    run = smoke(config_in(tmp_path, results_dir=copy))
    assert run.returncode == 2 and f"{damaged} is not a readable asv result file" in run.stderr
    assert damaged.read_text() == text
    # --move-damaged moves it aside, says so, and rebuilds it from the run's archived copy
    assert main(["report", "--results", str(copy), "--out", str(tmp_path / "report"), "--move-damaged"]) == 0
    moved = copy / store.DAMAGED / damaged.parent.name / f"{damaged.name}.damaged"
    [archive] = (copy / store.HISTORY).glob(f"*/*{store.ARCHIVE_SUFFIX}")
    assert moved.read_text() == text and json.loads(damaged.read_text()) == json.loads(archive.read_text())
    err = capsys.readouterr().err
    assert f"moved the damaged result file {damaged}" in err and f"rebuilt {damaged} from 1 archived runs" in err
    assert len(tidy.load(copy, REPO / "benchmarks")) > 0


@pytest.mark.slow
def test_every_cell_gets_one_final_status_with_its_reason_and_a_hang_is_paid_once_under_a_users_timeout(planted_run):
    """The clone's planted faults (conftest.PLANTED): its grad dies while timed, its HVP
    hangs, its mlp Hessian is wrong; asv's timeout is PLANTED_TIMEOUT."""
    run, elapsed, clone, results = planted_run
    assert run.returncode != 0 and "cells did not give a verified time" in run.stderr
    table = tidy.load(results, clone / "benchmarks")
    times = table[table.metric == "time"].set_index(["workload", "model", "execution"])
    status = times.status.astype(str).to_dict()
    assert status == {
        ("grad", "mlp", "graph"): "skipped", ("grad", "mlp", "compiled"): "crashed",
        ("hvp", "mlp", "graph"): "skipped", ("hvp", "mlp", "compiled"): "timeout",
        ("hessian", "mlp", "compiled"): "invalid", ("hessian", "rosenbrock", "compiled"): "ok",
        ("unrolled", "mlp", "compiled"): "ok",
    }
    reasons = times.reason.astype(str).to_dict()
    assert f"stopped after {PLANTED_TIMEOUT}" in reasons[("hvp", "mlp", "compiled")]
    assert "died without a result" in reasons[("grad", "mlp", "compiled")]
    assert reasons[("hessian", "mlp", "compiled")].startswith("VerificationError")
    # The crashed cell's other metrics are not passed off as a verified cell's either
    grad = table[(table.workload == "grad") & (table.execution == "compiled")]
    assert set(grad.status.astype(str)) == {"crashed"}
    # The hang cost one timeout, not one per asv benchmark of the cell (five)
    assert elapsed < 3 * PLANTED_TIMEOUT + 120, elapsed
    summary = (results / "report" / "summary.md").read_text()
    for word in ("| crashed | 1 |", "| timeout | 1 |", "| invalid | 1 |"):
        assert word in summary, summary


def start_smoke(config, env):
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "bench_lib", "bench", "--preset", "smoke", "--config", str(config),
         "--allow-uncommitted"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def wait_for_workload(process, workload: str) -> list[str]:
    """Read the run's output until its progress display shows a cell of ``workload``."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if f" now: {workload}/" in line:
            return seen
    raise AssertionError("the run ended before reaching " + workload + ": " + "".join(seen[-20:]))


def still_running(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout.splitlines()
    return [line for line in found if "pgrep" not in line]


@pytest.fixture
def own_temp():
    """A system temporary folder (TMPDIR) for this test's runs alone.  A run removes what
    killed runs left in its temporary folder; in the shared one, a run of a test in
    another worker would remove this test's leftovers first (and this test's runs,
    another's).  Short, for asv's forkserver socket."""
    path = Path(tempfile.mkdtemp(prefix="bench-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
# one worker runs both, one after the other: a run removes the leftovers of every dead
# run in the checkout's .asv/, so the SIGHUP case's next run would otherwise remove what
# the SIGKILL case's run left, and each asserts what its own next run removed
@pytest.mark.xdist_group("killed_runs")
@pytest.mark.parametrize("signum", [1, 9])
def test_a_killed_run_keeps_the_workloads_that_finished_and_leaves_nothing_running(tmp_path, signum, own_temp):
    """SIGHUP (a closed terminal) goes the way of SIGTERM and Ctrl-C (one handler for
    the three); SIGKILL allows no clean-up at all.  A report made meanwhile shows the run
    as running, and afterwards as interrupted or killed.  (The next run after SIGKILL
    also runs beside a busy process: its contended cell is timed again.)"""
    from bench_lib.reporting.summary import summary_markdown

    config = config_in(tmp_path)
    env = {**os.environ, "TMPDIR": str(own_temp)}
    process = start_smoke(config, env)
    # both while the HVPs run (grad has finished): a later point would only add make
    # test's time, not a different clean-up
    finished = ["grad"]
    wait_for_workload(process, "hvp")
    running = tidy.load(tmp_path / "results", REPO / "benchmarks")
    assert set(running.run_state.astype(str)) == {"running"}
    assert "is incomplete: it is still running" in summary_markdown(running)
    process.send_signal(signum)
    process.wait(timeout=120)
    if signum == 1:
        assert process.returncode == 128 + 1
        assert "interrupted by SIGHUP" in process.stderr.read()
    # asv's processes name the config or the run's temporary folder (its forkserver's socket)
    markers = (f"{CONFIG_PREFIX}{process.pid}-", f"{SCRATCH_PREFIX}{process.pid}-")
    if signum == 1:
        deadline = time.monotonic() + 30
        while any(still_running(m) for m in markers) and time.monotonic() < deadline:
            time.sleep(1)
        assert [line for m in markers for line in still_running(m)] == []
    kept = tidy.load(tmp_path / "results", REPO / "benchmarks")
    assert set(kept[kept.metric == "time"].workload.astype(str)) == set(finished)
    assert set(kept.run_state.astype(str)) == {"interrupted" if signum == 1 else "killed"}
    holder = (tmp_path / "results" / LOCK).read_text()
    if signum == 1:
        assert holder == ""  # released on the way out
    else:
        assert f"pid {process.pid}," in holder  # SIGKILL: no clean-up, the file still names the killed run
    with run_lock(tmp_path / "results", "next-run"):  # and yet the kernel has unlocked it: no wait
        pass
    # The next run removes what a killed one left, and runs; after SIGKILL, beside a
    # process spinning on its cores: its timed cell is contended, and timed once more
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if signum == 9 else None  # on our cores
    try:
        after = smoke(config, "--workloads", "grad", env=env)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    assert after.returncode == 0, after.stderr[-2000:]
    if signum == 9:
        assert ("1 cells were timed while the rest of the machine was busy (contended): timing them once more"
                in after.stdout)
        assert "1 time was contended" in after.stdout and "grad mlp S jax rev compiled float32" in after.stdout
        from bench_lib.core.manifest import manifests

        [finished] = [run for run in manifests(tmp_path / "results") if run.status == "ok"]
        outcomes = tmp_path / "results" / finished.environments[0].outcomes
        [timed] = [json.loads(line) for line in outcomes.read_text().splitlines() if '"verified"' in line]
        assert timed["preparations"] == 2 and timed["conditions"]["interference"] > 0.1
        first = timed["first_timing"]  # the time before the retry, kept beside the one that replaced it
        assert first["seconds"] > 0 and first["interference"] > 0.1
        assert f"  grad/jax/rev/compiled/mlp-S/cpu/float32: {first['seconds']:.3g} s ({first['interference']:.2f}) -> " \
            in after.stdout
    assert ("removed what" in after.stdout) == (signum == 9)
    assert [line for m in markers for line in still_running(m)] == []  # SIGKILL: gone once the next run cleaned up
    assert not list((tmp_path / "results" / ".records").glob("*"))
    assert not [p for p in own_temp.glob(f"{SCRATCH_PREFIX}*") if str(process.pid) in p.name]
    assert not list((REPO / ".asv").glob(f"{CONFIG_PREFIX}{process.pid}-*"))  # the killed run's asv configuration
    # asv merged both runs into the commit's file; each run's archive holds its own benchmarks only
    both = tidy.load(tmp_path / "results", REPO / "benchmarks")
    second = both[both.run_state.astype(str) == "complete"]
    assert set(second.workload.astype(str)) == {"grad"} and second.run_id.nunique() == 1
    [archive] = (tmp_path / "results" / store.HISTORY).glob(f"*/*{second.run_id.iloc[0]}{store.ARCHIVE_SUFFIX}")
    assert {name.split(".")[0] for name in json.loads(archive.read_text())["results"]} == {"grad"}


def test_a_timeout_is_taken_from_the_command_line_and_checked():
    from bench_lib.run import asv_config
    from bench_lib.suite import harness

    assert asv_config.asked_timeout(["-a", "timeout=20"]) == 20.0
    assert asv_config.asked_timeout(["--attribute=timeout=7.5", "--quick"]) == 7.5
    assert asv_config.asked_timeout(["-arepeat=3"]) is None
    for bad in ("0", "inf", "nan", "soon"):
        with pytest.raises(ValueError, match=f"-a timeout must be a positive, finite number of seconds, got '{bad}'"):
            asv_config.asked_timeout(["-a", f"timeout={bad}"])
    import os

    os.environ[harness.TIMEOUT_ENV] = "12"
    try:
        assert harness.timeout_or(300) == 12.0
    finally:
        del os.environ[harness.TIMEOUT_ENV]
    assert harness.timeout_or(300) == 300


def test_a_report_that_cannot_be_written_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    """A full disk while the report is written: no file of the report changes and none
    is left cut short or half-named."""
    import errno

    import pandas as pd

    from bench_lib.reporting import page, tidy

    table = tidy.from_rows([time_row()])
    paths = page.write(table, tmp_path)
    before = {name: path.read_bytes() for name, path in paths.items()}

    def disk_full(self, path, **kwargs):
        Path(path).write_bytes(b"PAR1 cut short")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    with pytest.raises(OSError, match="No space left"):
        page.write(tidy.from_rows([time_row(value=2e-3)]), tmp_path)
    assert {name: path.read_bytes() for name, path in paths.items()} == before
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == sorted(paths)
