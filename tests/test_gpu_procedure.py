"""The GPU procedure, run where CI runs it: without a GPU.  The offline path (a Python
with the frameworks, asv from carried wheels) runs the GPU preset's cells under asv,
and each is a skip that says there is no GPU, never a failure."""

import re
import subprocess
import sys

import pytest
from conftest import REPO, config_in

from bench_lib.run import gpu_wheels
from bench_lib.reporting import tidy


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def pins_in(constraints) -> dict:
    """``name==version`` lines of a constraints file, by normalised name (read here, not
    by the code under test)."""
    found = {}
    for line in constraints.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s#;]+)\s*(#.*)?", line.strip())
        if match:
            found[normalized(match[1])] = match[2]
    return found


def test_the_carried_wheels_are_asvs_requirements_at_the_pinned_versions(tmp_path):
    pins = gpu_wheels.pinned(REPO / "constraints.txt")
    assert "asv==0.6.6" in pins and len(pins) == len(gpu_wheels.WHEELS)
    pinned_here = pins_in(REPO / "constraints.txt")
    assert pins == [f"{name}=={pinned_here[normalized(name)]}" for name in gpu_wheels.WHEELS]
    # pip's name matching: case, '-', '_' and '.' do not matter
    versions = {name: f"{index}.0" for index, name in enumerate(gpu_wheels.WHEELS, 1)}
    (tmp_path / "respelled.txt").write_text("".join(
        f"{name.upper().replace('_', '-')}=={version}\n" for name, version in versions.items()))
    assert gpu_wheels.pinned(tmp_path / "respelled.txt") == [f"{name}=={v}" for name, v in versions.items()]
    command = gpu_wheels.download_command(pins, tmp_path, "3.12")
    assert command[3:6] == ["download", "--no-deps", "--only-binary=:all:"]
    assert command[command.index("--python-version") + 1] == "3.12" and command[-len(pins):] == pins
    (tmp_path / "constraints.txt").write_text("asv==0.6.6\n")
    with pytest.raises(ValueError, match="pins no version of asv_runner, json5"):
        gpu_wheels.pinned(tmp_path / "constraints.txt")


def requirement_closure(roots, leaves, python_version="3.12") -> set:
    """Normalised names of the distributions ``roots`` need, transitively, on Linux with
    ``python_version``, read from the installed distributions' metadata; ``leaves`` are
    not followed (their requirements are taken to be installed with them)."""
    from importlib.metadata import requires
    from packaging.requirements import Requirement

    environment = {"python_version": python_version, "python_full_version": f"{python_version}.0",
                   "sys_platform": "linux", "platform_system": "Linux", "extra": ""}
    found, todo = set(), list(roots)
    while todo:
        name = normalized(todo.pop())
        if name in found:
            continue
        found.add(name)
        if name in leaves:
            continue
        for line in requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                todo.append(requirement.name)
    return found


def test_the_carried_wheels_and_what_the_gpu_machine_has_cover_every_requirement():
    """A wheel missing there stops the offline procedure before any cell runs; the
    easy ones to miss are the suite's own requirements beyond asv (HIPS autograd) and
    those that only some Pythons need (importlib_metadata's lazy-importer below 3.15)."""
    from importlib.metadata import requires
    from packaging.requirements import Requirement

    frameworks = {"tensorflow-cpu", "jax", "jaxlib", "torch"}
    roots = []
    for line in requires("higher-order-ad-bench"):
        requirement = Requirement(line)
        marker = str(requirement.marker or "")
        if (not marker or marker == 'extra == "report"') and normalized(requirement.name) not in frameworks:
            roots.append(requirement.name)
    assert {"asv", "autograd", "bokeh"} <= {normalized(name) for name in roots}
    expected = {normalized(name) for name in gpu_wheels.EXPECTED}
    carried = {normalized(name) for name in gpu_wheels.WHEELS}
    missing = requirement_closure(roots, expected) - carried - expected
    assert not missing, f"neither carried (gpu_wheels.WHEELS) nor expected there: {sorted(missing)}"
    # the check can fail: without autograd's wheel, autograd is missing
    assert "autograd" in requirement_closure(roots, expected) - (carried - {"autograd"}) - expected


@pytest.mark.slow
def test_the_offline_gpu_procedure_runs_and_every_cell_says_there_is_no_gpu(tmp_path):
    config = config_in(tmp_path)
    (tmp_path / "wheels").mkdir()  # asv is already importable here: nothing to carry
    run = subprocess.run(
        ["make", "--no-print-directory", "bench-gpu-offline", f"GPU_PYTHON={sys.executable}",
         f"WHEELS={tmp_path / 'wheels'}",
         # each framework's compiled grad in both precisions, and JAX's graph cells (a skip of the support table)
         f"GPU_ARGS=--config {config} --cells 'grad/*/*/compiled/mlp-L/*' 'grad/jax/*/graph/mlp-L/*' --allow-uncommitted"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "asv: 8 cells of preset 'gpu'" in run.stdout
    table = tidy.load(tmp_path / "results", REPO / "benchmarks")
    times = table[table.metric == "time"]
    assert len(times) == 8 and set(times.status) == {"skipped"}
    assert set(times.precision) == {"strict", "tf32"} and set(times.device) == {"gpu"}
    no_gpu = times.reason.str.contains("sees no GPU|sees no CUDA device|sees no gpu device")
    graph = times.reason.str.contains("has no graph execution")  # the table's, before any device
    assert (no_gpu | graph).all() and no_gpu.sum() == 6 and graph.sum() == 2, set(times.reason)
