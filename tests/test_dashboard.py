"""asv's dashboard and the report, offline: vendored scripts, and a real browser."""

import functools
import json
import http.server
import re
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

import asv
from bench_lib.run import publish

ASV_INDEX = Path(asv.__file__).parent / "www" / "index.html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# asv's own Subresource Integrity attributes, which these vendored files must satisfy
# byte for byte; flot's CDN files are minified by the CDN and are not among them.
IDENTICAL_TO_CDN = {
    "jquery-3.3.1/jquery.min.js", "flot-orderbars-1.0.0/jquery.flot.orderBars.js",
    "stupidtable-1.0.1/stupidtable.min.js", "blueimp-md5-2.19.0/md5.min.js",
    "bootstrap-3.1.1/js/bootstrap.min.js", "bootstrap-3.1.1/css/bootstrap.min.css",
}


def _published(tmp_path) -> Path:
    html = tmp_path / "html"
    html.mkdir()
    shutil.copy(ASV_INDEX, html / "index.html")
    return html


def _external_tags(page: str) -> list[str]:
    return re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=\"https?://[^\"]*\"", page)


def test_every_external_script_and_stylesheet_of_asvs_dashboard_is_vendored(tmp_path):
    html = _published(tmp_path)
    assert len(_external_tags(ASV_INDEX.read_text())) == len(publish.DASHBOARD_ASSETS)
    replaced = publish.make_offline(html)
    page = (html / "index.html").read_text()
    assert sorted(replaced) == sorted(asset.url for asset in publish.DASHBOARD_ASSETS)
    assert _external_tags(page) == []
    for asset in publish.DASHBOARD_ASSETS:
        assert (html / publish.VENDOR / asset.path).is_file()
        assert f'src="{publish.VENDOR}/{asset.path}"' in page or f'href="{publish.VENDOR}/{asset.path}"' in page
    assert (html / publish.VENDOR / "bootstrap-3.1.1" / "fonts" / "glyphicons-halflings-regular.woff").is_file()
    assert publish.make_offline(html) == []  # a second publish changes nothing


def test_vendored_files_equal_what_asv_names_where_the_cdn_serves_the_package_file(tmp_path):
    original = ASV_INDEX.read_text()
    for asset in publish.DASHBOARD_ASSETS:
        tag = next(t for t in re.findall(r"<(?:script|link)\b[^>]*>", original) if asset.url in t)
        algorithm, digest = re.search(r'integrity="(sha\d+)-([^"]+)"', tag).groups()
        matches = publish.subresource_digest(publish.ASSETS / asset.path, algorithm) == digest
        assert matches == (asset.path in IDENTICAL_TO_CDN), asset.path
    html = _published(tmp_path)
    publish.make_offline(html)
    kept = re.findall(r'src="vendor/([^"]+)" integrity=|href="vendor/([^"]+)" integrity=', (html / "index.html").read_text())
    assert {a or b for a, b in kept} == IDENTICAL_TO_CDN  # the browser checks those itself


def test_each_vendored_package_ships_its_licence():
    for package in publish.ASSETS.iterdir():
        assert list(package.glob("LICENSE*")), f"{package.name} has no licence file"
    assert {asset.path.split("/")[0] for asset in publish.DASHBOARD_ASSETS} == {p.name for p in publish.ASSETS.iterdir()}


def test_an_external_script_the_suite_does_not_vendor_is_named_and_the_page_left_alone(tmp_path):
    html = _published(tmp_path)
    page = (html / "index.html").read_text().replace(
        "</head>", '<script src="https://cdn.example.invalid/new-lib.js"></script></head>'
    )
    (html / "index.html").write_text(page)
    with pytest.raises(ValueError, match="new-lib.js"):
        publish.make_offline(html)
    assert (html / "index.html").read_text() == page
    assert not (html / publish.VENDOR).exists()


def test_publishing_without_a_dashboard_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="asv publish"):
        publish.make_offline(tmp_path)


