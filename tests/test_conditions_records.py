import pytest

from bench_lib import conditions, records
from bench_lib.cells import Cell


def test_threads_default_to_usable_cores(monkeypatch):
    monkeypatch.delenv(conditions.THREADS_ENV, raising=False)
    assert conditions.threads() == len(conditions.available_cpus())


@pytest.mark.parametrize("raw", ["0", "-2", "two"])
def test_bad_thread_count_is_refused_by_name(monkeypatch, raw):
    monkeypatch.setenv(conditions.THREADS_ENV, raw)
    with pytest.raises(ValueError, match=f"{conditions.THREADS_ENV} must be a positive integer"):
        conditions.threads()


def test_record_names_threads_and_precision(monkeypatch):
    monkeypatch.setenv(conditions.THREADS_ENV, "1")
    recorded = conditions.record()
    assert recorded["threads"] == 1 and recorded["precision"] == "strict"


CELL = Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "S")


def test_records_are_shared_within_one_run_only(monkeypatch, tmp_path):
    monkeypatch.setenv(records.RECORDS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(records.RUN_ID_ENV, "run-a")
    records.save(CELL, {"status": "verified", "error": 1e-7})
    assert records.load(CELL)["error"] == 1e-7
    assert records.load(Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "S", dtype="float64")) is None
    monkeypatch.setenv(records.RUN_ID_ENV, "run-b")
    assert records.load(CELL) is None
    records.discard("run-a")
    monkeypatch.setenv(records.RUN_ID_ENV, "run-a")
    assert records.load(CELL) is None


def test_records_are_not_shared_across_asv_environments(monkeypatch, tmp_path):
    monkeypatch.setenv(records.RECORDS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(records.RUN_ID_ENV, "one-asv-invocation")
    monkeypatch.setenv("ASV_ENV_NAME", "virtualenv-py3.11-torch2.13.0")
    records.save(CELL, {"status": "verified", "error": 1e-7})
    assert records.load(CELL) is not None
    monkeypatch.setenv("ASV_ENV_NAME", "virtualenv-py3.11-torch2.15.0")
    assert records.load(CELL) is None


def test_run_token_falls_back_to_the_parent_process(monkeypatch):
    monkeypatch.delenv(records.RUN_ID_ENV, raising=False)
    token = records.run_token()
    assert token is None or token.startswith("ppid-")
