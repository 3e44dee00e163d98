"""Command line: ``python -m bench_lib {verify,bench,publish,load-speed,overhead,idiom,agreement,scaling,report,compare,cells,gpu-wheels}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench_lib.core import presets
from bench_lib.core.cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, MODELS, WORKLOADS


def _size(text: str):
    """A size as the command line spells it: mlp's letters, Rosenbrock's integers."""
    return int(float(text)) if text.replace(".", "").replace("e", "").isdigit() else text


def _verify(args) -> int:
    from bench_lib.run.verify_preset import verify_cells

    filters = dict(backends=tuple(args.backend), dtypes=tuple(args.dtype), devices=tuple(args.device))
    if args.preset:
        cells = presets.get(args.preset).cells()
    elif args.size:
        cells = presets.Selection(sizes=tuple(args.size), **filters).cells()
    else:
        cells = presets.smallest(**filters).cells()
    wanted = {
        "workload": args.workload, "model": args.model, "backend": args.backend,
        "dtype": args.dtype, "device": args.device, "execution": args.execution,
    }
    return verify_cells(c for c in cells if all(getattr(c, field) in values for field, values in wanted.items()))


def _bench(args) -> int:
    from bench_lib.run.bench import run_preset

    return run_preset(
        args.preset, Path(args.repo).resolve(), config=args.config, extra_asv_args=tuple(args.asv_args),
        workloads=tuple(args.workloads or ()), models=tuple(args.models or ()), machine=args.machine,
        sizes=tuple(args.sizes or ()), allow_uncommitted=args.allow_uncommitted, move_damaged=args.move_damaged,
        wait=args.wait, timeout=args.timeout,
    )


def _overhead(args) -> int:
    from bench_lib.run.bench import git_commit
    from bench_lib.tools.overhead import compare

    return compare(args.preset, args.config, git_commit(Path(".").resolve(), args.commit), args.min_ms)


def _idiom(args) -> int:
    from bench_lib.tools.idiom import compare

    return compare(args.preset, rounds=args.rounds, min_ms=args.min_ms, workloads=args.workload)


def _agreement(args) -> int:
    from bench_lib.tools.agreement import compare

    return compare(args.cell, args.pairs, args.config)


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


def _report(args) -> int:
    from bench_lib.reporting.report import run

    try:
        return run(args.results, args.out, args.machine, args.commit, readme=args.readme,
                   move_damaged=args.move_damaged)
    except (ValueError, FileNotFoundError) as error:
        print(f"report: {error}", file=sys.stderr)
        return 2


def _compare(args) -> int:
    from bench_lib.reporting.compare import run

    try:
        return run(args.old, args.new, args.results, args.factor, args.across_environments)
    except (ValueError, FileNotFoundError) as error:
        print(f"compare: {error}", file=sys.stderr)
        return 2


def _load_speed(args) -> int:
    from bench_lib.tools.load_speed import measure

    try:
        found = measure(args.results, runs=args.runs)
    except (ValueError, FileNotFoundError) as error:
        print(f"load-speed: {error}", file=sys.stderr)
        return 2
    print(f"results.load over {found['runs']} copies of run {found['copied']} ({found['rows']} rows): "
          f"median {found['median_seconds']:.2f} s (min {found['min_seconds']:.2f}, max {found['max_seconds']:.2f})")
    return 0


def _publish(args) -> int:
    from bench_lib.run.publish import publish

    try:
        return publish(args.config)
    except (ValueError, FileNotFoundError) as error:
        print(f"publish: {error}", file=sys.stderr)
        return 2


def _gpu_wheels(args) -> int:
    from bench_lib.run.gpu_wheels import download

    try:
        return download(args.dest, args.constraints, args.python_version)
    except (ValueError, FileNotFoundError) as error:
        print(f"gpu-wheels: {error}", file=sys.stderr)
        return 2


def _cells(args) -> int:
    preset = presets.get(args.preset)
    for cell in preset.cells():
        print(cell.label)
    return 0


MOVE_DAMAGED = "move a result file asv cannot read to results/damaged/ (and say so) instead of stopping"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench_lib")
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser(
        "verify", help="check cells against the reference: a preset's, the given sizes', or the smallest sizes (default)"
    )
    verify.add_argument("--preset", choices=sorted(presets.PRESETS), help="every cell of this preset")
    verify.add_argument("--size", nargs="+", type=_size, help="these sizes (e.g. S M 1000000) instead of the smallest")
    verify.add_argument("--workload", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    verify.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    verify.add_argument("--model", nargs="+", choices=MODELS, default=list(MODELS))
    verify.add_argument("--execution", nargs="+", choices=EXECUTIONS, default=list(EXECUTIONS))
    verify.add_argument("--dtype", nargs="+", choices=DTYPES, default=list(DTYPES))
    verify.add_argument("--device", nargs="+", choices=DEVICES, default=["cpu"])
    verify.set_defaults(handler=_verify)

    bench = commands.add_parser("bench", help="run a preset under asv and publish the dashboard")
    bench.add_argument("--preset", default="default", choices=sorted(presets.PRESETS))
    bench.add_argument("--repo", default=".")
    bench.add_argument("--config", default="asv.conf.json")
    bench.add_argument(
        "--workloads", nargs="+", choices=WORKLOADS, help="only the preset's cells of these workloads",
    )
    bench.add_argument("--models", nargs="+", choices=MODELS, help="only the preset's cells of these models")
    bench.add_argument("--move-damaged", action="store_true", help=MOVE_DAMAGED)
    bench.add_argument(
        "--timeout", type=float, metavar="SECONDS",
        help="each benchmark's timeout (default: each suite's own, 300 or 900 s); asv's `-a timeout=N` after `--` "
        "does the same",
    )
    bench.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="wait this long for another run writing to the same results folder (default: stop at once)",
    )
    bench.add_argument(
        "--allow-uncommitted", action="store_true",
        help="run although bench_lib/, benchmarks/ or asv.conf.json differ from the commit (every cell records the "
        "changed files)",
    )
    bench.add_argument("--sizes", nargs="+", help="only the preset's cells of these sizes (as 'L' or '1000')")
    bench.add_argument(
        "--machine",
        help="asv's machine name (default: the GPU's model, as 'nvidia-h200', for a preset with GPU cells on a "
        "machine with a GPU; else asv's default, the host name)",
    )
    bench.add_argument("asv_args", nargs="*", help="passed on to `asv run` (after --)")
    bench.set_defaults(handler=_bench)

    overhead = commands.add_parser("overhead", help="compare asv's medians of the last run with a tight in-process loop")
    overhead.add_argument("--preset", default="default", choices=sorted(presets.PRESETS))
    overhead.add_argument("--config", default="asv.conf.json")
    overhead.add_argument("--commit", default="HEAD", help="the commit whose asv results to read")
    overhead.add_argument("--min-ms", type=float, default=1.0, help="only cells whose asv median is at least this")
    overhead.set_defaults(handler=_overhead)

    idiom = commands.add_parser(
        "idiom", help="time each mlp cell of a preset against hand-written framework code, interleaved in one process"
    )
    idiom.add_argument("--preset", default="default", choices=sorted(presets.PRESETS))
    idiom.add_argument("--workload", nargs="+", choices=WORKLOADS, help="only these workloads' cells")
    idiom.add_argument("--rounds", type=int, default=7)
    idiom.add_argument("--min-ms", type=float, default=1.0, help="the 1.05 target applies to cells at least this slow")
    idiom.set_defaults(handler=_idiom)

    agreement = commands.add_parser(
        "agreement", help="asv run of single cells against a fresh-process tight loop, in repeated pairs"
    )
    agreement.add_argument("cell", nargs="+", help="cell labels, as `cells` prints them")
    agreement.add_argument("--pairs", type=int, default=3)
    agreement.add_argument("--config", default="asv.conf.json")
    agreement.set_defaults(handler=_agreement)

    scaling = commands.add_parser(
        "scaling", help="time and peak memory of every CPU cell of a workload against n, with log-log slopes"
    )
    scaling.add_argument("--workload", default="hessian", choices=WORKLOADS)
    scaling.add_argument("--dtype", default="float32", choices=DTYPES)
    scaling.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    scaling.add_argument("--model", nargs="+", choices=MODELS, default=list(MODELS))
    scaling.add_argument("--json", help="also write the measurements and fits to this file")
    scaling.add_argument("--against", default="n", help="n, or a keyword parameter of the workload (K for unrolled)")
    scaling.add_argument(
        "--keyword", action="append", metavar="NAME=VALUE",
        help="only this value of a keyword parameter (repeat for several values: --keyword optimizer=sgd)",
    )
    scaling.set_defaults(handler=_scaling)

    report = commands.add_parser(
        "report", help="the results as one HTML report with figures, a Markdown summary, CSV and Parquet"
    )
    report.add_argument("--results", default="results", help="asv's results folder (every kept run is read)")
    report.add_argument("--out", default="results/report", help="where the report's files go")
    report.add_argument("--machine", help="only this machine's runs")
    report.add_argument("--commit", help="only runs of this commit (a prefix)")
    report.add_argument("--readme", help="also regenerate the headline table of this README (between its markers)")
    report.add_argument("--move-damaged", action="store_true", help=MOVE_DAMAGED)
    report.set_defaults(handler=_report)
    compare = commands.add_parser(
        "compare", help="two runs cell by cell with verdicts; exit status 1 on a regression beyond --factor"
    )
    compare.add_argument("old", help="a results folder, run id, commit (prefix) or machine: its latest run")
    compare.add_argument("new", help="the same, for the new side")
    compare.add_argument("--results", default="results", help="where run ids, commits and machines are looked up")
    compare.add_argument("--factor", type=float, default=1.1, help="a ratio beyond this (or its inverse) is a change")
    compare.add_argument(
        "--across-environments", action="store_true",
        help="compare cells whose framework versions, threads or CPU differ (e.g. two JAX versions at one commit)",
    )
    compare.set_defaults(handler=_compare)
    load_speed = commands.add_parser(
        "load-speed", help="time results.load over many copies of the latest kept run (in a temporary folder)"
    )
    load_speed.add_argument("--results", default="results")
    load_speed.add_argument("--runs", type=int, default=100)
    load_speed.set_defaults(handler=_load_speed)

    wheels = commands.add_parser(
        "gpu-wheels", help="download asv and its requirements as wheels for a GPU machine without a package registry",
    )
    wheels.add_argument("--dest", default=".whl")
    wheels.add_argument("--constraints", default="constraints.txt")
    wheels.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    wheels.set_defaults(handler=_gpu_wheels)
    publish = commands.add_parser(
        "publish", help="asv publish, with the dashboard's scripts served from its folder (no network needed)"
    )
    publish.add_argument("--config", default="asv.conf.json", help="asv's configuration file")
    publish.set_defaults(handler=_publish)
    cells = commands.add_parser("cells", help="list the cells of a preset")
    cells.add_argument("--preset", default="default", choices=sorted(presets.PRESETS))
    cells.set_defaults(handler=_cells)

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as error:  # bad input: say what is wrong, run nothing
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
