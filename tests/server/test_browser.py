"""In a real browser: /docs, /redoc and the playground work offline, served by the course server alone.

Headless Chromium from Debian's packages (``/usr/bin/chromium``), driven by Playwright; see the ``browser``
and ``page`` fixtures in conftest.py and ``guarded_page`` in helpers.py. Without Chromium these tests skip and
say how to install it. Every page runs behind a guard: a request to any address other than 127.0.0.1 is
aborted and fails the test. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import httpx2
import pytest

from course_api.samples import digit_png
from course_api.server.middleware import CONTENT_SECURITY_POLICY
from helpers import (
    README_IMAGES,
    ROOT,
    guarded_page,
    image_difference,
    page_assets,
    save_screenshot,
    try_it_out_get_item,
)

TIMEOUT_MS = 20_000
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def operations(base_url: str) -> set[tuple[str, str]]:
    """Every (METHOD, path) that the server's OpenAPI document describes."""
    paths = httpx2.get(f"{base_url}/openapi.json", timeout=10).json()["paths"]
    return {(method.upper(), path) for path, item in paths.items() for method in item if method in METHODS}


# ------------------------------------------------------------------------------------ the guard itself
@pytest.mark.browser
def test_the_guard_aborts_and_reports_requests_beyond_127_0_0_1(browser):
    with guarded_page(browser) as (page, outside):
        error = page.evaluate("() => fetch('http://192.0.2.1/probe').then(() => 'sent', (e) => e.message)")
    assert error != "sent"
    assert outside == ["GET http://192.0.2.1/probe"]


# ------------------------------------------------------------------------------------ /docs, /redoc
# The README's two screenshots: each test below takes one as it goes, and the last test of the module compares
# them with docs/images/ (taking any that this run has not taken yet, as when it runs alone).
@pytest.fixture(scope="module")
def fresh_screenshots() -> dict[str, Path]:
    """The screenshots this run of the module took, by name."""
    return {}


def show_the_docs(page, base_url: str, expected: set[tuple[str, str]]) -> Path:
    """Open /docs, wait until every operation is listed, and take the README's screenshot "docs"."""
    page.goto(f"{base_url}/docs")
    expect(page.locator(".opblock")).to_have_count(len(expected), timeout=TIMEOUT_MS)
    page.set_viewport_size({"width": 1100, "height": 920})  # tall enough for every operation
    return save_screenshot(page, "docs")


def show_the_playground(page, base_url: str) -> Path:
    """Open /playground, upload a drawn 7, wait for the answer, and take the README's screenshot "playground"."""
    page.goto(f"{base_url}/playground")
    page.get_by_label("A PNG or JPEG of one handwritten digit").set_input_files(
        files=[{"name": "digit.png", "mimeType": "image/png", "buffer": digit_png(7)}]
    )
    expect(page.locator("#status")).to_have_text("200 OK", timeout=TIMEOUT_MS)
    expect(page.locator("#prediction")).to_have_text(re.compile(r"^digit 7 \(\d+\.\d%\)$"))
    expect(page.locator("#seen-canvas")).to_be_visible()
    expect(page.get_by_role("img", name="the image you chose: digit.png")).to_be_visible()
    return save_screenshot(page, "playground")


