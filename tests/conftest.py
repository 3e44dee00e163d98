"""Shared fixtures: one real asv run of the smoke preset per test session."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    work = tmp_path_factory.mktemp("asv")
    config = {
        "version": 1,
        "project": "higher-order-ad-bench",
        "repo": str(REPO),
        "branches": ["main"],
        "environment_type": "existing",
        "benchmark_dir": str(REPO / "benchmarks"),
        "env_dir": str(work / "env"),
        "results_dir": str(work / "results"),
        "html_dir": str(work / "html"),
    }
    config_path = work / "asv.conf.json"
    config_path.write_text(json.dumps(config))
    run = subprocess.run(
        [sys.executable, "-m", "bench_lib", "bench", "--preset", "smoke", "--config", str(config_path),
         "--allow-uncommitted"],  # tests run on working trees
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    files = [p for p in (work / "results").glob("*/*.json") if p.name != "machine.json"]
    assert len(files) == 1, files
    return json.loads(files[0].read_text()), work, run.stdout
