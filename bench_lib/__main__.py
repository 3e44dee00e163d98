"""Command line: ``python -m bench_lib {verify,bench,history,merge,publish,load-speed,overhead,idiom,agreement,scaling,report,compare,cells,gpu-wheels}``.

Each verb is a ``Verb`` in ``VERBS``: its name and help, the function that adds its
options and the function that runs it (as asv's own commands are laid out).  ``main``
builds the parser from that table and handles bad input in one place.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench_lib.core import presets
from bench_lib.core.cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, MODELS, WORKLOADS

MOVE_DAMAGED = (
    "move a result file asv cannot read to results/damaged/ (and say so) instead of stopping; asv's file of a commit "
    "is rebuilt from the runs archived in results/history/"
)


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    options: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    # Bad input is one line on stderr and exit status 2, never a traceback: a ValueError,
    # as "error: ...".  A verb that reads a folder or file the user names (results,
    # config, constraints) also reports a missing one, and its line starts with its name.
    reads_files: bool = False


def _size(text: str):
    """A size as the command line spells it: mlp's letters, Rosenbrock's integers."""
    return int(float(text)) if text.replace(".", "").replace("e", "").isdigit() else text


def _preset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="default", choices=sorted(presets.PRESETS))


def _verify_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(presets.PRESETS), help="every cell of this preset")
    parser.add_argument("--size", nargs="+", type=_size, help="these sizes (e.g. S M 1000000) instead of the smallest")
    parser.add_argument("--workload", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--model", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--execution", nargs="+", choices=EXECUTIONS, default=list(EXECUTIONS))
    parser.add_argument("--dtype", nargs="+", choices=DTYPES, default=list(DTYPES))
    parser.add_argument("--device", nargs="+", choices=DEVICES, default=["cpu"])
    parser.add_argument(
        "--known-failures", action="store_true",
        help="attempt the cells that known-failure rules skip (framework bugs), each in a worker process that may "
        "crash, and file each as still failing, fixed or changed for the installed releases in "
        "RESULTS/known-failures/ (a fixed cell is then timed by later runs)",
    )
    parser.add_argument("--results", default="results", metavar="FOLDER",
                        help="with --known-failures: the results folder the findings go to (default: results/)")
    parser.add_argument(
        "--cells", nargs="+", metavar="PATTERN",
        help="only cells whose label matches one of these patterns (`cells` prints labels; * and ? as in file "
        "names), taken from every cell of the suite unless --preset or --size narrows them",
    )


def _verify(args) -> int:
    from bench_lib.run.verify_preset import verify_cells

    filters = dict(backends=tuple(args.backend), dtypes=tuple(args.dtype), devices=tuple(args.device))
    if args.preset:
        cells = presets.get(args.preset).cells()
    elif args.cells and not args.size:
        cells = presets.get("full").cells()
    elif args.size:
        cells = presets.Selection(sizes=tuple(args.size), **filters).cells()
    else:
        cells = presets.smallest(**filters).cells()
    wanted = {
        "workload": args.workload, "model": args.model, "backend": args.backend,
        "dtype": args.dtype, "device": args.device, "execution": args.execution,
    }
    cells = [c for c in cells if all(getattr(c, field) in values for field, values in wanted.items())
             and (not args.cells or any(fnmatch.fnmatchcase(c.label, pattern) for pattern in args.cells))]
    if args.known_failures:
        from bench_lib.run.known_failures import attempt

        return attempt(cells, Path(args.results))
    return verify_cells(cells)


def _bench_options(parser: argparse.ArgumentParser) -> None:
    _preset_option(parser)
    parser.add_argument("--repo", default=".")
    parser.add_argument("--config", default="asv.conf.json")
    parser.add_argument(
        "--workloads", nargs="+", choices=WORKLOADS, help="only the preset's cells of these workloads",
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, help="only the preset's cells of these models")
    parser.add_argument(
        "--results", metavar="FOLDER",
        help="keep the run's results, report and logs in this folder (default: the configuration's results_dir, "
        "results/); `make reference` passes reference/",
    )
    parser.add_argument("--move-damaged", action="store_true", help=MOVE_DAMAGED)
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS",
        help="each benchmark's timeout (default: each suite's own, 300 or 900 s); asv's `-a timeout=N` after `--` "
        "does the same",
    )
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="wait this long for another run writing to the same results folder (default: stop at once)",
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, metavar="SECONDS",
        help="before each workload, wait up to this long for the rest of the machine to use less than 10%% of the "
        "cores (default: do not wait)",
    )
    parser.add_argument(
        "--retry-contended", action=argparse.BooleanOptionalAction, default=True,
        help="time once more, at the end of the run, the cells timed while the machine was busy (default: yes)",
    )
    parser.add_argument(
        "--allow-uncommitted", action="store_true",
        help="run although bench_lib/, benchmarks/ or asv.conf.json differ from the commit (every cell records the "
        "changed files)",
    )
    parser.add_argument("--sizes", nargs="+", help="only the preset's cells of these sizes (as 'L' or '1000')")
    parser.add_argument(
        "--cells", nargs="+", metavar="PATTERN",
        help="only the preset's cells whose label matches one of these patterns (`cells` prints the labels; "
        "* and ? as in file names: 'hvp/torch/*/compiled/*')",
    )
    parser.add_argument(
        "--shard", metavar="I/N",
        help="only part I of N (0 to N - 1) of the selected cells, parts balanced by the times committed in "
        "reference/outcomes/: N machines of one kind each run one part under one --machine name, and their results "
        "merge (docs/sharing.md)",
    )
    parser.add_argument(
        "--measure-peak", action="store_true",
        help="measure the machine's peak FLOP rate again (by default only when none is kept for this CPU, thread "
        "count, GPU and library versions)",
    )
    parser.add_argument(
        "--screens", action="store_true",
        help="screenshots of the report in Chromium, in results/report/screens/ (`make bench` asks for them; a "
        "machine without Chromium says so, and the run stands)",
    )
    parser.add_argument(
        "--machine",
        help="asv's machine name (default: the GPU's model, as 'nvidia-h200', for a preset with GPU cells on a "
        "machine with a GPU; else asv's default, the host name)",
    )
    parser.add_argument("asv_args", nargs="*", help="passed on to `asv run` (after --)")


def _bench(args) -> int:
    from bench_lib.run.bench import run_preset

    return run_preset(
        args.preset, Path(args.repo).resolve(), config=args.config, extra_asv_args=tuple(args.asv_args),
        workloads=tuple(args.workloads or ()), models=tuple(args.models or ()), machine=args.machine,
        sizes=tuple(args.sizes or ()), allow_uncommitted=args.allow_uncommitted, move_damaged=args.move_damaged,
        wait=args.wait, timeout=args.timeout, measure_peak=args.measure_peak, retry_contended=args.retry_contended,
        wait_quiet=args.wait_quiet, results_dir=Path(args.results) if args.results else None,
        cells=tuple(args.cells or ()), screens=args.screens, shard=args.shard,
    )


def _history_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="asv.history.conf.json",
                        help="asv's configuration of the releases, one framework per environment")
    parser.add_argument("--only", nargs="+", metavar="RELEASE",
                        help="only these releases: a backend (torch) or one release (torch==2.14.1)")
    parser.add_argument("--results", default="results", metavar="FOLDER",
                        help="the results folder (default: results/, with every other run)")
    parser.add_argument("bench_args", nargs="*", help="passed on to each `bench` (after --), e.g. --wait-quiet 60")


def _history(args) -> int:
    from bench_lib.run.history import run

    return run(Path(".").resolve(), Path(args.results).resolve(), tuple(args.only or ()), args.config,
               tuple(args.bench_args))


def _merge_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="FOLDER", help="results folders (each shard's)")
    parser.add_argument("--into", required=True, metavar="FOLDER",
                        help="the results folder that gathers them (created if missing)")


def _merge(args) -> int:
    from bench_lib.run.merge import merge

    return merge([Path(source) for source in args.sources], Path(args.into))


def _overhead_options(parser: argparse.ArgumentParser) -> None:
    _preset_option(parser)
    parser.add_argument("--config", default="asv.conf.json")
    parser.add_argument("--commit", default="HEAD", help="the commit whose asv results to read")
    parser.add_argument("--min-ms", type=float, default=1.0, help="only cells whose asv median is at least this")


def _overhead(args) -> int:
    from bench_lib.run.plan import git_commit
    from bench_lib.tools.overhead import compare

    return compare(args.preset, args.config, git_commit(Path(".").resolve(), args.commit), args.min_ms)


def _idiom_options(parser: argparse.ArgumentParser) -> None:
    _preset_option(parser)
    parser.add_argument("--workload", nargs="+", choices=WORKLOADS, help="only these workloads' cells")
    parser.add_argument("--model", nargs="+", choices=MODELS, help="only these models' cells")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--min-ms", type=float, default=1.0, help="the 1.05 target applies to cells at least this slow")


def _idiom(args) -> int:
    from bench_lib.tools.idiom import compare

    return compare(args.preset, rounds=args.rounds, min_ms=args.min_ms, workloads=args.workload, models=args.model)


def _agreement_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cell", nargs="+", help="cell labels, as `cells` prints them")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--config", default="asv.conf.json")


def _agreement(args) -> int:
    from bench_lib.tools.agreement import compare

    return compare(args.cell, args.pairs, args.config)


def _scaling_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="hessian", choices=WORKLOADS)
    parser.add_argument("--dtype", default="float32", choices=DTYPES)
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--model", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--json", help="also write the measurements and fits to this file")
    parser.add_argument("--against", default="n", help="n, or a keyword parameter of the workload (K for unrolled)")
    parser.add_argument(
        "--keyword", action="append", metavar="NAME=VALUE",
        help="only this value of a keyword parameter (repeat for several values: --keyword optimizer=sgd)",
    )


def _scaling(args) -> int:
    from bench_lib.tools.scaling import run

    keywords: dict = {}
    for item in args.keyword or ():
        name, _, value = item.partition("=")
        keywords.setdefault(name, []).append(_size(value))  # an int where it reads as one
    return run(
        args.workload, args.dtype, args.backend, args.model, args.json, args.against,
        {name: tuple(values) for name, values in keywords.items()},
    )


def _report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default="results", help="asv's results folder (every kept run is read)")
    parser.add_argument("--out", default="results/report", help="where the report's files go")
    parser.add_argument("--machine", help="only this machine's runs")
    parser.add_argument("--commit", help="only runs of this commit (a prefix)")
    parser.add_argument("--readme", help="also regenerate the headline table of this README (between its markers)")
    parser.add_argument("--move-damaged", action="store_true", help=MOVE_DAMAGED)
    parser.add_argument("--screens", action="store_true",
                        help="also save screenshots of the page (overview and each workload) in OUT/screens/, taken in "
                             "Chromium offline (needs playwright and Debian's chromium)")


def _report(args) -> int:
    from bench_lib.reporting.page import run

    status = run(args.results, args.out, args.machine, args.commit, readme=args.readme,
                 move_damaged=args.move_damaged)
    if args.screens:
        from bench_lib.reporting import screens

        for path in screens.take(Path(args.out) / "report.html"):
            print(path)
    return status


def _compare_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", help="a results folder, run id, commit (prefix) or machine: its latest run")
    parser.add_argument("new", help="the same, for the new side")
    parser.add_argument("--results", default="results", help="where run ids, commits and machines are looked up")
    parser.add_argument("--factor", type=float, default=1.1, help="a ratio beyond this (or its inverse) is a change")
    parser.add_argument(
        "--across-environments", action="store_true",
        help="compare cells whose framework versions, threads or CPU differ (e.g. two JAX versions at one commit)",
    )
    parser.add_argument("--html", metavar="PATH",
                        help="also write the comparison as a self-contained page: ratio bars by verdict, regressions "
                             "first, and every cell in a sortable table")


def _compare(args) -> int:
    from bench_lib.reporting.compare import run

    return run(args.old, args.new, args.results, args.factor, args.across_environments, html_path=args.html)


def _load_speed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default="results")
    parser.add_argument("--runs", type=int, default=100)


def _load_speed(args) -> int:
    from bench_lib.tools.load_speed import measure

    found = measure(args.results, runs=args.runs)
    print(f"results.load over {found['runs']} copies of run {found['copied']} ({found['rows']} rows): "
          f"median {found['median_seconds']:.2f} s (min {found['min_seconds']:.2f}, max {found['max_seconds']:.2f})")
    return 0


def _gpu_wheels_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dest", default=".whl")
    parser.add_argument("--constraints", default="constraints.txt")
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")


def _gpu_wheels(args) -> int:
    from bench_lib.run.gpu_wheels import download

    return download(args.dest, args.constraints, args.python_version)


def _publish_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="asv.conf.json", help="asv's configuration file")
    parser.add_argument("--results", metavar="FOLDER",
                        help="publish this results folder (default: the configuration's results_dir)")


def _publish(args) -> int:
    from bench_lib.run.publish import publish

    return publish(args.config, results_dir=args.results)


def _cells(args) -> int:
    preset = presets.get(args.preset)
    for cell in preset.cells():
        print(cell.label)
    return 0


VERBS = (
    Verb("verify", "check cells against the reference: a preset's, the given sizes', or the smallest sizes (default)",
         _verify_options, _verify),
    Verb("bench", "run a preset under asv and publish the dashboard", _bench_options, _bench),
    Verb("history", "the history preset in one asv virtualenv per framework release (asv.history.conf.json), "
         "with each release's known failures attempted", _history_options, _history, reads_files=True),
    Verb("merge", "gather the runs of several results folders (the shards of a preset) into one, every cell once",
         _merge_options, _merge, reads_files=True),
    Verb("overhead", "compare asv's medians of the last run with a tight in-process loop", _overhead_options,
         _overhead),
    Verb("idiom", "time each cell of a preset that hand-written framework code covers against it, interleaved in "
         "one process",
         _idiom_options, _idiom),
    Verb("agreement", "asv run of single cells against a fresh-process tight loop, in repeated pairs",
         _agreement_options, _agreement),
    Verb("scaling", "time and peak memory of every CPU cell of a workload against n, with log-log slopes",
         _scaling_options, _scaling),
    Verb("report", "the results as one HTML report with figures, a Markdown summary, CSV and Parquet",
         _report_options, _report, reads_files=True),
    Verb("compare", "two runs cell by cell with verdicts; exit status 1 on a regression beyond --factor",
         _compare_options, _compare, reads_files=True),
    Verb("load-speed", "time results.load over many copies of the latest kept run (in a temporary folder)",
         _load_speed_options, _load_speed, reads_files=True),
    Verb("gpu-wheels", "download asv and its requirements as wheels for a GPU machine without a package registry",
         _gpu_wheels_options, _gpu_wheels, reads_files=True),
    Verb("publish", "asv publish, with the dashboard's scripts served from its folder (no network needed)",
         _publish_options, _publish, reads_files=True),
    Verb("cells", "list the cells of a preset", _preset_option, _cells),
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench_lib")
    commands = parser.add_subparsers(dest="command", required=True)
    for verb in VERBS:
        command = commands.add_parser(verb.name, help=verb.help)
        verb.options(command)
        command.set_defaults(verb=verb)
    args = parser.parse_args(argv)
    return _run(args.verb, args)


def _run(verb: Verb, args: argparse.Namespace) -> int:
    """The verb's exit status, with bad input said in one line (see ``Verb``)."""
    bad_input = (ValueError, FileNotFoundError) if verb.reads_files else ValueError
    try:
        return verb.run(args)
    except bad_input as error:  # say what is wrong, run nothing
        print(f"{verb.name if verb.reads_files else 'error'}: {error}", file=sys.stderr)
        return 2


def _quiet_on_a_closed_pipe() -> int:
    """``cells | head`` closes the pipe early: stop without a traceback, and keep Python's
    own flush at exit from raising again (the recipe of Python's signal module docs)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        status = _quiet_on_a_closed_pipe()
    sys.exit(status)
