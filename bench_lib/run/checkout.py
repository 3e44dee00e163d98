"""The checkout a run measures: its uncommitted changes, and which ``bench_lib`` asv's
benchmark processes will import.

asv's benchmark processes import whatever ``bench_lib`` their Python finds, and asv
drops ``PYTHONPATH``: a second clone sharing a virtualenv with an editable install of
the first would time the first clone's code and file it under its own commit.  So
``make bench`` points asv's processes at the checkout (``ASV_PYTHONPATH``), checks
before the run that they will import it, and every cell records what it imported
(``core/provenance.py``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench_lib.core import provenance

# What a run's results depend on, besides the frameworks: the library and the suites.
CODE_PATHS = ("bench_lib", "benchmarks", "asv.conf.json")


def expected(repo: Path) -> dict:
    """What a process should report that runs the checkout at ``repo``."""
    package = (Path(repo) / "bench_lib").resolve()
    return {"bench_lib_path": str(package), "bench_lib_hash": provenance.source_hash(package)}


def check_git_checkout(repo: Path) -> None:
    """asv files results under the checkout's commit and reads commit dates and
    branches from its git history: a folder that is no git checkout, or one inside
    another repository (whose commits and files git would name), is a ValueError
    naming it, before asv's own "Can not determine what kind of DVCS"."""
    repo = Path(repo).resolve()
    done = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ValueError(
            f"{repo} is not a git checkout ({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'no git'}):"
            " asv files results under a commit and dates them from git's history; clone the repository rather than "
            "copying its files"
        )
    top = Path(done.stdout.strip()).resolve()
    if top != repo:
        raise ValueError(
            f"{repo} is not a git checkout of its own: it lies inside the repository at {top}, whose commit and files "
            "git would name instead; clone the suite's repository into a folder of its own"
        )


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
    code = "import json; from bench_lib.core import provenance; print(json.dumps(provenance.imported()))"
    done = subprocess.run([python, "-c", code], env=command_env, capture_output=True, text=True, check=False, cwd="/")
    if done.returncode != 0:
        return {"bench_lib_path": None, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout)