@contextmanager
def _serve(root: Path):
    """A local HTTP server over ``root`` (asv's dashboard reads its JSON by XHR,
    which browsers refuse for file:// pages)."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def _offline_page(browser, base: str):
    """A page that may reach only ``base``: any other request is refused and kept,
    as are console errors, uncaught exceptions, failed loads and HTTP errors (their
    console line, which names no URL, is left to the response that does)."""
    page = browser.new_page()
    problems = []

    def console(message):
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console: {message.text}")

    page.on("console", console)
    page.on("response", lambda response: response.status >= 400 and problems.append(f"HTTP {response.status}: {response.url}"))
    page.on("pageerror", lambda error: problems.append(f"exception: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url} {request.failure}"))

    def only_local(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            problems.append(f"network: {route.request.url}")
            route.abort()

    page.route("**/*", only_local)
    try:
        yield page, problems
    finally:
        page.close()


def _unexplained(problems: list[str], ran: set[str]) -> list[str]:
    """The problems but one: asv's summary grid asks for the graph of every benchmark
    of the suite, which is missing (404) for those the run did not measure."""
    not_run = re.compile(r"HTTP 404: .*/html/graphs/summary/(?P<name>[\w.]+)\.json\?")
    return [p for p in problems if not ((m := not_run.match(p)) and m["name"] not in ran)]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (Debian's `chromium` package); .ci/run installs it")
def test_dashboard_and_report_work_in_a_browser_without_network(smoke_results):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    asv_result, work, _ = smoke_results
    ran = set(asv_result["results"])
    with _serve(work) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            with _offline_page(browser, base) as (page, problems):
                page.goto(f"{base}/html/index.html", wait_until="networkidle")
                page.wait_for_selector("text=MlpGrad.time_grad", timeout=30_000)
                body = page.inner_text("body")
                assert "continental origin of swallow" not in body
                for name in ("MlpHVP.time_hvp", "MlpHessian.time_hessian", "MlpUnrolled.time_unrolled"):
                    assert name in body, name
                assert _unexplained(problems, ran) == []

            with _offline_page(browser, base) as (page, problems):
                page.goto(f"{base}/results/report/report.html", wait_until="networkidle")
                page.wait_for_selector("canvas", timeout=30_000)
                dashboard = page.get_attribute("a[href$='html/index.html']", "href")
                assert dashboard is not None
                page.click("a[href$='html/index.html']")
                page.wait_for_selector("text=MlpGrad.time_grad", timeout=30_000)
                assert _unexplained(problems, ran) == []
        finally:
            browser.close()


MACHINE_FIELDS = ("cpu", "os", "arch", "ram", "num_cpu")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (Debian's `chromium` package); .ci/run installs it")
def test_markup_in_a_machines_fields_is_shown_as_text_never_run(smoke_results, tmp_path):
    """results/ brought back from another machine may describe it with anything: asv's
    machine tooltip renders HTML, and every field of machine.json (and a key of its own)
    carries a script here.  Published, hovering the machine shows each as text, and no
    script runs."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    from conftest import REPO, config_in

    _, work, _ = smoke_results
    shutil.copytree(work / "results", tmp_path / "results")
    [info] = (tmp_path / "results").glob("*/machine.json")
    machine = json.loads(info.read_text())
    payloads = {field: f"<img src=x onerror=alert({i})>" for i, field in enumerate(MACHINE_FIELDS, 1)}
    payloads[f"<img src=x onerror=alert({len(MACHINE_FIELDS) + 1})>"] = "a key of its own"
    info.write_text(json.dumps({**machine, **payloads}))
    assert publish.publish(str(config_in(tmp_path, repo=work)), repo=REPO) == 0

    dialogs = []
    with _serve(tmp_path) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(f"{base}/html/index.html#grad.MlpGrad.time_grad", wait_until="networkidle")
            button = page.locator("#graphdisplay-state-params a", has_text=machine["machine"]).first
            button.hover()
            tooltip = page.locator(".tooltip-inner").first
            tooltip.wait_for(timeout=10_000)
            shown = tooltip.inner_text()
            page.wait_for_timeout(500)  # an <img onerror> fires once the broken image fails to load
        finally:
            browser.close()
    assert dialogs == []
    for field, payload in payloads.items():
        assert f"{field}: {payload}" in shown, (field, shown)


@pytest.mark.slow
def test_two_publishes_at_once_each_leave_a_whole_dashboard(smoke_results, tmp_path):
    """Each publish makes its dashboard in a folder of its own and swaps it in under a
    lock: both succeed, and html/ is one whole dashboard, as one publish leaves it."""
    import subprocess
    import sys

    from conftest import REPO, config_in

    _, work, _ = smoke_results
    shutil.copytree(work / "results", tmp_path / "results")
    config = config_in(tmp_path, repo=work)  # the run's commit is the clone's
    command = [sys.executable, "-m", "bench_lib", "publish", "--config", str(config)]
    both = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outputs = [process.communicate(timeout=300)[0] for process in both]
    assert [process.returncode for process in both] == [0, 0], outputs
    html = tmp_path / "html"
    graphs = sorted(p.relative_to(html) for p in (html / "graphs").rglob("*.json"))
    assert (html / "index.html").is_file() and (html / "index.json").is_file() and len(graphs) > 10
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".html-")] == []
    assert publish.publish(str(config), repo=REPO) == 0  # one publish alone
    assert sorted(p.relative_to(html) for p in (html / "graphs").rglob("*.json")) == graphs
