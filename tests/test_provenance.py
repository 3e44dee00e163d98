"""Which code ran: a second clone sharing this virtualenv (whose editable install is
this checkout) runs its own bench_lib under asv, every cell records which one, and
uncommitted changes stop a run unless allowed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench_lib.core import conditions, provenance
from bench_lib.run import checkout

REPO = Path(__file__).resolve().parents[1]
WRONG_HVP = (
    "    return lambda p, v, *data: jax.jvp(lambda q: jax.grad(f)(q, *data), (p,), (v,))[1]\n",
    "    return lambda p, v, *data: jax.tree_util.tree_map(lambda t: 1.001 * t, "
    "jax.jvp(lambda q: jax.grad(f)(q, *data), (p,), (v,))[1])\n",
)


def test_the_source_hash_follows_every_python_file(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    first = provenance.source_hash(package)
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert provenance.source_hash(package) != first
    assert provenance.imported()["bench_lib_path"] == str(REPO / "bench_lib")
    recorded = conditions.record()
    assert recorded["bench_lib_hash"] == provenance.source_hash(REPO / "bench_lib") and "uncommitted" in recorded


def clone(tmp_path) -> Path:
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    return target


def config_for(repo: Path, tmp_path: Path) -> Path:
    config = tmp_path / "asv.conf.json"
    config.write_text(json.dumps({
        "version": 1, "project": "higher-order-ad-bench", "repo": str(repo), "branches": ["main"],
        "environment_type": "existing", "benchmark_dir": str(repo / "benchmarks"), "env_dir": str(tmp_path / "env"),
        "results_dir": str(tmp_path / "results"), "html_dir": str(tmp_path / "html"),
    }))
    return config


@pytest.mark.slow
def test_a_second_clone_times_its_own_code_not_the_installed_one(tmp_path):
    other = clone(tmp_path)
    backend = other / "bench_lib" / "backends" / "jax.py"
    source = backend.read_text()
    assert WRONG_HVP[0] in source
    backend.write_text(source.replace(*WRONG_HVP))  # an HVP off by 0.1%
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "commit", "--quiet", "-am", "a wrong HVP"], cwd=other, check=True)

    run = subprocess.run(
        [sys.executable, "-m", "bench_lib", "bench", "--preset", "smoke", "--workloads", "grad", "hvp", "--config",
         str(config_for(other, tmp_path))],
        cwd=other, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode != 0 and "VerificationError" in run.stderr  # asv's exit status: a benchmark failed
    [outcomes] = (tmp_path / "results" / "outcomes").glob("*.jsonl")
    by_mode = {}
    for line in outcomes.read_text().splitlines():
        record = json.loads(line)
        if record["cell"]["execution"] == "compiled":
            by_mode[record["cell"]["mode"]] = record  # grad: rev; hvp: fwd_rev
    # The clone's wrong HVP ran (and failed verification); the installed checkout's
    # right one would have passed and been timed.
    assert by_mode["fwd_rev"]["status"] == "invalid" and "VerificationError" in by_mode["fwd_rev"]["message"]
    assert by_mode["rev"]["status"] == "verified"
    assert by_mode["rev"]["conditions"]["bench_lib_path"] == str(other / "bench_lib")
    assert by_mode["rev"]["conditions"]["bench_lib_hash"] == provenance.source_hash(other / "bench_lib")


def test_uncommitted_changes_stop_the_run_unless_allowed(tmp_path):
    other = clone(tmp_path)
    (other / "bench_lib" / "verification" / "verify.py").write_text((other / "bench_lib" / "verification" / "verify.py").read_text() + "\n# changed\n")
    run = subprocess.run(
        [sys.executable, "-m", "bench_lib", "bench", "--preset", "smoke", "--config", str(config_for(other, tmp_path))],
        cwd=other, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 2
    assert "1 files differ from commit" in run.stderr and "bench_lib/verification/verify.py" in run.stderr
    assert "--allow-uncommitted" in run.stderr and not (tmp_path / "results").exists()
    assert checkout.uncommitted(other) == ["bench_lib/verification/verify.py"]
