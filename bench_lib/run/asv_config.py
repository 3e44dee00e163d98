"""How a run calls asv: the command, the configuration it passes (with the run's
conditions in asv's environment matrix), the environment asv gives its benchmark
processes, and the options of asv's that the run reads itself."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from asv import util as asv_util
from asv.config import Config

from bench_lib.core import conditions
from bench_lib.run import asv_environment
from bench_lib.run.control import CONFIG_PREFIX


def asv_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "asv", *args]


def check_paths(repo: Path, config: str) -> None:
    """A repository and configuration that cannot be used, named before anything runs."""
    if not repo.is_dir():
        raise ValueError(f"--repo {repo}: no such folder")
    if not (repo / "benchmarks").is_dir():
        raise ValueError(f"--repo {repo}: no benchmarks/ folder there; expected a checkout of this suite")
    path = repo / config
    if not path.is_file():
        raise ValueError(f"--config {config}: no such file in {repo}")
    try:
        Config.load(str(path))
    except Exception as error:  # asv's own errors (UserError, JSON errors) name the problem
        raise ValueError(f"--config {config}: asv cannot read it: {error}") from error


ENVIRONMENT_PLUGIN = ".bench_lib.run.asv_environment"  # asv imports it from the repository (its leading dot)
ENVIRONMENT = f"{asv_environment.TOOL_NAME}:same"  # asv run -E: this Python, named by its versions


def derived_config(repo: Path, config: str, token: str, threads: int | None = None,
                   results_dir: Path | None = None) -> str:
    """A copy of the asv configuration for one run (removed with it): its paths made
    absolute, the suite's environment plugin listed, ``results_dir`` in place of the
    configuration's where given, and the run's thread count in the matrix as an
    environment variable: asv then puts it in the environment's name, so `asv compare`
    and the dashboard never mix two thread counts (the benchmarks read the same
    variable, ``conditions.THREADS_ENV``)."""
    settings = absolute_settings(repo / config)
    if results_dir is not None:
        settings["results_dir"] = str(Path(results_dir).resolve())
    plugins = list(settings.get("plugins") or [])
    settings["plugins"] = plugins if ENVIRONMENT_PLUGIN in plugins else [*plugins, ENVIRONMENT_PLUGIN]
    if threads is not None:
        matrix = dict(settings.get("matrix") or {})
        matrix["env"] = {**(matrix.get("env") or {}), conditions.THREADS_ENV: [str(threads)]}
        settings["matrix"] = matrix
        settings["include"] = with_threads(settings.get("include") or (), threads)
    path = (repo / ".asv" / f"{CONFIG_PREFIX}{os.getpid()}-{token}.conf.json").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1))
    return str(path)


def absolute_settings(path: Path) -> dict:
    """An asv configuration's settings with its paths made absolute (asv reads them from
    the configuration's own folder), to be written elsewhere."""
    source = Path(path).resolve()
    settings = asv_util.load_json(str(source), js_comments=True)
    for key in ("repo", "benchmark_dir", "env_dir", "results_dir", "html_dir"):
        value = settings.get(key)
        if isinstance(value, str) and "://" not in value and not Path(value).is_absolute():
            settings[key] = str((source.parent / value).resolve())
    return settings


def with_threads(entries, threads: int) -> list[dict]:
    """Environments listed whole (asv.history.conf.json's ``include``) with the thread
    count among their variables, as the matrix gives it to the others: asv names an
    environment by it."""
    return [{**entry, "env": {**(entry.get("env") or {}), conditions.THREADS_ENV: str(threads)}} for entry in entries]


def builds_environments(config: str) -> bool:
    """Whether asv builds the configuration's environments (virtualenvs of framework
    releases) rather than running in this Python (the suite's ``installed`` one)."""
    settings = asv_util.load_json(config, js_comments=True)
    return settings.get("environment_type") not in (asv_environment.TOOL_NAME, "existing")


def environment_args(config: str) -> list[str]:
    """asv run's ``-E``: this Python for the ``installed`` environment; nothing where
    asv builds the configuration's own."""
    return [] if builds_environments(config) else ["-E", ENVIRONMENT]


def as_asv_starts(env: dict) -> dict:
    """The environment asv gives its benchmark processes: ASV_PYTHONPATH becomes their
    PYTHONPATH, any other PYTHONPATH is dropped."""
    started = {key: value for key, value in env.items() if key not in ("ASV_PYTHONPATH", "PYTHONPATH")}
    if env.get("ASV_PYTHONPATH"):
        started["PYTHONPATH"] = env["ASV_PYTHONPATH"]
    return started


def asked_timeout(asv_args) -> float | None:
    """The timeout in asv's own ``-a timeout=N`` (``--attribute``), which asv would
    ignore for these suites (they set one); None where not given."""
    args = list(asv_args)
    for index, arg in enumerate(args):
        value = None
        if arg in ("-a", "--attribute") and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith("--attribute="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-a") and len(arg) > 2:
            value = arg[2:]
        if value and value.startswith("timeout="):
            return positive_seconds(value.split("=", 1)[1], "-a timeout")
    return None


def positive_seconds(raw: str, what: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < math.inf:
        raise ValueError(f"{what} must be a positive, finite number of seconds, got {raw!r}")
    return seconds


def matrix_variables(config: str) -> list[str]:
    """The environment variables of the configuration's matrix, which asv sets in its
    benchmark processes (``suite/records.py`` tells environments apart by them)."""
    settings = asv_util.load_json(config, js_comments=True)
    return sorted(((settings.get("matrix") or {}).get("env") or {}))
