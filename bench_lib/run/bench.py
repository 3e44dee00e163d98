"""Run a preset under asv in the current Python environment, then publish the dashboard.

This is what ``make bench`` calls.  It uses asv's own commands only: ``asv machine``,
``asv run --python=same --set-commit-hash``, ``asv publish``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from asv import util as asv_util
from asv.config import Config

from bench_lib.core import conditions, gpu, presets
from bench_lib.reporting import flops, store
from bench_lib.run import checkout, peak, preflight, publish, reconcile
from bench_lib.suite import asv_output, grid, records
from bench_lib.verification import run_cache
from bench_lib.run.control import (
    RECORDS,
    Interrupted,
    interrupt,
    kill_processes_using,
    remove_leftovers,
    run_lock,
    run_logged,
    scratch,
)
from bench_lib.suite.harness import TIMEOUT_ENV
from bench_lib.core.outcome import FAULTS


def git_commit(repo: Path, revision: str = "HEAD") -> str:
    """The full hash of ``revision``: asv records results against a commit."""
    result = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=repo, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ValueError(f"no commit {revision!r} in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def _keep_outcomes(
    results_dir: Path, records_dir: Path, commit: str, token: str, cells: list, archived: list[Path], log_path: Path,
    benchmark_dir: Path,
) -> tuple[Path, list]:
    """asv keeps no skip reason and no failure message; the run's records do.  Each cell
    of the run gets its final outcome (``reconcile``), written to results/outcomes/ as
    JSON lines (with how often the run prepared it), which asv's result loader does not
    read.  The outcomes, and the file."""
    collected = records.collect(records_dir, token)
    recorded = {outcome.cell: outcome for outcome, _ in collected}
    preparations = {outcome.cell: count for outcome, count in collected}
    timing_names, timed = _timing_values(cells, archived, benchmark_dir)
    final = reconcile.final_outcomes(cells, recorded, timing_names, timed, log_path.read_text())
    path = results_dir / "outcomes" / f"{commit[:8]}-{token}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for outcome in final:
            out.write(json.dumps({**outcome.to_json(), "preparations": preparations.get(outcome.cell, 0)}, default=str) + "\n")
    return path, final


def _timing_values(cells: list, archived: list[Path], benchmark_dir: Path) -> tuple[dict, dict]:
    """Each cell's asv timing benchmark, and asv's value for the cell there in this run's
    result files (None: failed; NaN: skipped; absent: not found)."""
    from asv import results as asv_results

    suites = [b for b in grid.benchmarks(benchmark_dir) if ".time_" in b.name]
    stored = [asv_results.Results.load(str(path)) for path in archived]
    names, values = {}, {}
    for cell in cells:
        benchmark = next((b for b in suites if b.covers(cell)), None)
        if benchmark is None:
            continue
        names[cell] = benchmark.name
        for result in stored:
            if benchmark.name in result.get_all_result_keys():
                params = result.get_result_params(benchmark.name)
                values[cell] = result.get_result_value(benchmark.name, params)[benchmark.index(cell)]
    return names, values


def _say_load() -> None:
    """Other work on the cores slows every framework (about 2x on 2 cores) and torch's
    spinning OpenMP threads far more: say so before measuring."""
    if not hasattr(os, "getloadavg"):
        return
    load, cores = os.getloadavg()[0], len(conditions.available_cpus())
    print(f"load average {load:.2f} on {cores} usable cores", flush=True)
    if load > 0.5 * cores:
        print("warning: the machine is busy; times will be slow and noisy (each cell records the load)", flush=True)


LOGS = "logs"  # results/logs/<commit>-<run id>.log: everything asv printed
def _with_conditions(repo: Path, config: str, token: str, threads: int) -> str:
    """A copy of the asv configuration whose matrix names the run's thread count as an
    environment variable: asv then puts it in the environment's name, so `asv compare`
    and the dashboard never mix two thread counts (the benchmarks read the same
    variable, ``conditions.THREADS_ENV``)."""
    source = (repo / config).resolve()
    settings = asv_util.load_json(str(source), js_comments=True)
    # asv reads a configuration's paths from the configuration's own folder
    for key in ("repo", "benchmark_dir", "env_dir", "results_dir", "html_dir"):
        value = settings.get(key)
        if isinstance(value, str) and "://" not in value and not Path(value).is_absolute():
            settings[key] = str((source.parent / value).resolve())
    matrix = dict(settings.get("matrix") or {})
    matrix["env"] = {**(matrix.get("env") or {}), conditions.THREADS_ENV: [str(threads)]}
    settings["matrix"] = matrix
    path = (repo / ".asv" / f"{token}.conf.json").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1))
    return str(path)


def _asked_timeout(asv_args) -> float | None:
    """The timeout in asv's own ``-a timeout=N`` (``--attribute``), which asv would
    ignore for these suites (they set one); None where not given."""
    args = list(asv_args)
    for index, arg in enumerate(args):
        value = None
        if arg in ("-a", "--attribute") and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith("--attribute="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-a") and len(arg) > 2:
            value = arg[2:]
        if value and value.startswith("timeout="):
            return _positive_seconds(value.split("=", 1)[1], "-a timeout")
    return None


def _positive_seconds(raw: str, what: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {raw!r}")
    return seconds


def _check_paths(repo: Path, config: str) -> None:
    """A repository and configuration that cannot be used, named before anything runs."""
    if not repo.is_dir():
        raise ValueError(f"--repo {repo}: no such folder")
    if not (repo / "benchmarks").is_dir():
        raise ValueError(f"--repo {repo}: no benchmarks/ folder there; expected a checkout of this suite")
    path = repo / config
    if not path.is_file():
        raise ValueError(f"--config {config}: no such file in {repo}")
    try:
        Config.load(str(path))
    except Exception as error:  # asv's own errors (UserError, JSON errors) name the problem
        raise ValueError(f"--config {config}: asv cannot read it: {error}") from error


def _this_checkouts_code(repo: Path, env: dict) -> dict:
    """Point asv's benchmark processes at the checkout (asv drops PYTHONPATH and passes
    ASV_PYTHONPATH on as theirs) and check, before anything runs, that a process started
    as asv starts them imports it; ``env`` gets the path.  What they must report."""
    env["ASV_PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [os.environ.get("ASV_PYTHONPATH")])])
    expected = checkout.expected(repo)
    seen = checkout.as_seen_by(_as_asv_starts(env), sys.executable)
    if seen.get("bench_lib_path") != expected["bench_lib_path"]:
        raise ValueError(
            f"asv's benchmark processes would import bench_lib from {seen.get('bench_lib_path')} "
            f"{seen.get('error') or ''}, not from this checkout ({expected['bench_lib_path']})"
        )
    return expected


def _check_final(outcomes: Path, final: list, expected: dict, status: int) -> int:
    """The run's exit status, given its cells' final outcomes: a failure of any kind,
    or a cell that ran another bench_lib, makes it non-zero."""
    foreign = _other_code(outcomes, expected)
    if foreign:
        print(f"error: {len(foreign)} cells ran another bench_lib than this checkout's "
              f"({expected['bench_lib_path']}, {expected['bench_lib_hash']}): {foreign[0]}", file=sys.stderr)
        status = status or 1
    faults = [outcome for outcome in final if outcome.status in FAULTS]
    if faults:
        kinds = ", ".join(f"{sum(o.status == kind for o in faults)} {kind}" for kind in FAULTS if any(o.status == kind for o in faults))
        print(f"error: {len(faults)} cells did not give a verified time ({kinds}); the summary below has the reasons",
              file=sys.stderr)
        status = status or 1
    return status


def _as_asv_starts(env: dict) -> dict:
    """The environment asv gives its benchmark processes: ASV_PYTHONPATH becomes their
    PYTHONPATH, any other PYTHONPATH is dropped."""
    started = {key: value for key, value in env.items() if key not in ("ASV_PYTHONPATH", "PYTHONPATH")}
    if env.get("ASV_PYTHONPATH"):
        started["PYTHONPATH"] = env["ASV_PYTHONPATH"]
    return started


def _other_code(outcomes: Path, expected: dict) -> list[str]:
    """Cells whose process reported another bench_lib than ``expected``."""
    found = []
    for line in outcomes.read_text().splitlines():
        record = json.loads(line)
        conditions_ = record.get("conditions") or {}
        if conditions_ and any(conditions_.get(key) != value for key, value in expected.items()):
            found.append(f"{record['cell']['workload']}/{record['cell']['backend']}: "
                         f"{conditions_.get('bench_lib_path')} {conditions_.get('bench_lib_hash')}")
    return found


def asv_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "asv", *args]


def run_preset(
    preset_name: str,
    repo: Path,
    config: str = "asv.conf.json",
    extra_asv_args: tuple[str, ...] = (),
    workloads: tuple[str, ...] = (),
    models: tuple[str, ...] = (),
    machine: str | None = None,
    sizes: tuple[str, ...] = (),
    allow_uncommitted: bool = False,
    move_damaged: bool = False,
    wait: float = 0.0,
    timeout: float | None = None,
) -> int:
    """Run the preset's cells (those of ``workloads``, ``models`` and ``sizes`` where given) with
    asv, publish the dashboard; return asv's exit status.  ``machine`` is asv's machine
    name; by default a run with GPU cells on a GPU machine is filed under the GPU's
    model (asv's machine file has no GPU fields), any other under asv's default.

    asv files the results under the checkout's commit, so uncommitted changes to the
    code stop the run unless ``allow_uncommitted`` (every cell then records the changed
    files); asv's benchmark processes import this checkout's ``bench_lib``, checked
    before the run, and a cell that reports another is a failure of the run."""
    preset = presets.get(preset_name)
    threads = conditions.threads()  # a bad $BENCH_THREADS stops here, before asv records anything
    _check_paths(repo, config)
    cells = [
        cell for cell in preset.cells()
        if (not workloads or cell.workload in workloads) and (not models or cell.model in models)
        and (not sizes or str(cell.size) in sizes)
    ]
    if not cells:
        raise ValueError(
            f"preset {preset_name!r} has no cells of workloads {list(workloads)}, models {list(models)} and sizes "
            f"{list(sizes)}"
        )
    if machine is None and any(cell.device == "gpu" for cell in cells):
        machine = gpu.machine_name()
    named = ("--machine", machine) if machine else ()
    commit = git_commit(repo)
    changed = checkout.uncommitted(repo)
    if changed and not allow_uncommitted:
        raise ValueError(
            f"{len(changed)} files differ from commit {commit[:8]} ({', '.join(changed[:5])}"
            f"{', ...' if len(changed) > 5 else ''}): asv would file their results under that commit; commit them, "
            "or pass --allow-uncommitted (every cell then records the changed files)"
        )
    settings = Config.load(str(repo / config))
    results_dir, html_dir = (repo / settings.results_dir).resolve(), (repo / settings.html_dir).resolve()
    # One token for the whole run: the check processes read what the timing processes
    # recorded, in a folder of the results that the run removes when it ends.
    token = f"{preset_name}-{uuid.uuid4().hex[:12]}"
    records_dir = results_dir / RECORDS
    env = {**os.environ, run_cache.RUN_ID_ENV: token, run_cache.RECORDS_DIR_ENV: str(records_dir)}
    if changed:
        env[conditions.UNCOMMITTED_ENV] = " ".join(changed)
    limit = _positive_seconds(str(timeout), "--timeout") if timeout is not None else _asked_timeout(extra_asv_args)
    if limit is not None:
        env[TIMEOUT_ENV] = str(limit)
    expected = _this_checkouts_code(repo, env)
    for note in preflight.check(cells, _as_asv_starts(env), repo):  # a broken framework stops here
        print(note, flush=True)
    chunks = grid.regexes_by_workload(cells, repo / "benchmarks")
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with run_lock(results_dir, token, wait):  # one run at a time per results folder
            # asv merges a run into the commit's file: a damaged one would abort it or be lost
            store.check_readable(results_dir, move_damaged)
            remove_leftovers(results_dir)
            env["TMPDIR"] = str(scratch(token))  # asv's temporary files, removed with the run's records
            return _run_locked(
                preset_name, preset, repo, config, commit, cells, chunks, token, records_dir, env, expected, named,
                extra_asv_args, results_dir, html_dir, threads,
            )
    except Interrupted as interrupted:
        print(f"interrupted by {interrupted}: asv and its benchmark processes were stopped; the workloads that "
              "finished are kept (results and outcomes); the rest was not run", file=sys.stderr)
        return 128 + interrupted.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_locked(
    preset_name, preset, repo, config, commit, cells, chunks, token, records_dir, env, expected, named, extra_asv_args,
    results_dir, html_dir, threads,
) -> int:
    """The run itself, holding the results folder: asv once per workload, each saving
    its results, outcomes and archive before the next starts (asv saves only when it
    ends: a killed run keeps the workloads that finished), then the peak, the dashboard
    and the report."""
    run_config = _with_conditions(repo, config, token, threads)
    log_path = results_dir / LOGS / f"{commit[:8]}-{token}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"asv: {len(cells)} cells of preset {preset_name!r} ({preset.description}), commit {commit[:8]}", flush=True)
    print(f"asv's own output: {log_path}", flush=True)
    _say_load()
    started = time.time()
    status, archived, outcomes, done = 0, [], None, []
    try:
        with log_path.open("w") as log:
            described = run_logged(asv_command("machine", "--yes", "--config", run_config, *named), repo, env, log)
            if described != 0:
                print(f"asv machine failed (exit {described}); see {log_path}", file=sys.stderr)
                return described
            for workload, regexes in chunks.items():
                command = asv_command(
                    "run", "--config", run_config, "--python=same", "--set-commit-hash", commit,
                    "--launch-method", "forkserver", "--show-stderr", *named,
                )
                for regex in regexes:
                    command += ["--bench", regex]
                command += list(extra_asv_args)
                log.write(f"=== {workload}: asv run\n")
                log.flush()
                chunk_status = run_logged(command, repo, env, log, show=asv_output.BENCHMARK_PROGRESS if done else asv_output.PROGRESS)
                log.flush()
                if chunk_status != 0:
                    tail = log_path.read_text().splitlines()[-15:]
                    print(f"asv run of the {workload} cells failed (exit {chunk_status}); the end of {log_path}:",
                          *tail, sep="\n", file=sys.stderr)
                status = status or chunk_status
                done += [cell for cell in cells if cell.workload == workload]
                archived = store.archive_runs(results_dir, commit, token, started)
                if archived:  # else asv saved nothing yet: nothing to keep
                    outcomes, final = _keep_outcomes(
                        results_dir, records_dir, commit, token, done, archived, log_path, repo / "benchmarks")
        if archived:
            status = _check_final(outcomes, final, expected, status)
    finally:
        records.discard(records_dir, token)
        kill_processes_using(Path(env["TMPDIR"]))  # asv's forkserver, if asv did not end it
        shutil.rmtree(env["TMPDIR"], ignore_errors=True)
        Path(run_config).unlink(missing_ok=True)
    if not archived:
        print(f"error: asv saved no results (exit {status}); nothing of this run was recorded; see {log_path}",
              file=sys.stderr)
        return status or 1
    # After the run, not during it: the report holds each cell's FLOP rate against it.
    print("measuring the machine's peak FLOP rate (dense matmuls) for the report", flush=True)
    for machine_name in sorted({path.parent.name for path in archived}):
        peak.record_peak(results_dir, machine_name, threads)
    try:
        with log_path.open("a") as log:
            published = publish.publish(config, repo, html_dir, log=log)
    except Exception as error:  # the results stand; the run still fails
        print(f"error: the dashboard was not published: {type(error).__name__}: {error}", file=sys.stderr)
        published = 1
    summary, report_path = _write_report(results_dir, repo / "benchmarks", token)
    # What the user reads last: the run's summary, then where everything is.
    print(f"\n{summary}")
    print(f"results: {results_dir} (asv JSON, commit {commit[:8]})")
    print(f"cell outcomes: {outcomes} (skip reasons, failure messages, errors, conditions)")
    for path in archived:
        print(f"this run's results, kept: {path} (`bench_lib.results.load` reads every kept run)")
    if report_path is not None:
        print(f"report: {report_path} (with summary.md, store.csv and store.parquet beside it)")
    if published == 0:
        print(f"dashboard: {html_dir}/index.html (`asv preview` serves it; it needs no network)")
    else:
        print(f"error: no dashboard: publishing failed (the results above are recorded); see {log_path}",
              file=sys.stderr)
    print(f"asv's own output: {log_path}")
    return status or (1 if published != 0 else 0)


def _write_report(results_dir: Path, benchmark_dir: Path, run_id: str) -> tuple[str, Path | None]:
    """This run's summary (cells by status with the reasons, each backend's best time
    per workload and case), and the report over every kept run; what cannot be made
    is said, and changes nothing the run recorded."""
    from bench_lib.reporting import report

    try:
        table = store.load(results_dir, benchmark_dir)
        peaks = flops.load_peaks(results_dir)
        this_run = table[table.run_id == run_id]
        summary = report.summary_markdown(this_run, peaks) if len(this_run) else "(the run recorded no cells)"
    except Exception as error:  # the run's results stand whatever the summary does
        return f"warning: no summary: {type(error).__name__}: {error}", None
    try:
        paths = report.write(table, results_dir / "report", peaks)
    except Exception as error:
        return f"{summary}\nwarning: no report: {type(error).__name__}: {error}", None
    return summary, paths["report.html"]
