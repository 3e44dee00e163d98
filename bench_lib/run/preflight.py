"""What is wrong with the environment, found before anything is timed: one clear line
each, not a traceback in every cell.

- A framework that is installed but fails to import (a broken wheel, a missing shared
  library) stops the run: each of its cells would fail the same way.  A framework that
  is not installed is no error: its cells are skips with that reason.
- A framework whose installed version is not the one ``constraints.txt`` pins is said
  (the results record the versions that ran; the pins are the versions seen working
  together).
- GPU cells on a machine without a GPU are said once; each is a skip with the reason.
- Earlier runs in the results folder under this machine's name, measured on another
  CPU, stop the run: asv would file both under one name, and the dashboard, the report
  and the README's headline would show them as one machine's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench_lib import backends
from bench_lib.core import conditions, gpu, manifest
from bench_lib.core.cells import DISTRIBUTIONS, FRAMEWORKS
from bench_lib.reporting import store


def import_failure(backend: str, env: dict, python: str = sys.executable) -> str | None:
    """Why ``backend``'s framework fails to import and set up in a process started with
    ``env`` (as asv starts its benchmark processes), or None."""
    code = f"from bench_lib.backends import load; load({backend!r}).framework()"
    done = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}"


def version_notes(used: set[str], constraints: Path) -> list[str]:
    pins = conditions.pinned_versions(constraints)
    notes = []
    for backend in sorted(used):
        for distribution in (name for installed_as in DISTRIBUTIONS[backend].values() for name in installed_as):
            installed, pinned = conditions.package_version(distribution), pins.get(conditions.distribution_key(distribution))
            if installed and pinned and conditions.release(installed) != conditions.release(pinned):
                notes.append(f"note: {distribution} {installed} is installed; constraints.txt pins {pinned} "
                             "(the results record the version that ran)")
    return notes


def check(cells: list, env: dict, repo: Path) -> list[str]:
    """Notes to print before the run; a ValueError naming every framework that is
    installed but cannot be imported."""
    used = {cell.backend for cell in cells if backends.not_installed_reason(cell.backend) is None}
    broken = {backend: import_failure(backend, env) for backend in sorted(used)}
    broken = {backend: why for backend, why in broken.items() if why}
    if broken:
        raise ValueError("; ".join(
            f"{backend} is installed but fails to import ({FRAMEWORKS[backend]}): {why}" for backend, why in broken.items()
        ) + ": fix the environment (make setup), or uninstall it to skip its cells")
    notes = version_notes(used, repo / "constraints.txt")
    gpu_cells = sum(cell.device == "gpu" for cell in cells)
    if gpu_cells and not gpu.driver_conditions():
        notes.append(f"note: {gpu_cells} GPU cells and no GPU here (no nvidia-smi): each will be a skip with the "
                     "framework's reason")
    return notes


def check_same_cpu(results_dir: Path, machine: str) -> None:
    """A ValueError naming both CPUs where an earlier run of ``machine`` in
    ``results_dir`` recorded another CPU than this one's."""
    here = conditions.cpu_name()
    for run in manifest.manifests(results_dir):
        if run.machine != machine:
            continue
        for environment in run.environments:
            for record in store.read_outcomes(Path(results_dir) / environment.outcomes, results_dir):
                cpu = (record.get("conditions") or {}).get("cpu")
                if cpu and cpu != here:
                    raise ValueError(
                        f"{results_dir} holds runs of machine {machine!r} measured on another CPU ({cpu}, run "
                        f"{run.run_id}); this one is {here}, and asv would file both under {machine!r}: name this "
                        "machine with --machine NAME, or keep its runs in another folder with --results FOLDER"
                    )
