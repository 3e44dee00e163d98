"""Which code produced a result: the ``bench_lib`` a process imported (its folder and a
hash of its source), recorded with every cell.  ``run/checkout.py`` checks before a run
that asv's processes will import the checkout's.

A plain ``asv run`` sets no ``ASV_PYTHONPATH``: from a clone sharing a virtualenv whose
editable install is another checkout, its processes import the other checkout's
``bench_lib`` beside this clone's suites.  The suites see it themselves
(``check_suites_checkout``, from ``benchmarks/__init__.py``): a warning on stderr
(``asv run --show-stderr`` shows it), every cell's outcome record names the suites'
checkout beside the ``bench_lib`` it ran (``suites_path``), and each benchmark's
version in asv's result file names the other ``bench_lib`` (``suite_version``), so
that asv's dashboard never draws those numbers as the suites' own.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # bench_lib/


def source_hash(package: Path) -> str:
    """A hash of every Python file of ``package`` (their paths and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(Path(package).rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


_suites: dict = {}  # "path": the checkout whose suites this process imported


@functools.lru_cache(maxsize=1)
def _hash() -> str:
    return source_hash(PACKAGE)


def imported() -> dict:
    """The ``bench_lib`` this process runs, and the checkout of the suites it runs
    (where known): recorded with every cell."""
    return {"bench_lib_path": str(PACKAGE), "bench_lib_hash": _hash(), "suites_path": _suites.get("path")}


def suite_version(version: str) -> str:
    """asv's version of every benchmark: ``version``, with the ``bench_lib`` that runs
    it where that is not the suites' checkout's."""
    if not _suites.get("other"):
        return version
    return f"{version} (bench_lib {_hash()} of {PACKAGE}, not of {_suites['path']})"


def check_suites_checkout(suites_package_file: str) -> str | None:
    """Called by the suites' package (``benchmarks/__init__.py``) with its file: the
    checkout they belong to is recorded, and where ``bench_lib`` comes from another
    checkout, a warning is printed on stderr and returned.  (A ``bench_lib`` installed
    into an environment, as asv's virtualenvs build it from the commit they measure,
    is no other checkout.)"""
    checkout = Path(suites_package_file).resolve().parents[1]
    _suites["path"] = str(checkout)
    _suites["other"] = checkout != PACKAGE.parent and (PACKAGE.parent / "benchmarks").is_dir()
    if not _suites["other"]:
        return None
    warning = (
        f"warning: these benchmarks are {checkout}'s, but this process imported bench_lib from {PACKAGE}: "
        f"its cells run that code. `make bench` points asv at the checkout; for a plain `asv run`, set "
        f"ASV_PYTHONPATH={checkout}"
    )
    print(warning, file=sys.stderr, flush=True)
    return warning