@pytest.mark.browser
def test_swagger_ui_renders_every_operation_and_executes_a_request(page, live_server, fresh_screenshots):
    expected = operations(live_server.url)
    fresh_screenshots["docs"] = show_the_docs(page, live_server.url, expected)
    blocks = page.locator(".opblock")
    shown = {
        (
            block.locator(".opblock-summary-method").inner_text().strip(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in blocks.all()
    }
    assert shown == expected

    try_it_out_get_item(page, live_server.url, "somequery", TIMEOUT_MS)
    assert page.errors == []
    assert page.console_errors == []


@pytest.mark.browser
def test_redoc_renders_every_operation(page, live_server):
    expected = operations(live_server.url)
    summaries = {
        operation["summary"]
        for item in httpx2.get(f"{live_server.url}/openapi.json", timeout=10).json()["paths"].values()
        for method, operation in item.items()
        if method in METHODS
    }
    page.goto(f"{live_server.url}/redoc")
    sections = page.locator('[data-section-id^="operation/"]')
    expect(sections).to_have_count(len(expected), timeout=TIMEOUT_MS)
    headings = {text.strip() for text in sections.locator("h2").all_inner_texts()}
    assert headings == summaries
    # The right-hand panel shows each operation's method and path.
    expect(page.get_by_text("/items/{item_id}").first).to_be_attached()
    assert page.errors == []
    # ReDoc's bundle asks for its maker's logo on a CDN; the page's Content-Security-Policy blocks it in the
    # browser (the request never leaves it), and nothing else fails to load.
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in line for line in page.console_errors), page.console_errors


# ------------------------------------------------------------------------------------ the playground
@pytest.mark.browser
def test_playground_predicts_an_uploaded_digit(page, live_server, fresh_screenshots):
    fresh_screenshots["playground"] = show_the_playground(page, live_server.url)
    answer = json.loads(page.locator("#json").inner_text())
    assert answer["digit"] == 7
    assert len(answer["pixels"]) == 8
    assert page.locator("#curl").inner_text() == f"curl -s -F 'file=@digit.png' {live_server.url}/predict/image"
    assert page.errors == []
    assert page.console_errors == []


@pytest.mark.browser
def test_playground_text_errors_drop_and_drawing(page, live_server):
    page.goto(f"{live_server.url}/playground")
    status, prediction = page.locator("#status"), page.locator("#prediction")

    # Text: the sentiment, and a curl command that sends the same request.
    page.get_by_label("A sentence in English").fill("I don't like waiting")
    page.get_by_role("button", name="Predict sentiment").click()
    expect(status).to_have_text("200 OK", timeout=TIMEOUT_MS)
    expect(prediction).to_contain_text("negative")
    curl = page.locator("#curl").inner_text()
    assert curl.startswith('curl -s -H "Content-Type: application/json" -d \'{"text":"I don\'\\\'\'t like waiting"}\' ')
    if shutil.which("curl"):  # the command the page shows gives the answer the page shows
        no_proxy = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}
        shown = subprocess.run(
            ["bash", "-c", curl], capture_output=True, text=True, timeout=30, check=True, env=no_proxy
        ).stdout
        assert json.loads(shown) == json.loads(page.locator("#json").inner_text())

    # A client's mistake: the page shows the server's explanation.
    page.get_by_label("A sentence in English").fill("   ")
    page.get_by_role("button", name="Predict sentiment").click()
    expect(status).to_have_text(re.compile(r"^422 "), timeout=TIMEOUT_MS)  # the phrase depends on the server
    expect(prediction).to_have_text(re.compile("only whitespace"))
    expect(prediction).to_have_class("error")

    # Drop a file that is not an image on the drop zone: 415, and the server's detail.
    page.locator("#drop-zone").evaluate(
        """(zone) => {
            const data = new DataTransfer();
            data.items.add(new File(["just text"], "notes.txt", { type: "text/plain" }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        }"""
    )
    expect(status).to_have_text("415 Unsupported Media Type", timeout=TIMEOUT_MS)
    expect(prediction).to_contain_text("notes.txt")
    assert shlex.split(page.locator("#curl").inner_text())[3] == "file=@notes.txt"

    # Draw a digit with the mouse and send the drawing.
    box = page.locator("#draw-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.85, steps=8)
    page.mouse.up()
    page.get_by_role("button", name="Predict drawing").click()
    expect(status).to_have_text("200 OK", timeout=TIMEOUT_MS)
    expect(prediction).to_have_text(re.compile(r"^digit \d \(\d+\.\d%\)$"))
    assert json.loads(page.locator("#json").inner_text())["width"] == 160
    assert page.errors == []


# ------------------------------------------------------------------------------------ without a browser
def test_playground_page_loads_only_same_origin_assets(test_client):
    response = test_client.get("/playground")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assets = page_assets(response.text)
    assert len(assets) == 3, assets  # the script, the style sheet and the icon
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not on the same origin"
        assert not asset.startswith("//"), f"{asset} is not on the same origin"
        answer = test_client.get(asset)
        assert answer.status_code == 200, asset
        assert answer.headers["content-type"].split(";")[0] in ("text/javascript", "text/css", "image/png"), asset
        if not asset.endswith(".png"):
            assert not re.search(r"https?://", answer.text), f"{asset} names another site"
    assert not re.search(r"https?://", response.text), "the page names another site"
    assert "/playground" not in test_client.get("/openapi.json").json()["paths"]  # not an API operation


def test_pages_for_people_forbid_other_sites(test_client):
    """/docs, /redoc and /playground carry a Content-Security-Policy: the browser loads nothing from elsewhere
    (ReDoc's bundle, for one, would fetch its maker's logo from a CDN). API answers carry none."""
    for path in ("/docs", "/redoc", "/playground"):
        assert test_client.get(path).headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "https:" not in CONTENT_SECURITY_POLICY
    assert "content-security-policy" not in test_client.get("/items/5").headers


def test_playground_serves_no_other_file(test_client):
    assert test_client.get("/playground/static/../server.py").status_code == 404
    answer = test_client.get("/playground/static/secret.txt")
    assert answer.status_code == 404
    assert "playground.js" in answer.json()["detail"]


def test_playground_files_ship_in_the_wheel():
    """pyproject's package data covers every file of course_api/static (so `pip install .` has the page)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["course_api"]
    static = ROOT / "course_api" / "static"
    files = [path.relative_to(static.parent).as_posix() for path in static.iterdir()]
    assert {"static/playground.html", "static/playground.js", "static/playground.css"} <= set(files)
    for name in files:
        assert any(fnmatch(name, pattern) for pattern in patterns), f"{name} is not in pyproject's package data"


def test_chromium_is_found_where_each_system_puts_it(monkeypatch):
    import helpers

    assert helpers.find_chromium({"COURSE_API_CHROMIUM": "/opt/my/chrome"}) == Path("/opt/my/chrome")
    for place in ("/snap/bin/chromium", "/usr/bin/google-chrome", "/Applications/Chromium.app/Contents/MacOS/Chromium"):
        monkeypatch.setattr(helpers.os, "access", lambda path, mode, place=place: path == place)
        assert helpers.find_chromium({}) == Path(place)
    monkeypatch.setattr(helpers.os, "access", lambda path, mode: False)
    monkeypatch.setattr(helpers.shutil, "which", lambda name: "/usr/local/bin/chromium" if name == "chromium" else None)
    assert helpers.find_chromium({}) == Path("/usr/local/bin/chromium")


@pytest.mark.browser
@pytest.mark.parametrize("name", ["docs", "playground"])
def test_the_readmes_screenshots_show_the_pages_as_they_are(name, page, live_server, fresh_screenshots):
    """The README's pictures must still look like the pages (`make screenshots` retakes them). The screenshots are
    this run's: those the tests above took, else taken now the same way (never a file left by an earlier run)."""
    if name == "docs" and name not in fresh_screenshots:
        fresh_screenshots[name] = show_the_docs(page, live_server.url, operations(live_server.url))
    elif name not in fresh_screenshots:
        fresh_screenshots[name] = show_the_playground(page, live_server.url)
    fresh = fresh_screenshots[name]
    assert f"docs/images/{name}.png" in (ROOT / "README.md").read_text()
    difference = image_difference(README_IMAGES / f"{name}.png", fresh)
    assert difference < 0.05, f"docs/images/{name}.png is out of date ({difference:.0%} different): make screenshots"


# ------------------------------------------------------------------------------------ behind a path prefix
# In a class JupyterHub the browser reaches the server through jupyter-server-proxy, at
# https://<hub>/user/<name>/proxy/<port>/. The proxy below does what it does, on 127.0.0.1: /proxy/<port>/ strips
# the prefix and says so in X-Forwarded-Prefix (jupyter_server_proxy/handlers.py, _build_proxy_request),
# /proxy/absolute/<port>/ passes the whole path; /silent/<port>/ strips it without a word, as some proxies do.
PROXIED = re.compile(r"^/user/ada/(proxy/absolute|proxy|silent)/(\d+)(/.*)?$")


def path_prefix_proxy():
    """A reverse proxy in the manner of jupyter-server-proxy, as an ASGI app."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def forward(request):
        found = PROXIED.match(request.url.path)
        if not found:
            return Response("not a proxied path", status_code=404)
        kind, port, rest = found.groups()
        prefix = request.url.path[: found.start(3)] if rest else request.url.path
        path = request.url.path if kind == "proxy/absolute" else rest or "/"
        skipped = {"host", "content-length", "connection", "accept-encoding"}
        headers = {k: v for k, v in request.headers.items() if k not in skipped}
        headers |= {"x-forwarded-for": request.client.host, "x-forwarded-proto": "http"}
        if kind == "proxy":
            headers["x-forwarded-prefix"] = prefix
        query = f"?{request.url.query}" if request.url.query else ""
        async with httpx2.AsyncClient(timeout=30) as client:
            answer = await client.request(
                request.method, f"http://127.0.0.1:{port}{path}{query}", headers=headers, content=await request.body()
            )
        dropped = {"content-length", "transfer-encoding", "connection", "content-encoding"}
        kept = {k: v for k, v in answer.headers.items() if k not in dropped}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


@pytest.fixture(scope="module")
def prefix_proxy():
    from course_api.workbook.background import serve_in_background

    with serve_in_background(path_prefix_proxy(), name="pytest-prefix-proxy") as proxy:
        yield proxy


@pytest.fixture
def behind_a_hub(request, prefix_proxy, settings, monkeypatch):
    """The course server started by serve_in_background in a simulated JupyterHub, reached through the proxy."""
    from course_api.workbook.background import serve_in_background

    for name in ("COURSE_API_PUBLIC_URL", "CODESPACES", "JUPYTERHUB_PUBLIC_HUB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", f"{prefix_proxy.url}/user/ada/")
    route = {"jupyter-server-proxy": None, "absolute": "proxy/absolute", "silent": "silent"}[request.param]
    public_url = f"{prefix_proxy.url}/user/ada/{route}/{{port}}" if route else None
    with serve_in_background(settings=settings, name=f"pytest-behind-{request.param}", public_url=public_url) as server:
        yield server


@pytest.mark.browser
@pytest.mark.parametrize("behind_a_hub", ["jupyter-server-proxy", "absolute", "silent"], indirect=True)
def test_docs_redoc_and_playground_work_behind_a_hubs_path_prefix(page, behind_a_hub, prefix_proxy):
    server = behind_a_hub
    base = server.browser_url
    assert base.startswith(f"{prefix_proxy.url}/user/ada/")
    assert base.endswith(f"/{server.port}")
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))

    # /docs: Swagger UI, its files and openapi.json through the prefix, and Try it out calls through it too.
    expected = operations(server.url)
    page.goto(f"{base}/docs")
    expect(page.locator(".opblock")).to_have_count(len(expected), timeout=TIMEOUT_MS)
    try_it_out_get_item(page, base, "somequery", TIMEOUT_MS)

    # /redoc renders every operation from the same document.
    page.goto(f"{base}/redoc")
    expect(page.locator('[data-section-id^="operation/"]')).to_have_count(len(expected), timeout=TIMEOUT_MS)

    # The playground: its files, and its call to predict/image, relative to the page.
    page.goto(f"{base}/playground")
    page.get_by_label("A PNG or JPEG of one handwritten digit").set_input_files(
        files=[{"name": "digit.png", "mimeType": "image/png", "buffer": digit_png(7)}]
    )
    expect(page.locator("#status")).to_have_text("200 OK", timeout=TIMEOUT_MS)
    expect(page.locator("#prediction")).to_have_text(re.compile(r"^digit 7 \(\d+\.\d%\)$"))
    assert page.locator("#curl").inner_text() == f"curl -s -F 'file=@digit.png' {base}/predict/image"
    page.get_by_role("link", name="/docs").click()
    expect(page).to_have_url(f"{base}/docs")

    assert page.errors == []
    assert [line for line in page.console_errors if "cdn.redoc.ly" not in line] == []
    # ReDoc's bundle asks for its maker's logo; the Content-Security-Policy stops it in the browser (see above).
    web = [url for url in requested if url.startswith("http") and "cdn.redoc.ly" not in url]
    assert f"{base}/openapi.json" in web
    assert f"{base}/predict/image" in web
    assert [url for url in web if not url.startswith(base + "/")] == [], "a request went around the prefix"
