"""The release history: asv.history.conf.json lists one environment per framework
release, the history preset holds the cells a release is judged by, and ``history``
runs each release in an environment of its own."""

import json
import subprocess
import sys

import pytest
from asv import util as asv_util
from conftest import REPO, committed_clone
from packaging.version import Version

from bench_lib.core import conditions, presets
from bench_lib.run import history


def test_every_framework_has_at_least_four_recent_releases_each_alone_in_its_environment():
    found = history.releases(REPO)
    by_backend: dict = {}
    for release in found:
        by_backend.setdefault(release.backend, []).append(Version(release.version))
    assert set(by_backend) == {"tensorflow", "jax", "torch"}
    assert all(len(versions) >= 4 and versions == sorted(versions) for versions in by_backend.values()), by_backend
    settings = asv_util.load_json(str(REPO / history.CONFIG), js_comments=True)
    assert settings["environment_type"] == "virtualenv" and settings["pythons"] == ["3.11"]
    assert all(entry["python"] == "3.11" for entry in settings["include"])
    assert "--no-deps" in settings["build_command"][0]  # the project's wheel alone (asv stops at several)
    assert len({release.label for release in found}) == len(found)


def test_an_environment_with_two_frameworks_is_refused_by_name(tmp_path):
    settings = asv_util.load_json(str(REPO / history.CONFIG), js_comments=True)
    settings["include"].append({"python": "3.11", "req": {"jax": "0.10.2", "torch": "2.13.0"}})
    (tmp_path / "two.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match=r"exactly one framework.*\['jax', 'torch'\]"):
        history.releases(tmp_path, "two.json")


def test_only_chooses_releases_by_backend_or_by_release_and_names_an_unknown_one():
    found = history.releases(REPO)
    assert {r.backend for r in history.select(found, ("torch",))} == {"torch"}
    assert [r.label for r in history.select(found, ("jax==0.10.2",))] == ["jax==0.10.2"]
    with pytest.raises(ValueError, match="--only jax==0.1.0"):
        history.select(found, ("jax==0.1.0",))


def test_each_release_gets_a_configuration_of_its_environment_alone(tmp_path):
    [release] = history.select(history.releases(REPO), ("jax==0.10.2",))
    path = history.one_environment_config(REPO, history.CONFIG, release, tmp_path)
    settings = json.loads(path.read_text())
    [entry] = settings["include"]
    assert entry["req"] == release.entry["req"] and entry["env"] == {"BENCH_THREADS": str(conditions.threads())}
    assert settings["results_dir"] == str(REPO / "results")
    python = history.environment_python(path)
    assert python.name == "python" and python.parent.parent.parent == REPO / ".asv" / "env"


def test_the_history_preset_holds_the_cells_a_release_is_judged_by():
    cells = presets.get("history").cells()
    hvp = {(c.model, c.size, c.mode) for c in cells if c.workload == "hvp"}
    assert hvp == {(model, size, mode) for model, size in (("mlp", "S"), ("mlp", "M"), ("cnn", "S"))
                   for mode in ("fwd_rev", "rev_fwd", "rev_rev")}
    assert {(c.model, c.size) for c in cells if c.workload == "hessian"} == {("mlp", "XS")}
    unrolled = {(c.mode, dict(c.keywords)["K"]) for c in cells if c.workload == "unrolled"}
    assert unrolled == {("reverse", 10), ("forward", 10)}
    assert {c.execution for c in cells} == {"eager", "compiled"} and {c.dtype for c in cells} == {"float32"}
    assert {c.backend for c in cells} == {"tensorflow", "jax", "torch"}


@pytest.mark.heavy
def test_history_builds_a_release_runs_its_cells_and_attempts_its_known_failures(tmp_path):
    """One release for real (minutes: pip installs JAX from the registry the first time)."""
    repo = committed_clone(tmp_path / "clone")
    results = tmp_path / "results"
    run = subprocess.run([sys.executable, "-m", "bench_lib", "history", "--only", "jax==0.10.2", "--results",
                          str(results)], cwd=repo, capture_output=True, text=True, timeout=3600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    [ledger] = history.read_ledger(results)
    assert ledger["release"] == "jax==0.10.2" and ledger["build_seconds"] > 0 and ledger["run_seconds"] > 0
    assert sum(ledger["known_failures"].values()) >= 1
