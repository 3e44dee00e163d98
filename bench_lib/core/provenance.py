"""Which code produced a result: the ``bench_lib`` a process imported (its folder and a
hash of its source), recorded with every cell.  ``run/checkout.py`` checks before a run
that asv's processes will import the checkout's.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # bench_lib/


def source_hash(package: Path) -> str:
    """A hash of every Python file of ``package`` (their paths and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(Path(package).rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def imported() -> dict:
    """The ``bench_lib`` this process runs: recorded with every cell."""
    return {"bench_lib_path": str(PACKAGE), "bench_lib_hash": source_hash(PACKAGE)}
