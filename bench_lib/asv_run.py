"""Run a preset under asv in the current Python environment, then publish the dashboard.

This is what ``make bench`` calls.  It uses asv's own commands only: ``asv machine``,
``asv run --python=same --set-commit-hash``, ``asv publish``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from asv.config import Config

from . import presets, records


def _git_head(repo: Path) -> str:
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"asv records results against a commit, and {repo} has none: {result.stderr.strip()}")
    return result.stdout.strip()


def asv_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "asv", *args]


def run_preset(
    preset_name: str,
    repo: Path,
    config: str = "asv.conf.json",
    extra_asv_args: tuple[str, ...] = (),
    publish: bool = True,
) -> int:
    """Run the preset's cells with asv and return asv's exit status."""
    preset = presets.get(preset_name)
    cells = preset.cells()
    regexes = presets.asv_regexes(cells, repo / "benchmarks")
    commit = _git_head(repo)
    env = dict(os.environ)
    # One token for the whole run: the check processes read what the timing processes recorded.
    env[records.RUN_ID_ENV] = f"{preset_name}-{uuid.uuid4().hex[:12]}"

    machine = subprocess.run(asv_command("machine", "--yes", "--config", config), cwd=repo, env=env)
    if machine.returncode != 0:
        return machine.returncode
    command = asv_command(
        "run", "--config", config, "--python=same", "--set-commit-hash", commit,
        "--launch-method", "spawn", "--show-stderr",
    )
    for regex in regexes:
        command += ["--bench", regex]
    command += list(extra_asv_args)
    print(f"asv: {len(cells)} cells of preset {preset_name!r} ({preset.description}), commit {commit[:8]}", flush=True)
    status = subprocess.run(command, cwd=repo, env=env).returncode
    if publish:
        subprocess.run(asv_command("publish", "--config", config), cwd=repo, env=env)
    settings = Config.load(str(repo / config))
    print(f"results: {(repo / settings.results_dir).resolve()} (asv JSON, commit {commit[:8]})")
    if publish:
        print(f"dashboard: {(repo / settings.html_dir).resolve()}/index.html (asv preview serves it)")
    return status
