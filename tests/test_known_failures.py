"""Known failures that notice their fix: support-table rules for framework bugs name the
releases they were seen in and how their failure reads; ``verify --known-failures``
attempts their cells in worker processes that may crash and files each as still
failing, fixed or changed; a later run reads those findings."""

import re

import pytest

from bench_lib.backends import known_failures, support
from bench_lib.backends.known_failures import Finding, KnownFailure
from bench_lib.core import presets
from bench_lib.core.cells import Cell

FIXED = Cell("grad", "jax", "rev", "eager", "rosenbrock", 1000, "cpu", "float64")
CRASHES = Cell("grad", "jax", "rev", "eager", "rosenbrock", 1000, "cpu", "float32")
CHANGED = Cell("hvp", "jax", "fwd_rev", "eager", "rosenbrock", 1000, "cpu", "float64")


def test_every_known_failure_names_its_framework_releases_and_failure():
    known = [rule for rule in support.RULES if rule.known]
    assert len(known) >= 4
    assert len({rule.known.name for rule in known}) == len(known)
    for rule in known:
        assert rule.known.framework in rule.match.get("backend", ()), rule.known.name
        assert rule.known.seen_in and all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in rule.known.seen_in)
        re.compile(rule.known.signature)
    # a missing feature stays a plain skip, never attempted again
    jax_graph = Cell("grad", "jax", "rev", "graph", "mlp", "S", "cpu", "float32")
    assert support.known_failure_of(jax_graph) is None and "no graph execution" in support.static_reason(jax_graph)


def test_the_skip_reason_names_the_releases_it_was_seen_in(monkeypatch):
    monkeypatch.delenv(known_failures.FOLDER_ENV, raising=False)
    cell = Cell("hvp", "torch", "rev_fwd", "compiled", "mlp", "S", "cpu", "float64")
    reason = support.static_reason(cell)
    assert "segmentation fault" in reason and "known failure 'torch-inductor-float64-jvp-segfault' of torch 2.10.0, 2.11.0, 2.12.1, 2.13.0" in reason
    with support.lifted_known_failures():
        assert support.static_reason(cell) is None  # attempted as an ordinary cell
    assert support.static_reason(cell) == reason


@pytest.mark.parametrize("status, message, result", [
    ("verified", "", "fixed"),
    ("crashed", "the process died (exit status -11): Fatal Python error: Segmentation fault", "still failing"),
    ("failed", "RuntimeError: an unrelated error", "changed"),
])
def test_an_attempt_is_still_failing_fixed_or_changed(status, message, result):
    known = KnownFailure("k", "jax", ("0.10.2",), r"exit status -11|segmentation fault")
    finding = known_failures.classify(known, FIXED, "0.10.2", status, message)
    assert finding.result == result and finding.cell == FIXED.label
    assert finding.describe().startswith("fixed in jax 0.10.2" if result == "fixed" else f"{result} in jax 0.10.2")


def _file(folder, *findings):
    known_failures.write(folder, list(findings))


@pytest.mark.parametrize("filed, installed, decides", [
    ([("0.10.2", "still failing")], "0.10.2", "still failing"),
    ([("0.10.2", "fixed")], "0.10.2", "fixed"),
    ([("0.10.2", "fixed")], "0.11.0", "fixed"),  # from that version on
    ([("0.10.2", "still failing")], "0.11.0", None),  # not attempted in 0.11.0: the rule applies
    ([("0.10.2", "fixed"), ("0.11.0", "still failing")], "0.11.0", "still failing"),  # broken again
    ([("0.11.0", "fixed")], "0.10.2", None),  # fixed later, not in this release
    ([], "0.10.2", None),
    ([("0.10.2", "still failing")], "0.10.2+cuda", "still failing"),  # a local build label is the same release
    ([("0.10.2+cpu", "fixed")], "0.10.2", "fixed"),
])
def test_the_finding_of_the_installed_release_or_an_older_fix_decides(tmp_path, monkeypatch, filed, installed, decides):
    known = KnownFailure("k", "jax", ("0.10.2",), "x")
    for version, result in filed:
        _file(tmp_path, Finding("k", FIXED.label, "jax", version, result, ""))
    monkeypatch.setattr(known_failures, "installed_version", lambda backend: installed)
    found = known_failures.finding_for(known, FIXED, tmp_path)
    assert (found.result if found else None) == decides


