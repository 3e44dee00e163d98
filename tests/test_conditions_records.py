import sys

import pytest

from bench_lib.core import conditions
from bench_lib.suite import harness, records
from bench_lib.verification import run_cache
from bench_lib.core.cells import Cell
from bench_lib.core.outcome import Outcome


def test_threads_default_to_usable_cores(monkeypatch):
    monkeypatch.delenv(conditions.THREADS_ENV, raising=False)
    assert conditions.threads() == len(conditions.available_cpus())


@pytest.mark.parametrize("raw", ["0", "-2", "two"])
def test_bad_thread_count_is_refused_by_name(monkeypatch, raw):
    monkeypatch.setenv(conditions.THREADS_ENV, raw)
    with pytest.raises(ValueError, match=f"{conditions.THREADS_ENV} must be an integer from 1 to"):
        conditions.threads()


def test_record_names_threads_and_precision(monkeypatch):
    monkeypatch.setenv(conditions.THREADS_ENV, "1")
    recorded = conditions.record()
    assert recorded["threads"] == 1 and recorded["precision"] == "strict"


CELL = Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "S")
VERIFIED = Outcome(CELL, "verified", errors={"hvp": 1e-7}, tolerances={"hvp": 1e-5}, margin=0.01)


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.setenv(run_cache.RECORDS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(run_cache.RUN_ID_ENV, "run-a")
    return tmp_path


def test_records_are_shared_within_one_run_only(monkeypatch, run):
    records.save(VERIFIED)
    assert records.load(CELL) == VERIFIED
    assert records.load(Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "S", dtype="float64")) is None
    monkeypatch.setenv(run_cache.RUN_ID_ENV, "run-b")
    assert records.load(CELL) is None
    records.discard(run, "run-a")
    monkeypatch.setenv(run_cache.RUN_ID_ENV, "run-a")
    assert records.load(CELL) is None
    assert list(run.iterdir()) == []


def test_nothing_is_shared_without_an_explicit_run(monkeypatch, tmp_path):
    monkeypatch.delenv(run_cache.RUN_ID_ENV, raising=False)
    monkeypatch.setenv(run_cache.RECORDS_DIR_ENV, str(tmp_path))
    records.save(VERIFIED)
    assert records.load(CELL) is None and list(tmp_path.iterdir()) == []
    monkeypatch.setenv(run_cache.RUN_ID_ENV, "run-a")
    monkeypatch.delenv(run_cache.RECORDS_DIR_ENV)
    records.save(VERIFIED)
    assert records.load(CELL) is None


def test_records_are_not_shared_across_asv_environments(monkeypatch, run):
    """asv names no environment to its processes: they are told apart by their Python and
    the matrix's variables, which the run names in $BENCH_MATRIX_VARS."""
    monkeypatch.setenv(records.MATRIX_VARS_ENV, "BENCH_TEST_ENV")
    monkeypatch.setenv("BENCH_TEST_ENV", "a")
    records.save(VERIFIED)
    assert records.load(CELL) is not None
    monkeypatch.setenv("BENCH_TEST_ENV", "b")
    assert records.load(CELL) is None
    records.save(Outcome(CELL, "skipped", reason="torch is not installed"))
    [(first, _)] = records.collect(run, "run-a", records.environment_key(sys.executable, {"BENCH_TEST_ENV": "a"}))
    [(second, _)] = records.collect(run, "run-a", records.environment_key(sys.executable, {"BENCH_TEST_ENV": "b"}))
    assert (first.status, second.status) == ("verified", "skipped")


def test_a_run_counts_how_often_each_cell_was_prepared(run):
    records.save(VERIFIED)
    records.save(Outcome(CELL, "verified", errors={"hvp": 2e-7}, prepared_in="check"))
    [(latest, preparations)] = records.collect(run, "run-a", records.this_environment())
    assert preparations == 2 and latest.errors == {"hvp": 2e-7} and latest.prepared_in == "check"


def test_a_record_that_cannot_be_saved_does_not_turn_a_skip_into_a_failure(monkeypatch, run, capsys):
    def broken_save(outcome):
        raise OSError("disk full")

    monkeypatch.setattr(records, "save", broken_save)
    graph_jax = Cell("grad", "jax", "rev", "graph", "mlp", "S")
    with pytest.raises(NotImplementedError, match="JAX has no graph execution"):
        harness.prepare_and_record(graph_jax, "time")
    assert "could not record the outcome" in capsys.readouterr().err


def test_an_outcome_round_trips_through_json_and_refuses_nonsense():
    assert Outcome.from_json(VERIFIED.to_json()) == VERIFIED
    with pytest.raises(ValueError, match="needs its reason"):
        Outcome(CELL, "skipped")
    with pytest.raises(ValueError, match="unknown status 'timed'"):
        Outcome(CELL, "timed")


def test_a_run_computes_what_its_cells_share_once(run, monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return {"value": [1.0, 2.0]}

    assert run_cache.shared("reference-x", compute) == run_cache.shared("reference-x", compute) == {"value": [1.0, 2.0]}
    assert len(calls) == 1
    monkeypatch.setenv("ASV_COMMIT", "another")  # another commit's code computes anew
    run_cache.shared("reference-x", compute)
    assert len(calls) == 2


def test_without_a_run_shared_values_are_computed_each_time(monkeypatch):
    monkeypatch.delenv(run_cache.RUN_ID_ENV, raising=False)
    calls = []
    run_cache.shared("reference-x", lambda: calls.append(1))
    run_cache.shared("reference-x", lambda: calls.append(1))
    assert len(calls) == 2


def test_the_tests_name_the_thread_variable_the_suite_reads():
    """conftest pins its workers before bench_lib loads, so it spells the name itself."""
    import conftest

    assert conftest.THREADS_ENV == conditions.THREADS_ENV
