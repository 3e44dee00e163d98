"""Screenshots of the report in a real browser (Chromium through playwright, offline):
the overview and one section of each workload, saved beside the report (``screens/``),
for readers who want to see the page without opening it, and for the tests.

Everything but the page's own file is refused while it loads, so a screenshot also
shows that the page needs nothing from the network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# The width the page must fit without scrolling sideways.
WIDTH = 1280


def chromium() -> str | None:
    """Debian's Chromium (pip's playwright cannot download its own browser here)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_offline(browser, report: Path):
    """A page of ``report`` at ``WIDTH`` pixels, every request but the file itself
    refused, with the console's errors and the page's uncaught exceptions collected."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://") else route.abort())
    page.goto(Path(report).resolve().as_uri(), wait_until="load")
    page.wait_for_selector("canvas", timeout=60_000)
    page.wait_for_timeout(500)  # the last figures finish drawing
    return page, problems


def take(report: Path, out_dir: Path | None = None, browser=None) -> list[Path]:
    """Screenshots of ``report`` (report.html): the overview, then the first screen of
    each workload's section; into ``screens/`` beside it unless ``out_dir`` says.  In
    ``browser`` (a playwright Chromium) if given, else in one launched for them."""
    report = Path(report)
    out = Path(out_dir) if out_dir else report.parent / "screens"
    out.mkdir(parents=True, exist_ok=True)
    if browser is not None:
        return _shoot(browser, report, out)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise RuntimeError("screenshots need playwright (the test extra: pip install -e '.[test]')") from error
    executable = chromium()
    if executable is None:
        raise RuntimeError("screenshots need Chromium: Debian's `chromium` package (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            return _shoot(launched, report, out)
        finally:
            launched.close()


def _shoot(browser, report: Path, out: Path) -> list[Path]:
    page, problems = open_offline(browser, report)
    try:
        taken = [out / "overview.png"]
        page.screenshot(path=taken[0])
        for section in page.eval_on_selector_all("section[id]", "els => els.map(e => e.id)"):
            if section in ("overview", "files"):
                continue
            page.evaluate("(id) => window.scrollTo(0, document.getElementById(id).offsetTop)", section)
            page.wait_for_timeout(300)
            taken.append(out / f"{section}.png")
            page.screenshot(path=taken[-1])
    finally:
        page.close()
    if problems:
        raise RuntimeError(f"the report logged errors in the browser: {problems}")
    return taken