def test_a_fixed_cell_is_an_ordinary_cell_and_a_still_failing_one_says_when_it_was_attempted(tmp_path, monkeypatch):
    rule = support.Rule({"backend": ("jax",), "model": ("rosenbrock",)}, "planted bug",
                        KnownFailure("planted", "jax", ("0.0.1",), "x"))
    monkeypatch.setattr(support, "RULES", (rule, *support.RULES))
    monkeypatch.setattr(known_failures, "installed_version", lambda backend: "0.10.2")
    monkeypatch.setenv(known_failures.FOLDER_ENV, str(tmp_path))
    _file(tmp_path, Finding("planted", FIXED.label, "jax", "0.10.2", "fixed", ""),
          Finding("planted", CRASHES.label, "jax", "0.10.2", "still failing", "exit status -11"),
          Finding("planted", CHANGED.label, "jax", "0.10.2", "changed", "RuntimeError: new"))
    assert support.static_reason(FIXED) is None
    assert support.static_reason(CHANGED) is None  # it runs, and its new failure is a failure
    assert support.static_reason(CRASHES).endswith("attempted again: still failing in jax 0.10.2]")


def test_a_cell_attempted_again_replaces_its_finding_and_keeps_the_others(tmp_path):
    _file(tmp_path, Finding("k", "a", "jax", "0.10.2", "still failing", "m"), Finding("k", "b", "jax", "0.10.2", "fixed", ""))
    _file(tmp_path, Finding("k", "a", "jax", "0.10.2", "fixed", ""))
    assert {(f.cell, f.result) for f in known_failures.read(tmp_path)} == {("a", "fixed"), ("b", "fixed")}


def test_a_damaged_findings_file_is_named(tmp_path):
    (tmp_path / "jax-0.10.2.findings").write_text("{not json")
    with pytest.raises(ValueError, match="jax-0.10.2.findings"):
        known_failures.read(tmp_path)


# Planted in the worker processes through sitecustomize: three known-failure rules over
# cheap JAX cells, one that verifies, one whose preparation kills its process with
# SIGSEGV, one that fails with another error than its rule's.
PLANTED_RULES = """
from bench_lib.backends import support
from bench_lib.backends.known_failures import KnownFailure

def _rule(dtype, workload, name, signature):
    return support.Rule({"backend": ("jax",), "model": ("rosenbrock",), "execution": ("eager",), "dtype": (dtype,),
                         "workload": (workload,)}, "planted: " + name, KnownFailure(name, "jax", ("0.0.1",), signature))

PLANTED = (
    _rule("float64", "grad", "planted-fixed", "never"),
    _rule("float32", "grad", "planted-crash", r"exit status -11"),
    _rule("float64", "hvp", "planted-changed", r"folded into compile-time constants"),
)
"""
SITECUSTOMIZE = PLANTED_RULES + """
import os, signal
from bench_lib.verification import prepare as _prepare

support.RULES = (*PLANTED, *support.RULES)
_real = _prepare.prepare

def prepare(**fields):
    if fields["workload"] == "grad" and fields["dtype"] == "float32":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fields["workload"] == "hvp":
        raise RuntimeError("a different failure")
    return _real(**fields)

_prepare.prepare = prepare
"""


@pytest.mark.slow
def test_verify_known_failures_attempts_each_cell_in_a_process_that_may_crash(tmp_path, monkeypatch, capsys):
    from bench_lib.__main__ import main

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", str(site))
    planted: dict = {}
    exec(PLANTED_RULES, planted)  # the same rules in this process, which picks the cells to attempt
    monkeypatch.setattr(support, "RULES", (*planted["PLANTED"], *support.RULES))
    results = tmp_path / "results"
    status = main(["verify", "--known-failures", "--results", str(results), "--backend", "jax", "--cells",
                   FIXED.label, CRASHES.label, CHANGED.label])
    out = capsys.readouterr().out
    assert status == 0, out
    found = {f.cell: f for f in known_failures.read(results / known_failures.FOLDER)}
    assert {cell: f.result for cell, f in found.items()} == {
        FIXED.label: "fixed", CRASHES.label: "still failing", CHANGED.label: "changed"}, out
    assert "exit status -11" in found[CRASHES.label].message
    assert "a different failure" in found[CHANGED.label].message
    assert {f.version for f in found.values()} == {known_failures.installed_version("jax")}
    assert "1 still failing, 1 fixed, 1 changed" in out


def test_the_known_failures_of_the_history_presets_backends_are_attempted_at_the_smallest_sizes():
    smallest = [c for c in presets.smallest(devices=("cpu",)).cells() if support.known_failure_of(c)]
    names = {support.known_failure_of(c).name for c in smallest}
    assert names == {rule.known.name for rule in support.RULES if rule.known}  # every known failure has a cell there
