"""``make bench``: a preset run under asv in the current Python environment, as named
steps.

    validate -> lock -> preflight -> per workload and backend (asv, archive,
    reconcile) -> the contended cells once more -> peak, publish and report -> summary

``validate`` refuses bad settings before anything is touched; ``lock`` comes next, so
that a second run learns it must wait before it imports a framework; ``preflight``
checks the checkout's code and every framework the cells need; each workload of each
backend is one ``asv run`` whose results, final cell statuses and manifest are kept
before the next starts (asv saves only when it ends, so a killed run keeps what
finished).  It uses asv's own commands only: ``asv machine``, ``asv run -E
installed:same --set-commit-hash`` (``asv_environment``), ``asv publish``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from asv.config import Config

from bench_lib.backends import known_failures
from bench_lib.core import conditions, files, interference, memory_exhaustion
from bench_lib.core.cells import Cell
from bench_lib.core.manifest import Manifest
from bench_lib.core.outcome import FAULTS, Outcome
from bench_lib.reporting import flops, page, screens, store, tidy
from bench_lib.reporting.summary import summary_markdown
from bench_lib.run import asv_config, asv_environment, checkout, keep, peak, preflight, progress, publish, reconcile
from bench_lib.run.control import (
    Interrupted,
    interrupt,
    kill_processes_using,
    remove_leftovers,
    run_lock,
    run_logged,
    scratch,
)
from bench_lib.run.plan import Chunk, Plan, Request, validate
from bench_lib.suite import grid, records
from bench_lib.suite.harness import TIMEOUT_ENV
from bench_lib.verification import run_cache


class BenchRun:
    """One run of a plan, step by step; ``execute`` is the whole run and its exit status."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.env: dict = {}
        self.expected: dict = {}  # the bench_lib every cell must report (path, hash)
        self.manifest: Manifest | None = None
        self.final: list[Outcome] = []
        self.first_timings: dict[tuple[str, Cell], dict] = {}  # of the cells timed again (``_retry_chunk``)
        # per (workload, backend): processes the kernel's OOM killer killed during its asv run
        self.oom_kills: dict[tuple[str, str | None], int] = {}
        self.status = 0

    def execute(self) -> int:
        plan = self.plan
        # a closed terminal (SIGHUP) stops the run as SIGTERM and Ctrl-C do
        previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            with run_lock(plan.results_dir, plan.token, plan.request.wait):  # one run at a time per results folder
                self.prepare_folder()
                self.preflight()
                return self.measure_and_report()
        except OSError as error:  # a full disk, a read-only folder: said in one line, what is recorded stays
            print(f"error: the run stopped: {error} (what was recorded before stays as it was)", file=sys.stderr)
            try:
                self.close("stopped", 1)
            except OSError:  # the disk that stopped the run may refuse the manifest too
                pass
            return 1
        except Interrupted as interrupted:
            print(f"interrupted by {interrupted}: asv and its benchmark processes were stopped; the workloads that "
                  "finished are kept (results and outcomes); the rest was not run", file=sys.stderr)
            self.close("interrupted", 128 + interrupted.signum)
            return 128 + interrupted.signum
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- steps --------------------------------------------------------------------------

    def prepare_folder(self) -> None:
        """asv merges a run into the commit's file: a damaged one would abort it or be
        lost, so every result file is read (once: the report reuses what was read)
        before anything writes.  What killed runs left goes; and there must be room to
        work (keep.py)."""
        store.check_readable(self.plan.results_dir, self.plan.request.move_damaged)
        flops.load_peaks(self.plan.results_dir, self.plan.request.move_damaged)
        preflight.check_same_cpu(self.plan.results_dir, self.plan.machine)
        remove_leftovers(self.plan.results_dir, self.plan.request.repo)
        keep.check_free_space(self.plan.results_dir)

    def preflight(self) -> None:
        """asv's processes will import this checkout, and every framework the cells need
        imports; each problem stops the run before anything is timed."""
        plan = self.plan
        self.env = {**os.environ, run_cache.RUN_ID_ENV: plan.token, run_cache.RECORDS_DIR_ENV: str(plan.records_dir),
                    # what `verify --known-failures` found for these releases decides those cells
                    known_failures.FOLDER_ENV: str(plan.results_dir / known_failures.FOLDER)}
        if plan.changed:
            self.env[conditions.UNCOMMITTED_ENV] = " ".join(plan.changed)
        if plan.timeout is not None:
            self.env[TIMEOUT_ENV] = str(plan.timeout)
        self.expected = self._point_asv_at_the_checkout()
        if asv_config.builds_environments(str(plan.request.repo / plan.request.config)):
            # asv installs the commit's wheel in the environments it builds, whose processes
            # import that copy: the same code is the same source hash, wherever it lies.  The
            # frameworks are those asv installs there, not this Python's.
            self.expected = {"bench_lib_hash": self.expected["bench_lib_hash"]}
            return
        for note in preflight.check(plan.cells, asv_config.as_asv_starts(self.env), plan.request.repo):
            print(note, flush=True)

    def measure_and_report(self) -> int:
        plan = self.plan
        config = asv_config.derived_config(plan.request.repo, plan.request.config, plan.token, plan.threads,
                                           plan.results_dir)
        self.env[records.MATRIX_VARS_ENV] = ",".join(asv_config.matrix_variables(config))
        self.env["TMPDIR"] = str(scratch(plan.token))  # asv's temporary files, removed with the run's records
        try:
            archived = self.run_workloads(config)
        finally:
            # asv's forkserver and its benchmark processes, if asv did not end them, first: one
            # still running would write its record after the records were removed
            kill_processes_using(Path(self.env["TMPDIR"]))
            records.discard(plan.records_dir, plan.token)
            shutil.rmtree(self.env["TMPDIR"], ignore_errors=True)
            Path(config).unlink(missing_ok=True)
        if not archived:
            print(f"error: asv saved no results (exit {self.status}); nothing of this run was recorded; see "
                  f"{plan.log_path}", file=sys.stderr)
            return self.status or 1
        self.status = self._check_final()
        self.measure_peak()
        published = self.publish()
        exit_status = self.status or (1 if published != 0 else 0)
        self.close("ok" if exit_status == 0 else "failed", exit_status)  # measured: complete before the report
        summary, report_path = self.report()
        self.print_summary(summary, report_path, published)
        if self.status and not exit_status:  # no summary or no report: the run fails, its results stand
            exit_status = self.status
            self.close("failed", exit_status)
        return exit_status

    def run_workloads(self, config: str) -> bool:
        """asv once per workload and backend; after each, its results archived, its
        cells' final statuses written and the manifest updated.  Whether asv saved
        anything."""
        plan = self.plan
        plan.log_path.parent.mkdir(parents=True, exist_ok=True)
        print(f"asv: {len(plan.cells)} cells of preset {plan.request.preset_name!r} ({plan.preset.description}), "
              f"commit {plan.commit[:8]}", flush=True)
        if plan.part:
            print(plan.part.describe(), flush=True)
        print(f"asv's own output: {plan.log_path}", flush=True)
        _say_load()
        done: list[Cell] = []
        expected = progress.expected_seconds(plan.cells, plan.results_dir / store.OUTCOMES)
        with plan.log_path.open("w") as log, progress.RunProgress(plan.cells, plan.records_dir, plan.token, expected):
            described = run_logged(
                asv_config.asv_command("machine", "--yes", "--config", config, *plan.machine_args),
                plan.request.repo, self.env, log)
            if described != 0:
                print(f"asv machine failed (exit {described}); see {plan.log_path}", file=sys.stderr)
                self.status = described
                return False
            chunks = plan.chunks()
            for chunk in chunks:
                if plan.request.wait_quiet:
                    _wait_quiet(plan.request.wait_quiet, chunk.name)
                # uncommitted code's numbers are not the commit's: asv's file of the
                # commit gets its copy back, and they stay in the run's archive only
                with keep.commit_files_kept(plan.results_dir, plan.commit, plan.token, put_back=bool(plan.changed)):
                    kills_before = memory_exhaustion.oom_kills()
                    chunk_status = self._asv_run(chunk, config, log)
                    self.oom_kills[chunk.workload, chunk.backend] = memory_exhaustion.killed_by_the_oom_killer(kills_before)
                    environments = store.archive_runs(plan.results_dir, plan.commit, plan.token, plan.started,
                                                      grid.indices([*done, *chunk.cells], plan.request.repo / "benchmarks"))
                self.status = self.status or chunk_status
                if chunk.workload != RETRY:
                    done += chunk.cells
                if environments:  # else asv saved nothing yet: nothing to keep
                    self._write_manifest(environments)  # first: an archive is never a run of its own
                    self.final = self._reconcile(done, environments)
                if chunk is chunks[-1] and plan.request.retry_contended and chunk.workload != RETRY:
                    chunks += self._retry_chunk()  # the loop goes on with it
        if self.first_timings:
            self._say_retried()
        return self.manifest is not None

    def _retry_chunk(self) -> list[Chunk]:
        """The cells timed while the rest of the machine was busy, to be timed once more
        at the end of the run (``--retry-contended``): the later time replaces the
        earlier in the run's results; none if there are none."""
        again = [outcome.cell for outcome in self.final
                 if outcome.status == "verified" and interference.contended(outcome.conditions)]
        if not again:
            return []
        self.first_timings = self._timings(again)
        print(f"{len(again)} cells were timed while the rest of the machine was busy (contended): timing them once "
              "more", flush=True)
        regexes = grid.asv_regexes(again, self.plan.request.repo / "benchmarks")
        return [Chunk(RETRY, tuple(again), tuple(regexes))]

    def _timings(self, cells: list[Cell]) -> dict[tuple[str, Cell], dict]:
        """(environment's result file, cell) -> the cell's time so far in that
        environment and the interference it was timed under."""
        suite = grid.benchmarks(self.plan.request.repo / "benchmarks")
        found = {}
        for environment in self.manifest.environments:
            _, timed = _timing_values(cells, self.plan.results_dir / environment.result, suite)
            recorded = store.read_outcomes(self.plan.results_dir / environment.outcomes)
            shares = {Cell(**line["cell"]): (line.get("conditions") or {}).get("interference") for line in recorded}
            for cell in cells:
                found[(environment.result, cell)] = {"seconds": timed.get(cell), "interference": shares.get(cell)}
        return found

    def _say_retried(self) -> None:
        """Each contended cell's time before and after it was timed again."""
        after = self._timings(list({cell for _, cell in self.first_timings}))
        print("timed again (seconds, with the share of the cores others used):", flush=True)
        for key, first in self.first_timings.items():
            print(f"  {key[1].label}: {_timing(first)} -> {_timing(after.get(key, {}))}", flush=True)

    def measure_peak(self) -> None:
        """The report holds each cell's FLOP rate against the machine's peak, measured
        after the run (never during it), and only where it is not kept already."""
        for environment in self.manifest.environments:
            machine = Path(environment.result).parent.name
            if peak.ensure(self.plan.results_dir, machine, self.plan.threads, force=self.plan.request.measure_peak):
                print(f"measured the peak FLOP rate of {machine} (dense matmuls) for the report", flush=True)

    def publish(self) -> int:
        try:
            with self.plan.log_path.open("a") as log:
                return publish.publish(self.plan.request.config, self.plan.request.repo, self.plan.html_dir, log=log,
                                       results_dir=self.plan.results_dir)
        except Exception as error:  # the results stand; the run still fails
            print(f"error: the dashboard was not published: {type(error).__name__}: {error}", file=sys.stderr)
            return 1

    def report(self) -> tuple[str, Path | None]:
        """This run's summary (cells by status with the reasons, each backend's best time
        per workload and case), and the report over every kept run; what cannot be made
        is said, and changes nothing the run recorded."""
        plan = self.plan
        try:
            table = tidy.load(plan.results_dir, plan.request.repo / "benchmarks")
            peaks = flops.load_peaks(plan.results_dir)
            this_run = table[table.run_id == plan.token]
            summary = summary_markdown(this_run, peaks) if len(this_run) else "(the run recorded no cells)"
        except Exception as error:  # the run's results stand whatever the summary does; the run fails
            self.status = self.status or 1
            return f"error: no summary: {type(error).__name__}: {error}", None
        try:
            paths = page.write(table, plan.results_dir / "report", peaks, plan.request.repo / "benchmarks")
        except Exception as error:  # the results stand, the earlier report too; the run fails
            self.status = self.status or 1
            return f"{summary}\nerror: no report: {type(error).__name__}: {error}", None
        pictures = _screenshots(paths["report.html"]) if plan.request.screens else ""
        return summary + pictures, paths["report.html"]

    def print_summary(self, summary: str, report_path: Path | None, published: int) -> None:
        """What the user reads last: the run's summary, then where everything is."""
        plan = self.plan
        print(f"\n{summary}")
        print(f"results: {plan.results_dir} (asv JSON, commit {plan.commit[:8]})")
        for environment in self.manifest.environments:
            print(f"cell outcomes: {plan.results_dir / environment.outcomes} (skip reasons, failure messages, errors, "
                  "conditions)")
            print(f"this run's results, kept: {plan.results_dir / environment.result} (`bench_lib.results.load` reads "
                  "every kept run)")
        print(f"run manifest: {plan.results_dir / 'manifests' / self.manifest.file_name}")
        if plan.changed:
            print(f"uncommitted code ({', '.join(plan.changed[:3])}{', ...' if len(plan.changed) > 3 else ''}): "
                  f"asv's file of commit {plan.commit[:8]}, and so the dashboard, do not have this run's numbers; "
                  "its kept results above do, marked uncommitted in the report and in `compare`")
        if report_path is not None:
            print(f"report: {report_path} (with summary.md, results.csv and results.parquet beside it)")
        if published == 0:
            print(f"dashboard: {plan.html_dir}/index.html (`asv preview` serves it; it needs no network)")
        else:
            print(f"error: no dashboard: publishing failed (the results above are recorded); see {plan.log_path}",
                  file=sys.stderr)
        print(f"asv's own output: {plan.log_path}")

    def close(self, status: str, exit_status: int) -> None:
        """The manifest's last word: how the run ended."""
        if self.manifest is not None:
            self.manifest.status, self.manifest.exit_status = status, exit_status
            self.manifest.ended = _now()
            self.manifest.write(self.plan.results_dir)

    # -- parts of the steps -------------------------------------------------------------

    def _asv_run(self, chunk, config: str, log) -> int:
        plan = self.plan
        command = asv_config.asv_command(
            "run", "--config", config, *asv_config.environment_args(config), "--set-commit-hash", plan.commit,
            "--launch-method", "forkserver", "--show-stderr", *plan.machine_args,
        )
        for regex in chunk.regexes:
            command += ["--bench", regex]
        command += list(plan.request.extra_asv_args)
        log.write(f"=== {chunk.name}: asv run\n")
        log.flush()
        status = run_logged(command, plan.request.repo, self.env, log)  # the run's progress display says how it goes
        log.flush()
        if status != 0:
            tail = plan.log_path.read_text().splitlines()[-15:]
            print(f"asv run of the {chunk.name} cells failed (exit {status}); the end of "
                  f"{plan.log_path}:", *tail, sep="\n", file=sys.stderr)
        return status

    def _reconcile(self, cells: list[Cell], environments) -> list[Outcome]:
        """asv keeps no skip reason and no failure message; the run's records do.  Each
        cell of each environment gets its final outcome (``reconcile``), written as JSON
        lines (with how often the run prepared it) to the file the manifest names."""
        plan = self.plan
        log_text = plan.log_path.read_text()
        suite = grid.benchmarks(plan.request.repo / "benchmarks")
        final = []
        for environment in environments:
            collected = records.collect(plan.records_dir, plan.token, self._records_key(environment))
            recorded = {outcome.cell: outcome for outcome, _ in collected}
            preparations = {outcome.cell: count for outcome, count in collected}
            timing_names, timed = _timing_values(cells, plan.results_dir / environment.result, suite)
            outcomes = reconcile.final_outcomes(cells, recorded, timing_names, timed, log_text, self.oom_kills)
            path = plan.results_dir / environment.outcomes
            path.parent.mkdir(parents=True, exist_ok=True)
            files.write_text(path, "".join(
                json.dumps({**outcome.to_json(), "preparations": preparations.get(outcome.cell, 0),
                            **self._first_timing(environment, outcome.cell)}, default=str) + "\n"
                for outcome in outcomes))
            final += outcomes
        return final

    def _first_timing(self, environment, cell: Cell) -> dict:
        """A cell timed again (``--retry-contended``) keeps its first time in its record."""
        first = self.first_timings.get((environment.result, cell))
        return {"first_timing": first} if first else {}

    def _records_key(self, environment) -> str:
        """Where the processes of ``environment`` recorded: asv's result file names the
        environment's matrix variables, and its Python: this one for the ``installed``
        environment that the run asks for, a path for an existing environment, and
        ``<env_dir>/<md5 of its name>/bin/python`` for a virtualenv."""
        stored = store.read_result(self.plan.results_dir / environment.result)
        python = stored.params.get("python") or ""
        if stored.env_name.startswith(f"{asv_environment.TOOL_NAME}-"):
            python = sys.executable
        elif not os.path.isabs(python):
            env_dir = Config.load(str(self.plan.request.repo / self.plan.request.config)).env_dir
            python = str(Path(self.plan.request.repo, env_dir) / hashlib.md5(environment.name.encode()).hexdigest()
                         / "bin" / "python")
        return records.environment_key(python, stored.env_vars or {})

    def _write_manifest(self, environments) -> None:
        plan = self.plan
        if self.manifest is None:
            self.manifest = Manifest(
                run_id=plan.token, machine=Path(environments[0].result).parent.name, commit=plan.commit,
                preset=plan.request.preset_name, workloads=sorted({cell.workload for cell in plan.cells}),
                cells=len(plan.cells), started=datetime.fromtimestamp(plan.started, timezone.utc).isoformat(timespec="seconds"),
                uncommitted=list(plan.changed), shard=plan.part.shard.label if plan.part else None,
            )
        self.manifest.environments = list(environments)
        self.manifest.write(plan.results_dir)

    def _point_asv_at_the_checkout(self) -> dict:
        """Point asv's benchmark processes at the checkout (asv drops PYTHONPATH and
        passes ASV_PYTHONPATH on as theirs) and check, before anything runs, that a
        process started as asv starts them imports it.  What they must report."""
        repo = self.plan.request.repo
        self.env["ASV_PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [os.environ.get("ASV_PYTHONPATH")])])
        expected = checkout.expected(repo)
        seen = checkout.as_seen_by(asv_config.as_asv_starts(self.env), sys.executable)
        if seen.get("bench_lib_path") != expected["bench_lib_path"]:
            raise ValueError(
                f"asv's benchmark processes would import bench_lib from {seen.get('bench_lib_path')} "
                f"{seen.get('error') or ''}, not from this checkout ({expected['bench_lib_path']})"
            )
        return expected

    def _check_final(self) -> int:
        """The run's exit status, given its cells' final outcomes: a failure of any kind,
        or a cell that ran another bench_lib, makes it non-zero."""
        status = self.status
        foreign = _other_code(self.final, self.expected)
        if foreign:
            print(f"error: {len(foreign)} cells ran another bench_lib than this checkout's "
                  f"({self.expected['bench_lib_path']}, {self.expected['bench_lib_hash']}): {foreign[0]}",
                  file=sys.stderr)
            status = status or 1
        faults = [outcome for outcome in self.final if outcome.status in FAULTS]
        if faults:
            kinds = ", ".join(f"{sum(o.status == kind for o in faults)} {kind}" for kind in FAULTS
                              if any(o.status == kind for o in faults))
            print(f"error: {len(faults)} cells did not give a verified time ({kinds}); the summary below has the "
                  "reasons", file=sys.stderr)
            status = status or 1
        return status


def run_preset(preset_name: str, repo: Path, **options) -> int:
    """Run the preset's cells (those of ``workloads``, ``models`` and ``sizes`` where
    given) with asv, publish the dashboard; return the run's exit status.  ``machine``
    is asv's machine name; by default a run with GPU cells on a GPU machine is filed
    under the GPU's model (asv's machine file has no GPU fields), any other under asv's
    default.

    asv files the results under the checkout's commit, so uncommitted changes to the
    code stop the run unless ``allow_uncommitted`` (every cell then records the changed
    files); asv's benchmark processes import this checkout's ``bench_lib``, checked
    before the run, and a cell that reports another is a failure of the run."""
    return BenchRun(validate(Request(preset_name, Path(repo), **options))).execute()


def _timing_values(cells: list[Cell], result_path: Path, suite: list) -> tuple[dict, dict]:
    """Each cell's asv timing benchmark, and asv's value for the cell there in one
    environment's result file (None: failed; NaN: skipped; absent: not found)."""
    result = store.read_result(result_path)
    keys = set(result.get_all_result_keys())
    names, values = {}, {}
    for cell in cells:
        benchmark = grid.timing_benchmark(cell, suite)
        if benchmark is None:
            continue
        names[cell] = benchmark.name
        if benchmark.name in keys:
            params = result.get_result_params(benchmark.name)
            values[cell] = result.get_result_value(benchmark.name, params)[benchmark.index(cell)]
    return names, values


def _other_code(final: list[Outcome], expected: dict) -> list[str]:
    """Cells whose process reported another bench_lib than ``expected``."""
    return [
        f"{outcome.cell.workload}/{outcome.cell.backend}: {outcome.conditions.get('bench_lib_path')} "
        f"{outcome.conditions.get('bench_lib_hash')}"
        for outcome in final
        if outcome.conditions and any(outcome.conditions.get(key) != value for key, value in expected.items())
    ]


RETRY = "contended cells, again"  # the chunk of ``--retry-contended``


def _wait_quiet(seconds: float, chunk_name: str) -> None:
    """``--wait-quiet``: wait up to ``seconds`` for the rest of the machine to use less
    than ``interference.CONTENDED_SHARE`` of the cores; say how it went."""
    deadline = time.monotonic() + seconds
    share = interference.busy_share()
    while share is not None and share > interference.CONTENDED_SHARE and time.monotonic() < deadline:
        print(f"waiting for a quiet machine before the {chunk_name} cells: others use {share:.0%} of the cores", flush=True)
        share = interference.busy_share(min(5.0, max(0.5, deadline - time.monotonic())))
    if share is not None and share > interference.CONTENDED_SHARE:
        print(f"warning: the machine is still busy after {seconds:.0f} s (others use {share:.0%} of the cores): "
              f"timing the {chunk_name} cells anyway", flush=True)


def _say_load() -> None:
    """Other work on the cores slows every framework, and torch's spinning OpenMP
    threads far more: say so before measuring."""
    if not hasattr(os, "getloadavg"):
        return
    load, cores = os.getloadavg()[0], len(conditions.available_cpus())
    print(f"load average {load:.2f} on {cores} usable cores", flush=True)
    if load > 0.5 * cores:
        print("warning: the machine is busy; times will be slow and noisy (each cell records the load)", flush=True)


def _timing(measured: dict) -> str:
    seconds, share = measured.get("seconds"), measured.get("interference")
    time_text = f"{seconds:.3g} s" if isinstance(seconds, float) and math.isfinite(seconds) else "no time"
    return time_text + (f" ({share:.2f})" if share is not None else "")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _screenshots(report: Path) -> str:
    """Screenshots of the report beside it, where a Chromium is installed; a line saying
    where they are, or why there are none (the report stands either way)."""
    if screens.chromium() is None:
        return "\nno screenshots of the report: no Chromium (Debian's `chromium` package)"
    try:
        taken = screens.take(report)
    except Exception as error:  # the report stands; only its pictures are missing
        return f"\nno screenshots of the report: {type(error).__name__}: {error}"
    return f"\nscreenshots of the report: {taken[0].parent} ({len(taken)})"
