"""The interactive report in a real browser (Debian's Chromium through playwright),
offline: every figure renders, nothing is logged as an error, a selector changes the
chart, a skipped cell's reason shows on hover, and the page fits 1280 pixels without
scrolling sideways.  The screenshots land beside the report (``screens/``)."""

import pandas as pd
import pytest

from bench_lib.reporting import screens, tidy
from bench_lib.reporting.page import write as write_report

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(screens.chromium() is None, reason="no Chromium (Debian's `chromium` package); .ci/run installs it"),
]

SKIP_REASON = "JAX has no graph execution apart from jax.jit (see the compiled cells)"

# The screen position of the first cell of ``status`` in the Bokeh figure named ``name``,
# from the figure's own scales (the chart is a canvas: no element to hover).
CELL_POINT = """
([name, status]) => {
  function find(view) {
    if (view.model.name === name) return view;
    for (const child of (view.child_views ?? [])) { const found = find(child); if (found) return found; }
    return null;
  }
  let plot = null;
  for (const root of Object.values(Bokeh.index)) { plot = plot ?? find(root); }
  const data = plot.model.renderers[0].data_source.data;
  const i = data.status.indexOf(status);
  const box = plot.el.getBoundingClientRect();
  return {x: box.left + plot.frame.x_scale.compute((data.left[i] + data.right[i]) / 2),
          y: box.top + plot.frame.y_scale.compute(data.factor[i])};
}
"""


def _row(workload, model, size, backend, mode, execution, seconds, status="ok", reason=None, K=None,
         metric="time"):
    return {
        "machine": "m", "commit": "c" * 40, "date": pd.Timestamp("2026-12-01", tz="UTC"), "run_id": "run",
        "env_name": "e", "workload": workload, "model": model, "size": size, "backend": backend, "mode": mode,
        "execution": execution, "device": "cpu", "dtype": "float32", "K": K,
        "optimizer": "sgd" if workload == "unrolled" else None, "metric": metric,
        "value": seconds if status == "ok" else None, "unit": "seconds" if metric == "time" else "bytes",
        "q_25": seconds * 0.95 if status == "ok" else None, "q_75": seconds * 1.05 if status == "ok" else None,
        "status": status, "reason": reason, "margin": 0.05 if status == "ok" else None,
    }


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    rows = []
    for model, scale in (("mlp", 1.0), ("cnn", 3.0)):
        for workload, base in (("grad", 1e-3), ("hvp", 2.5e-3)):
            mode = "rev" if workload == "grad" else "fwd_rev"
            for backend, factor in (("tensorflow", 1.3), ("jax", 1.0), ("torch", 1.1)):
                rows.append(_row(workload, model, "S", backend, mode, "compiled", base * scale * factor))
                rows.append(_row(workload, model, "S", backend, mode, "eager", base * scale * factor * 4))
            rows.append(_row(workload, model, "S", "jax", mode, "graph", 0, status="skipped", reason=SKIP_REASON))
    for size, seconds in (("XXS", 0.01), ("XS", 0.1)):
        for backend in ("jax", "torch"):
            rows.append(_row("hessian", "mlp", size, backend, "vmap_hvp", "compiled", seconds))
            rows.append(_row("hessian", "mlp", size, backend, "vmap_hvp", "compiled", seconds * 1e9,
                             metric="peak_memory"))
    for K in (1, 10):
        rows.append(_row("unrolled", "mlp", "S", "jax", "reverse", "compiled", 1e-3 * K, K=K))
    out = tmp_path_factory.mktemp("report")
    paths = write_report(tidy.from_rows(rows), out)
    return paths["report.html"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=screens.chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


def test_every_figure_renders_offline_without_errors_within_1280_pixels(report, browser):
    page, problems = screens.open_offline(browser, report)
    roots = page.evaluate("Bokeh.documents[0].roots().length")
    drawn = page.eval_on_selector_all("canvas", "els => els.filter(e => e.width > 0 && e.height > 0).length")
    assert roots >= 8 and drawn >= roots, (roots, drawn)
    assert page.evaluate("document.documentElement.scrollWidth") <= screens.WIDTH
    assert problems == []
    page.close()


def test_choosing_another_model_changes_the_chart(report, browser):
    page, problems = screens.open_offline(browser, report)
    title = "Bokeh.documents[0].get_model_by_name('case_hvp').title.text"
    assert page.evaluate(title).startswith("hvp: mlp S")
    page.locator("#hvp select").nth(1).select_option("cnn")  # machine, then model
    page.wait_for_timeout(300)
    assert page.evaluate(title).startswith("hvp: cnn S")
    bars = page.evaluate("Bokeh.documents[0].get_model_by_name('case_hvp').renderers[0].data_source.data.time")
    assert "7.5 ms" in bars  # cnn's JAX compiled HVP, 3 x 2.5 ms
    assert problems == []
    page.close()


def test_a_skipped_cells_reason_shows_on_hover(report, browser):
    page, problems = screens.open_offline(browser, report)
    page.evaluate("window.scrollTo(0, document.getElementById('hvp').offsetTop)")
    page.wait_for_timeout(300)
    point = page.evaluate(CELL_POINT, ["case_hvp", "skipped"])
    before = page.get_by_text(SKIP_REASON).count()  # the table of every cell shows it too
    page.mouse.move(point["x"], point["y"])
    for _ in range(20):
        if page.get_by_text(SKIP_REASON).count() > before:
            break
        page.wait_for_timeout(100)
    assert page.get_by_text(SKIP_REASON).count() == before + 1
    assert problems == []
    page.close()


def test_screenshots_of_the_overview_and_each_workload_land_beside_the_report(report, browser):
    taken = screens.take(report, browser=browser)
    assert [path.name for path in taken] == ["overview.png", "grad.png", "hvp.png", "hessian.png", "unrolled.png",
                                             "cells.png"]
    assert all(path.parent == report.parent / "screens" and path.stat().st_size > 10_000 for path in taken)


def test_bench_says_why_there_are_no_screenshots_and_the_run_stands(report, monkeypatch):
    """The screenshots themselves: the test above; here what `bench --screens` prints
    when it cannot take them (no exception reaches the run)."""
    from bench_lib.run import bench

    monkeypatch.setattr(screens, "chromium", lambda: None)
    assert bench._screenshots(report) == "\nno screenshots of the report: no Chromium (Debian's `chromium` package)"
    monkeypatch.setattr(screens, "chromium", lambda: "/usr/bin/chromium")

    def broken(report):
        raise RuntimeError("the report logged errors in the browser: ['boom']")

    monkeypatch.setattr(screens, "take", broken)
    assert bench._screenshots(report).endswith("RuntimeError: the report logged errors in the browser: ['boom']")
