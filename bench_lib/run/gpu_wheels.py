"""``python -m bench_lib gpu-wheels``: the wheels a GPU machine without a package
registry needs to run the suite in a Python that already has CUDA builds of PyTorch
and JAX (``make bench-gpu-offline`` installs them there).

They are asv and what asv needs, and rich (the run's progress display), at the versions
``constraints.txt`` pins, downloaded where pip works for the GPU machine's Python and
platform.  TensorFlow is left out (its
CUDA build is about 600 MB): without it the TensorFlow cells are skips with that reason.
pandas, matplotlib and numpy are expected there (the report can also be made here from
the results brought back).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench_lib.core import conditions

# asv 0.6.6's requirements and theirs, and rich's, as distributions named in constraints.txt
WHEELS = (
    "asv", "asv_runner", "json5", "Pympler", "tabulate", "virtualenv", "distlib", "platformdirs", "filelock",
    "importlib_metadata", "zipp", "PyYAML", "build", "pyproject_hooks", "packaging", "threadpoolctl",
    "rich", "markdown-it-py", "mdurl", "Pygments",  # the run's progress display
)
# pip matches manylinux tags exactly: the ones wheels of these packages carry
PLATFORMS = (
    "manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
    "manylinux1_x86_64",
)


def pinned(constraints: Path, names=WHEELS) -> list[str]:
    """``name==version`` for each of ``names``, from ``constraints``; an error naming
    any that it does not pin."""
    if not Path(constraints).is_file():
        raise FileNotFoundError(f"no constraints file {constraints}")
    versions = conditions.pinned_versions(constraints)
    missing = [name for name in names if conditions.distribution_key(name) not in versions]
    if missing:
        raise ValueError(f"{constraints} pins no version of {', '.join(missing)}")
    return [f"{name}=={versions[conditions.distribution_key(name)]}" for name in names]


def download_command(requirements: list[str], dest: Path, python_version: str = "3.12") -> list[str]:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", python_version,
        "--implementation", "cp", "-d", str(dest),
    ]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return command + requirements


def download(dest, constraints="constraints.txt", python_version: str = "3.12") -> int:
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    command = download_command(pinned(Path(constraints)), dest, python_version)
    status = subprocess.run(command, check=False).returncode
    if status == 0:
        print(f"wheels for Python {python_version}: {dest} ({len(list(dest.glob('*.whl')))} files)")
    return status
