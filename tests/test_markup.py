"""Machine names and text from results never become paths outside the results or
markup that runs: names are checked where they enter (``bench --machine``, ``publish``),
and other text is neutralised where HTML or Markdown reads it."""

import json

import pytest
from conftest import bench, time_row

from bench_lib.core.names import check_machine_name
from bench_lib.reporting import tidy
from bench_lib.reporting.summary import summary_markdown
from bench_lib.run import publish

PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize("name", [PAYLOAD, "lab/gpu1", "../../outside", "..", ".hidden", "a..b", "", "x" * 65, None])
def test_unsafe_machine_names_are_refused_naming_the_value(name):
    with pytest.raises(ValueError, match="machine name .* is not allowed"):
        check_machine_name(name, "--machine")


@pytest.mark.parametrize("name", ["vm", "nvidia-h200", "lab.gpu_1", "A100x8"])
def test_plain_machine_names_are_kept(name):
    assert check_machine_name(name, "--machine") == name


@pytest.mark.parametrize("name", [PAYLOAD, "lab/gpu1", "../../outside"])
def test_bench_refuses_an_unsafe_machine_name_before_anything_is_written(name, tmp_path):
    from conftest import config_in

    run = bench("--preset", "smoke", "--workloads", "grad", "--machine", name, "--config", str(config_in(tmp_path)),
                "--allow-uncommitted", timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"--machine: machine name {name!r} is not allowed" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "outside").exists()


def _results_with(tmp_path, folder: str, machine: str) -> None:
    (tmp_path / folder).mkdir(parents=True)
    (tmp_path / folder / "machine.json").write_text(json.dumps({"machine": machine, "cpu": "x", "version": 1}))


@pytest.mark.parametrize("folder, machine", [("vm", PAYLOAD), ("vm", "../elsewhere"), ("lab gpu", "lab gpu")])
def test_publish_refuses_results_of_an_unsafe_machine_naming_the_file(tmp_path, folder, machine):
    _results_with(tmp_path, folder, machine)
    with pytest.raises(ValueError, match=r"machine name .* is not allowed") as refused:
        publish.check_machines(tmp_path)
    assert folder in str(refused.value)
    _results_with(tmp_path / "fine", "vm", "vm")
    publish.check_machines(tmp_path / "fine")


def test_the_dashboards_machine_fields_are_neutralised_in_keys_and_values(tmp_path):
    index = {"machines": {"vm": {"machine": "vm", "cpu": PAYLOAD, "ram": 24, f"note{PAYLOAD}": "a & b"}},
             "params": {"machine": ["vm"]}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    assert publish.neutralise_machines(tmp_path) == 2
    fields = json.loads((tmp_path / "index.json").read_text())["machines"]["vm"]
    assert fields == {"machine": "vm", "cpu": "&lt;img src=x onerror=alert(1)&gt;", "ram": 24,
                      "note&lt;img src=x onerror=alert(1)&gt;": "a &amp; b"}
    assert publish.neutralise_machines(tmp_path) == 2  # asv writes index.json anew for each publish


def test_the_markdown_summary_shows_markup_from_results_as_text_and_a_run_with_nothing_timed():
    row = time_row(machine=PAYLOAD, value=None, q_25=None, q_75=None, status="skipped",
                   reason="<script>alert(2)</script> | not here")
    text = summary_markdown(tidy.from_rows([row]))
    assert "<img" not in text and "<script" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "&lt;script&gt;alert(2)&lt;/script&gt; / not here" in text
    # nothing timed: the reasons and the (empty) headline still appear
    assert "| skipped | 1 |" in text and "(no verified times)" in text

