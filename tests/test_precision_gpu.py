"""The GPU path on a machine without a GPU: the precision parameter and its skips,
the settings each framework gets before it touches a device, the GPU fields recorded
with a result, and device memory from a (fake) allocator reader into the tidy table."""

import datetime
import json

import numpy as np
import pytest

import bench_lib
from bench_lib.verification import prepare as api, error_model, verify
from bench_lib import backends
from bench_lib.core import conditions, gpu, presets
from bench_lib.reporting import flops, store, tidy
from bench_lib.run import peak
from bench_lib.backends import support
from bench_lib.core.cells import PRECISIONS, Cell
from bench_lib.suite.grid import suite_params, suite_values
from bench_lib.suite.harness import CheckSuite

INSTALLED = [name for name in bench_lib.BACKENDS if backends.not_installed_reason(name) is None]


@pytest.fixture(autouse=True)
def strict_afterwards():
    """Every test leaves the frameworks at strict precision, as the suite's default."""
    yield
    conditions.use_precision("strict")
    for name in INSTALLED:
        backends.load(name).framework()


def test_precision_is_an_asv_parameter_of_every_workload_and_part_of_the_cell():
    for workload in bench_lib.WORKLOADS:
        names, values = suite_params(workload, "mlp" if workload != "hessian" else "rosenbrock")
        assert values[names.index("precision")] == list(PRECISIONS)
    cell = Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "L", "gpu", precision="tf32")
    assert "tf32" in suite_values(cell) and cell.label.endswith("/gpu/float32/tf32")
    assert Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "L").precision == "strict"
    with pytest.raises(ValueError, match="unknown precision 'tf16'.*'strict', 'tf32'"):
        Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "L", precision="tf16")


def test_tf32_cells_on_the_cpu_and_in_float64_are_skips_with_their_reasons():
    on_cpu = Cell("grad", "torch", "rev", "compiled", "mlp", "S", precision="tf32")
    assert "on the CPU every framework computes in full float32" in support.static_reason(on_cpu)
    in_float64 = Cell("grad", "torch", "rev", "compiled", "mlp", "S", "gpu", "float64", precision="tf32")
    assert "tf32 changes float32 matmuls only" in support.static_reason(in_float64)
    with pytest.raises(NotImplementedError, match="on the CPU every framework computes in full float32"):
        bench_lib.prepare(**on_cpu.as_dict())
    # The CPU presets keep to strict; the GPU preset runs both precisions, float32.
    assert {cell.precision for cell in presets.get("cpu").cells()} == {"strict"}
    gpu_cells = presets.get("gpu").cells()
    assert {cell.precision for cell in gpu_cells} == set(PRECISIONS) and {c.device for c in gpu_cells} == {"gpu"}
    assert {(cell.workload, cell.size) for cell in gpu_cells} == {
        ("grad", "S"), ("grad", "M"), ("grad", "L"), ("hvp", "S"), ("hvp", "M"), ("hvp", "L"), ("hessian", "S"),
        ("unrolled", "M"),
    }


def _framework_settings(name: str) -> dict:
    """What the framework itself says of TF32, read from its own API."""
    if name == "torch":
        import torch

        return {"tf32": bool(torch.backends.cuda.matmul.allow_tf32) and bool(torch.backends.cudnn.allow_tf32)
                and torch.get_float32_matmul_precision() == "high"}
    if name == "tensorflow":
        import tensorflow as tf

        return {"tf32": bool(tf.config.experimental.tensor_float_32_execution_enabled())}
    import jax

    return {"tf32": jax.config.jax_default_matmul_precision == "tensorfloat32"}


@pytest.mark.parametrize("backend", INSTALLED)
def test_each_framework_gets_the_cells_precision_before_it_lists_a_device(backend, monkeypatch):
    module = backends.load(backend)
    seen = []

    def unavailable(cell):  # the first point where the suite asks a framework about devices
        seen.append(_framework_settings(backend)["tf32"])
        return "no GPU here (test)"

    monkeypatch.setattr(module, "unavailable", unavailable)
    for precision, tf32 in (("tf32", True), ("strict", False)):
        cell = Cell("grad", backend, "rev", "compiled", "mlp", "S", "gpu", precision=precision)
        with pytest.raises(NotImplementedError, match="no GPU here"):
            bench_lib.prepare(**cell.as_dict())
        assert seen[-1] is tf32, (backend, precision)


