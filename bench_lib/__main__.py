"""Command line: ``python -m bench_lib {verify,bench,overhead,cells}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import presets
from .cells import BACKENDS, DTYPES, MODELS


def _verify(args) -> int:
    from .verification_run import verify_cells

    return verify_cells(backends=args.backend, models=args.model, dtypes=args.dtype)


def _bench(args) -> int:
    from .asv_run import run_preset

    return run_preset(args.preset, Path(args.repo).resolve(), config=args.config, extra_asv_args=tuple(args.asv_args))


def _overhead(args) -> int:
    from .asv_run import git_commit
    from .overhead import compare

    return compare(args.preset, args.config, git_commit(Path(".").resolve(), args.commit), args.min_ms)


def _cells(args) -> int:
    preset = presets.get(args.preset)
    for cell in preset.cells():
        print(cell.label)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench_lib")
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser("verify", help="check every supported cell at the smallest sizes against the reference")
    verify.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    verify.add_argument("--model", nargs="+", choices=MODELS, default=list(MODELS))
    verify.add_argument("--dtype", nargs="+", choices=DTYPES, default=list(DTYPES))
    verify.set_defaults(handler=_verify)

    bench = commands.add_parser("bench", help="run a preset under asv and publish the dashboard")
    bench.add_argument("--preset", default="default", choices=sorted(presets.PRESETS))
    bench.add_argument("--repo", default=".")
    bench.add_argument("--config", default="asv.conf.json")
    bench.add_argument("asv_args", nargs="*", help="passed on to `asv run` (after --)")
    bench.set_defaults(handler=_bench)

    overhead = commands.add_parser("overhead", help="compare asv's medians of the last run with a tight in-process loop")
    overhead.add_argument("--preset", default="default", choices=sorted(presets.PRESETS))
    overhead.add_argument("--config", default="asv.conf.json")
    overhead.add_argument("--commit", default="HEAD", help="the commit whose asv results to read")
    overhead.add_argument("--min-ms", type=float, default=1.0, help="only cells whose asv median is at least this")
    overhead.set_defaults(handler=_overhead)

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
