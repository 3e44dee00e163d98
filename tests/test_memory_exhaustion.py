"""Running out of memory is ``oom`` in every form it takes, in ``bench`` and in
``verify``, and ``verify`` reports every cell even when one kills its process."""

import subprocess
import sys

import pytest
from conftest import committed_clone

from bench_lib.core import memory_exhaustion
from bench_lib.core.cells import Cell
from bench_lib.core.outcome import Outcome
from bench_lib.suite import asv_output

CELL = Cell("grad", "jax", "rev", "eager", "rosenbrock", 1000, "cpu", "float32")
WORDS = {
    "Python": "MemoryError: Unable to allocate 7.45 GiB for an array with shape (1000000, 1000)",
    "C++": "terminate called after throwing an instance of 'std::bad_alloc'",
    "XLA": "jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8.00GiB.",
    "TensorFlow": "ResourceExhaustedError: OOM when allocating tensor with shape[100000,100000]",
    "PyTorch": "RuntimeError: [enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried "
               "to allocate 80000000000 bytes",
    "PyTorch CUDA": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "glibc": "python: cannot allocate memory for thread-local data: ABORT",
}


@pytest.mark.parametrize("source", WORDS)
def test_every_form_of_running_out_of_memory_is_oom(source):
    printed = f"[50.00%] ··· grad.RosenbrockGrad.time_grad\n              {WORDS[source]}\n" \
              "              asv: benchmark failed (exit status 134)"
    assert asv_output.classify(printed) == ("oom", f"out of memory: {WORDS[source]}")
    kind, _, message = WORDS[source].partition(": ")
    failure = MemoryError(message) if kind == "MemoryError" else RuntimeError(WORDS[source])
    assert Outcome.of_failure(CELL, failure, "time").status == "oom"


def test_other_failures_and_deaths_are_not_oom():
    assert Outcome.of_failure(CELL, ValueError("shapes (3,) and (4,) not aligned"), "time").status == "failed"
    killed = "asv: benchmark failed (exit status -9)"
    assert asv_output.classify(killed)[0] == "crashed"  # a SIGKILL while the OOM killer killed nothing
    assert asv_output.classify(killed, oom_kills=1) == (
        "oom", "out of memory: killed by SIGKILL while the kernel's OOM killer killed 1 processes (/proc/vmstat)")
    assert asv_output.classify("Segmentation fault\nasv: benchmark failed (exit status -11)", oom_kills=1)[0] == "crashed"
    assert memory_exhaustion.oom_kills() is None or memory_exhaustion.oom_kills() >= 0


# Planted in a clone's prepare(): each eager float64, compiled float32 and compiled
# float64 cell runs out of memory, or dies, in another way.
PLANTED = (
    "    module, arrays = _build(cell)\n    started = time.perf_counter()\n",
    "    if cell.execution == 'eager' and cell.dtype == 'float64':\n"
    "        raise MemoryError('planted: Unable to allocate 7.45 GiB')\n"
    "    if cell.execution == 'compiled' and cell.dtype == 'float32':\n"
    "        import os, sys\n"
    "        print(\"terminate called after throwing an instance of 'std::bad_alloc'\", file=sys.stderr, flush=True)\n"
    "        os.abort()\n"
    "    if cell.execution == 'compiled' and cell.dtype == 'float64':\n"
    "        import os, signal\n"
    "        os.kill(os.getpid(), signal.SIGSEGV)\n"
    "    module, arrays = _build(cell)\n    started = time.perf_counter()\n",
)


@pytest.mark.slow
def test_verify_reports_every_cell_when_one_kills_its_process(tmp_path):
    clone = committed_clone(tmp_path / "clone")
    prepare = clone / "bench_lib" / "verification" / "prepare.py"
    source = prepare.read_text()
    assert source.count(PLANTED[0]) == 1
    prepare.write_text(source.replace(*PLANTED))
    run = subprocess.run([sys.executable, "-m", "bench_lib", "verify", "--workload", "grad", "--backend", "jax",
                          "--model", "rosenbrock"], cwd=clone, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in lines] == ["verified", "oom", "skipped", "skipped", "oom", "crashed"]
    assert "MemoryError: planted: Unable to allocate 7.45 GiB" in lines[1]
    assert "out of memory: terminate called after throwing an instance of 'std::bad_alloc'" in lines[4]
    assert "(the process died, exit status -6)" in lines[4] and "the process died (exit status -11)" in lines[5]
    assert run.stdout.splitlines()[-1].startswith("1 verified, 2 skipped, 0 failed, 1 crashed, 2 oom in ")
