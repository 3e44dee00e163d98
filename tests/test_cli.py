"""The command line: verify chooses cells by preset, sizes or the smallest sizes, and
says what it found; bad input is refused by name; a reader that stops early ends a listing
quietly."""

import pytest

from bench_lib.__main__ import main


def test_verify_given_sizes_prints_a_line_per_cell_and_the_counts(capsys):
    status = main(["verify", "--size", "1e3", "--model", "rosenbrock", "--workload", "grad", "--backend", "jax", "--dtype", "float32"])
    out = capsys.readouterr().out
    assert status == 0
    assert "[1/3] verified grad/jax/rev/eager/rosenbrock-1000/cpu/float32" in out
    assert "skipped  grad/jax/rev/graph/rosenbrock-1000/cpu/float32" in out and "JAX has no graph execution" in out
    assert out.strip().splitlines()[-1].startswith("2 verified, 1 skipped, 0 failed")


def test_verify_a_preset_takes_its_cells(capsys):
    status = main(["verify", "--preset", "smoke", "--execution", "graph"])
    out = capsys.readouterr().out
    assert status == 0 and out.strip().splitlines()[-1].startswith("0 verified, 2 skipped, 0 failed")


def test_a_failed_cell_makes_verify_fail(capsys, monkeypatch):
    from bench_lib.run import verify_preset
    from bench_lib.verification import verify

    real = verify.verdict_for
    monkeypatch.setattr(verify, "verdict_for", lambda cell, out, seed=None: real(cell, {k: -v for k, v in out.items()}, seed))
    # in this process, where the wrong verdict is planted (a worker process imports its own)
    monkeypatch.setattr(verify_preset, "_in_a_worker", lambda cells, lift_known=False: (verify_preset.verify_one(c) for c in cells))
    status = main(["verify", "--size", "1000", "--workload", "grad", "--backend", "jax", "--execution", "eager", "--dtype", "float64"])
    out = capsys.readouterr().out
    assert status == 1 and "failed   grad/jax/rev/eager/rosenbrock-1000/cpu/float64" in out and "VerificationError" in out


def test_an_unknown_preset_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--preset", "everything"])
    assert "invalid choice: 'everything'" in capsys.readouterr().err


def test_a_listing_cut_short_by_its_reader_ends_without_a_traceback():
    import subprocess
    import sys

    listing = subprocess.Popen([sys.executable, "-m", "bench_lib", "cells", "--preset", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = listing.stdout.readline()
    listing.stdout.close()  # as `head -1` does: thousands of labels are still to come
    status = listing.wait(timeout=60)
    err = listing.stderr.read().decode()
    assert first.startswith(b"grad/")
    assert status == 1 and "Traceback" not in err and "BrokenPipeError" not in err, err