@pytest.mark.parametrize("backend", INSTALLED)
def test_a_prepared_cell_is_timed_at_its_own_precision(backend):
    """asv's setup re-applies the cell's precision: a process may have switched since."""
    cell = Cell("grad", backend, "rev", "eager", "rosenbrock", 100)
    prepared = bench_lib.prepare(**cell.as_dict())
    assert prepared.conditions["precision"] == "strict"
    api.activate(Cell("grad", backend, "rev", "eager", "rosenbrock", 100, "gpu", precision="tf32"))
    assert _framework_settings(backend)["tf32"] is True
    api.activate(cell)
    assert _framework_settings(backend)["tf32"] is False
    reported = backends.load(backend).reported_conditions()
    flag = {"torch": "torch_cuda_matmul_allow_tf32", "tensorflow": "tf_tensor_float_32"}.get(backend)
    if flag:
        assert reported[flag] is False
    else:
        assert reported["jax_matmul_precision"] == "highest"


def test_tf32_cells_are_held_to_tf32s_rounding():
    assert error_model.unit_roundoff("float32", "tf32") == 2.0**-11
    assert error_model.unit_roundoff("float64", "tf32") == 2.0**-53
    cell = Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "S", "gpu")
    expected = verify.expected_for(cell)
    kappa = verify.conditioning(cell.workload, cell.model, cell.size, cell.seed)
    strict = error_model.bounds(cell.spec, cell.case, expected, kappa, "float32")["hvp"].tolerance
    tf32 = error_model.bounds(cell.spec, cell.case, expected, kappa, "float32", "tf32")["hvp"].tolerance
    np.testing.assert_allclose(tf32, strict * 2.0**13, rtol=1e-4)  # (the reference's own error is not scaled)
    # A zeroed block is still caught at tf32
    outputs = {"hvp": np.asarray(expected["hvp"].value, np.float32).copy()}
    outputs["hvp"][error_model.output_blocks(cell.spec, cell.case)["hvp"].slices[-1]] = 0
    tf32_cell = Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "S", "gpu", precision="tf32")
    assert not verify.verdict_for(tf32_cell, outputs).passed


NVIDIA_SMI = """Sun Nov 29 20:00:00 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 580.65.06              Driver Version: 580.65.06      CUDA Version: 13.0     |
"""


