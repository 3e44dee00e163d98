"""The patterns of suite/asv_output.py against asv's own output, recorded from real runs
of the installed asv (tests/data/asv-<version>-*.log)."""

from pathlib import Path

import asv
import pytest

from bench_lib.suite import asv_output

DATA = Path(__file__).parent / "data"
FAULTS = (DATA / f"asv-{asv.__version__}-faults.log").read_text()
TIMED = (DATA / f"asv-{asv.__version__}-timed.log").read_text()
# asv at a 64-column terminal, smoke HVPs with the planted hang: the check benchmarks'
# names come out cut from the left ("··· ...VPChecks.track_device_memory"), each with a
# failure block for the hung cell (the grids' rows and the clone's path left out).
NARROW = (DATA / f"asv-{asv.__version__}-narrow.log").read_text()
JAX_HVP = "'jax', 'fwd_rev', 'compiled', 'S', 'cpu', 'float32', 'strict'"


def test_the_patterns_are_pinned_to_the_installed_asv():
    assert asv_output.supported(asv.__version__)
    assert not asv_output.supported("0.7.0") and not asv_output.supported("0.60")


def test_failure_blocks_are_read_per_benchmark_and_parameters():
    texts = asv_output.failure_texts(FAULTS)
    assert asv_output.classify(texts[("hvp.MlpHVP.time_hvp", JAX_HVP)]) == (
        "timeout", "the process was stopped after 20.0 s (asv's timeout)")
    skipped = texts[("grad.MlpGrad.time_grad", "'jax', 'graph', 'S', 'cpu', 'float32', 'strict'")]
    assert "asv: skipped: CellUnsupported" in skipped
    # the block of one benchmark never runs on into the next one's
    assert ("hvp.MlpHVPChecks.track_device_memory", JAX_HVP) not in texts


@pytest.mark.parametrize(
    "text,status,reason",
    [
        ("MemoryError: Unable to allocate 64.0 GiB", "oom", "out of memory: MemoryError: Unable to allocate 64.0 GiB"),
        ("Fatal Python error: Aborted\nasv: benchmark failed (exit status -6)", "crashed",
         "the process died without a result (asv: benchmark failed (exit status -6))"),
        ("", "crashed", "the process died without a result"),
    ],
)
def test_what_a_failed_process_printed_becomes_a_status(text, status, reason):
    assert asv_output.classify(text) == (status, reason)


def test_a_median_is_read_from_asvs_table():
    assert asv_output.table_time(TIMED, ("jax", "compiled", "S", "cpu", "float32", "strict")) == pytest.approx(160e-6)
    assert asv_output.table_time(TIMED, ("jax", "compiled", "S", "cpu", "float32", "tf32")) is None
    assert asv_output.table_time(TIMED, ("torch", "compiled", "S", "cpu", "float32", "strict")) is None
    assert asv_output.parse_time("   jax   compiled  M  cpu  float32  strict  1.19s  ") == pytest.approx(1.19)
    assert asv_output.parse_time("  tensorflow  graph  S  cpu  float32  strict  505±30μs  ") == pytest.approx(505e-6)


def test_a_name_asv_shortened_takes_its_failure_blocks_with_it():
    names = {"hvp.MlpHVP.time_hvp", "hvp.MlpHVPChecks.track_device_memory", "hvp.MlpHVPChecks.track_error",
             "hvp.MlpHVPChecks.track_first_call", "hvp.MlpHVPChecks.track_peak_memory"}
    texts = asv_output.failure_texts(NARROW, names)
    timing = texts[("hvp.MlpHVP.time_hvp", JAX_HVP)]
    assert asv_output.classify(timing) == ("timeout", "the process was stopped after 20.0 s (asv's timeout)")
    assert "began preparing it" not in timing  # the checks' words stay with the checks
    for name in names - {"hvp.MlpHVP.time_hvp"}:
        assert "began preparing it and ended without an outcome" in texts[(name, JAX_HVP)], name
    assert asv_output.full_name("...VPChecks.track_error", names) == "hvp.MlpHVPChecks.track_error"
    assert asv_output.full_name("...Checks.track_error", names | {"hessian.MlpHessianChecks.track_error"}) == (
        "...Checks.track_error")  # two names end so: none is guessed
