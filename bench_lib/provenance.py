"""Which code produced a result: the ``bench_lib`` a process imported (its folder and a
hash of its source), and whether the checkout had uncommitted changes.

asv's benchmark processes import whatever ``bench_lib`` their Python finds, and asv
drops ``PYTHONPATH``: a second clone sharing a virtualenv with an editable install of
the first would time the first clone's code and file it under its own commit.  So
``make bench`` points asv's processes at the checkout (``ASV_PYTHONPATH``), checks
before the run that they will import it, and every cell records what it imported.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# What a run's results depend on, besides the frameworks: the library and the suites.
CODE_PATHS = ("bench_lib", "benchmarks", "asv.conf.json")


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


def checkout(repo: Path) -> dict:
    """What a process should report that runs the checkout at ``repo``."""
    package = (Path(repo) / "bench_lib").resolve()
    return {"bench_lib_path": str(package), "bench_lib_hash": source_hash(package)}


def uncommitted(repo: Path) -> list[str]:
    """The files of ``CODE_PATHS`` that differ from the checkout's commit (``git
    status``); an error where ``repo`` is no git checkout."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS], cwd=repo,
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise ValueError(f"{repo} is not a git checkout: {done.stderr.strip()}")
    files = [line[3:] for line in done.stdout.splitlines() if line.strip()]
    return [name for name in files if "__pycache__" not in name]


def as_seen_by(command_env: dict, python: str) -> dict:
    """What a process started with ``command_env`` (the environment asv gives its
    benchmark processes) imports as ``bench_lib``."""
    code = "import json; from bench_lib import provenance; print(json.dumps(provenance.imported()))"
    done = subprocess.run([python, "-c", code], env=command_env, capture_output=True, text=True, check=False, cwd="/")
    if done.returncode != 0:
        return {"bench_lib_path": None, "error": done.stderr.strip().splitlines()[-1:]}
    import json

    return json.loads(done.stdout)
