"""``python -m bench_lib gpu-wheels``: the wheels a GPU machine without a package
registry needs to run the suite in a Python that already has CUDA builds of PyTorch
and JAX (``make bench-gpu-offline`` installs them there).

They are what the suite needs beyond ``EXPECTED`` (asv and its requirements, rich for
the run's progress display, HIPS autograd for the networks' float64 reference, bokeh
for the report), at the versions ``constraints.txt`` pins, downloaded where pip works
for the GPU machine's Python and platform.  TensorFlow is left out (its CUDA build is
about 600 MB): without it the TensorFlow cells are skips with that reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench_lib.core import conditions

# The suite's requirements (pyproject.toml's dependencies and its report extra) and
# theirs, for Python 3.12, as distributions named in constraints.txt, but for EXPECTED
WHEELS = (
    "asv", "asv_runner", "json5", "Pympler", "tabulate", "virtualenv", "python-discovery", "distlib", "platformdirs",
    "filelock", "importlib_metadata", "lazy-importer", "zipp", "PyYAML", "build", "pyproject_hooks", "packaging",
    "threadpoolctl",
    "rich", "markdown-it-py", "mdurl", "Pygments",  # the run's progress display
    "autograd",  # the float64 reference of the networks
    "bokeh", "tornado", "xyzservices",  # the report's HTML
)
# What a Python with CUDA builds of PyTorch and JAX is expected to hold already, each
# with its own requirements (the GPU machine's image has every one of them)
EXPECTED = ("numpy", "scipy", "pandas", "matplotlib", "pyarrow", "Jinja2", "contourpy", "pillow", "narwhals")
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
