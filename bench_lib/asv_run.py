"""Run a preset under asv in the current Python environment, then publish the dashboard.

This is what ``make bench`` calls.  It uses asv's own commands only: ``asv machine``,
``asv run --python=same --set-commit-hash``, ``asv publish``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from asv.config import Config

from . import conditions, presets, publish, records, results


def git_commit(repo: Path, revision: str = "HEAD") -> str:
    """The full hash of ``revision``: asv records results against a commit."""
    result = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=repo, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ValueError(f"no commit {revision!r} in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def _keep_outcomes(results_dir: Path, records_dir: Path, commit: str, token: str) -> Path:
    """asv keeps no skip reason and no failure message; the run's records do.  They go
    to results/outcomes/ as JSON lines (one outcome per cell, with how often the run
    prepared it), which asv's result loader does not read."""
    path = results_dir / "outcomes" / f"{commit[:8]}-{token}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for outcome, preparations in records.collect(records_dir, token):
            out.write(json.dumps({**outcome.to_json(), "preparations": preparations}, default=str) + "\n")
    return path


def _say_load() -> None:
    """Other work on the cores slows every framework (about 2x on 2 cores) and torch's
    spinning OpenMP threads far more: say so before measuring."""
    if not hasattr(os, "getloadavg"):
        return
    load, cores = os.getloadavg()[0], len(conditions.available_cpus())
    print(f"load average {load:.2f} on {cores} usable cores", flush=True)
    if load > 0.5 * cores:
        print("warning: the machine is busy; times will be slow and noisy (each cell records the load)", flush=True)


def asv_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "asv", *args]


def run_preset(
    preset_name: str,
    repo: Path,
    config: str = "asv.conf.json",
    extra_asv_args: tuple[str, ...] = (),
) -> int:
    """Run the preset's cells with asv, publish the dashboard; return asv's exit status."""
    preset = presets.get(preset_name)
    conditions.threads()  # a bad $BENCH_THREADS stops here, before asv records anything
    cells = preset.cells()
    regexes = presets.asv_regexes(cells, repo / "benchmarks")
    commit = git_commit(repo)
    settings = Config.load(str(repo / config))
    results_dir, html_dir = (repo / settings.results_dir).resolve(), (repo / settings.html_dir).resolve()
    # One token for the whole run: the check processes read what the timing processes
    # recorded, in a folder of this checkout that the run removes when it ends.
    token = f"{preset_name}-{uuid.uuid4().hex[:12]}"
    records_dir = (repo / ".asv" / "records").resolve()
    env = {**os.environ, records.RUN_ID_ENV: token, records.RECORDS_DIR_ENV: str(records_dir)}

    machine = subprocess.run(asv_command("machine", "--yes", "--config", config), cwd=repo, env=env)
    if machine.returncode != 0:
        return machine.returncode
    command = asv_command(
        "run", "--config", config, "--python=same", "--set-commit-hash", commit,
        "--launch-method", "forkserver", "--show-stderr",
    )
    for regex in regexes:
        command += ["--bench", regex]
    command += list(extra_asv_args)
    print(f"asv: {len(cells)} cells of preset {preset_name!r} ({preset.description}), commit {commit[:8]}", flush=True)
    _say_load()
    started = time.time()
    try:
        status = subprocess.run(command, cwd=repo, env=env).returncode
        outcomes = _keep_outcomes(results_dir, records_dir, commit, token)
        archived = results.archive_runs(results_dir, commit, token, started)
    finally:
        records.discard(records_dir, token)
    published = publish.publish(config, repo, html_dir)
    print(f"results: {results_dir} (asv JSON, commit {commit[:8]})")
    print(f"cell outcomes: {outcomes} (skip reasons, failure messages, errors, conditions)")
    for path in archived:
        print(f"this run's results, kept: {path} (`bench_lib.results.load` reads every kept run)")
    if published == 0:
        print(f"dashboard: {html_dir}/index.html (`asv preview` serves it; it needs no network)")
    _write_report(results_dir, repo / "benchmarks", token)
    return status


def _write_report(results_dir: Path, benchmark_dir: Path, run_id: str) -> None:
    """The report over every kept run, then this run's summary (cells by status with
    the reasons, each backend's best time per workload and case); a report that cannot
    be written is said, and changes nothing the run recorded."""
    from . import report

    try:
        table = results.load(results_dir, benchmark_dir)
        paths = report.write(table, results_dir / "report")
        this_run = table[table.run_id == run_id]
        summary = report.summary_markdown(this_run) if len(this_run) else ""
    except Exception as error:  # the run's results stand whatever the report does
        print(f"warning: no report: {type(error).__name__}: {error}", file=sys.stderr)
        return
    print(f"\n{summary}")
    print(f"report: {paths['report.html']} (summary: {paths['summary.md']}; table: {paths['results.csv']})")