def test_gpu_fields_come_from_nvidia_smi_and_the_framework(monkeypatch):
    assert gpu.parse_query("NVIDIA H200, 143771, 580.65.06\n") == {
        "gpu": "NVIDIA H200", "gpu_memory_bytes": 143771 * 2**20, "gpu_driver": "580.65.06"}
    assert gpu.parse_query("") == {} and gpu.parse_cuda_driver(NVIDIA_SMI) == "13.0"
    assert gpu.machine_name("NVIDIA H200") == "nvidia-h200"
    assert gpu.machine_name("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    query = "NVIDIA H200, 143771, 580.65.06\n"
    monkeypatch.setattr(gpu, "_run", lambda command: query if len(command) > 1 else NVIDIA_SMI)

    class Framework:
        @staticmethod
        def gpu_conditions():
            return {"gpu": "NVIDIA H200", "cuda_build": "12.8", "cudnn": "91002"}

    assert gpu.conditions(Framework) == {
        "gpu": "NVIDIA H200", "gpu_memory_bytes": 143771 * 2**20, "gpu_driver": "580.65.06", "cuda_driver": "13.0",
        "cuda_build": "12.8", "cudnn": "91002",
    }
    assert gpu.machine_name() == "nvidia-h200"
    monkeypatch.setattr(gpu, "_run", lambda command: None)  # no nvidia-smi: no fields, no machine name
    assert gpu.driver_conditions() == {} and gpu.machine_name() is None


@pytest.mark.parametrize("backend", INSTALLED)
def test_without_a_gpu_frameworks_report_no_gpu_fields_and_no_device_memory(backend):
    module = backends.load(backend)
    assert module.gpu_conditions() == {}
    cell = Cell("grad", backend, "rev", "eager", "rosenbrock", 100)
    assert module.device_peak_memory(cell, lambda: pytest.fail("a CPU cell is not called for device memory")) is None


def test_gpu_peaks_are_kept_apart_from_the_cpus():
    assert flops.peak_key("cpu", "float32") == "float32"
    assert flops.peak_key("gpu", "float32") == "gpu/float32"
    assert flops.peak_key("gpu", "float32", "tf32") == "gpu/tf32"
    assert flops.peak_key("gpu", "float64", "tf32") == "gpu/float64"
    if "torch" in INSTALLED:
        import torch

        if not torch.cuda.is_available():
            assert peak.measure_gpu_peak() == {}


def test_device_memory_and_gpu_fields_reach_the_tidy_table(monkeypatch, tmp_path):
    """A fake allocator reader and GPU fields, through prepare, the outcome, asv's
    track benchmark and an asv result file, into the tidy table."""
    if "jax" not in INSTALLED:
        pytest.skip(backends.not_installed_reason("jax"))
    module = backends.load("jax")
    monkeypatch.setattr(module, "device_peak_memory", lambda cell, call: (call(), 123_456_789)[1])
    fields = {"gpu": "NVIDIA H200", "gpu_memory_bytes": 150_000_000_000, "gpu_driver": "580.65.06",
              "cuda_driver": "13.0", "cuda_build": "12.8", "cudnn": "91002"}
    real_record = conditions.record
    monkeypatch.setattr(conditions, "record", lambda: {**real_record(), **fields})

    class GradChecks(CheckSuite):
        workload, model = "grad", "mlp"

    cell = Cell("grad", "jax", "rev", "compiled", "mlp", "XXS")
    params = suite_values(cell)
    suite = GradChecks()
    suite.setup(*params)
    assert suite.track_device_memory(*params) == 123_456_789

    # asv's own result file with that number at the cell's place in the grid
    grid = [list(axis) for axis in GradChecks.params]
    index = [tuple(combination) for combination in __import__("itertools").product(*grid)].index(params)
    values = [float("nan")] * int(np.prod([len(axis) for axis in grid]))
    values[index] = suite.track_device_memory(*params)
    from asv import results as asv_results
    from asv import runner

    benchmark = {"name": "grad.MlpGradChecks.track_device_memory", "version": GradChecks.version,
                 "params": [[repr(v) for v in axis] for axis in grid], "param_names": GradChecks.param_names}
    stored = asv_results.Results(
        {"machine": "nvidia-h200", "python": "3.11"}, {}, "a" * 40, 1_700_000_000_000, "3.11", "gpu-env", {})
    stored.add_result(
        benchmark, runner.BenchmarkResult(values, [None] * len(values), [None] * len(values), 0, "", None),
        started_at=datetime.datetime(2026, 11, 29, tzinfo=datetime.timezone.utc), duration=1.0,
    )
    stored.save(str(tmp_path / "results"))
    # ... and the outcome record of the run, archived as make bench keeps a run
    history = tmp_path / "results" / store.HISTORY / "nvidia-h200"
    history.mkdir(parents=True)
    [saved] = (tmp_path / "results" / "nvidia-h200").glob("*.json")
    (history / f"{'a' * 8}-gpu-run{store.ARCHIVE_SUFFIX}").write_text(saved.read_text())
    saved.unlink()
    (tmp_path / "results" / store.OUTCOMES).mkdir()
    record = {**suite.outcome.to_json(), "preparations": 1}
    (tmp_path / "results" / store.OUTCOMES / f"{'a' * 8}-gpu-run.jsonl").write_text(json.dumps(record, default=str) + "\n")

    table = tidy.load(tmp_path / "results")
    row = table[table.metric == "device_memory"].iloc[0]
    assert row.value == 123_456_789 and row.unit == "bytes" and row.status == "ok" and row.precision == "strict"
    assert {name: row[name] for name in gpu.FIELDS} == fields
    assert row.machine == "nvidia-h200" and row.run_id == "gpu-run"
