"""The architecture holds: every module sits in a layer, and the import contract of
pyproject.toml (``[tool.importlinter]``) is kept."""

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the package's front: the public API, the CLI and the public results loader
FRONT = {"__init__.py", "__main__.py", "results.py"}


def contract() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_every_module_sits_in_a_layer():
    [layers] = [c["layers"] for c in contract()["contracts"] if c["type"] == "layers"]
    packages = {name.split(".")[1] for name in layers}
    assert packages == {"core", "backends", "verification", "suite", "run", "reporting", "tools"}
    outside = [
        str(path.relative_to(REPO)) for path in (REPO / "bench_lib").glob("*.py") if path.name not in FRONT
    ] + [
        str(path.relative_to(REPO)) for path in (REPO / "bench_lib").iterdir()
        if path.is_dir() and path.name not in packages and path.name != "__pycache__"
    ]
    assert outside == []


def test_the_import_contract_is_kept():
    linter = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(linter), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in run.stdout
