"""Shared fixtures. Models load once per session; no test may open a connection beyond loopback."""

from __future__ import annotations

import ipaddress
import socket
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- loopback-only guard
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(address: object) -> None:
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise RuntimeError(f"Tests may only talk to 127.0.0.1, not {host!r}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_address(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_address(address)
    return _real_connect_ex(self, address)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def settings():
    from course_api.settings import Settings

    return Settings.from_env(environ={}, device="cpu")


@pytest.fixture(scope="session")
def app(settings):
    from course_api.server import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def test_client(app) -> Iterator:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:  # runs the lifespan: models load once for the session
        yield client


@pytest.fixture(scope="session")
def live_server(settings):
    from course_api.notebook import serve_in_background

    with serve_in_background(settings=settings, name="pytest-live") as server:
        yield server


@pytest.fixture(scope="session")
def http_client(live_server) -> Iterator:
    import httpx2

    with httpx2.Client(base_url=live_server.url, timeout=10) as client:
        yield client


@pytest.fixture(params=["testclient", "uvicorn"])
def client(request):
    """Each endpoint test runs twice: in process (TestClient) and over loopback (real uvicorn)."""
    return request.getfixturevalue("test_client" if request.param == "testclient" else "http_client")


@pytest.fixture(scope="session")
def models(settings):
    from course_api.inference import ModelService

    return ModelService.load(settings.weights_dir, "cpu")


@pytest.fixture(scope="session")
def digits_test_split():
    from course_api.training import digits_split

    _, x_test, _, y_test = digits_split()
    return x_test, y_test


def digit_png(pixels: np.ndarray, *, scale: int = 10, mode: str = "L", dark_on_light: bool = True, fmt: str = "PNG") -> bytes:
    """Draw 8x8 digit pixels (0..16) as an image file, the way a student's drawing would arrive."""
    from course_api.samples import draw, encode

    return encode(draw(pixels, size=8 * scale, dark_on_light=dark_on_light, mode=mode), fmt)


class _PageAssets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if (tag, name) in {("script", "src"), ("link", "href"), ("img", "src")} and value:
                self.assets.append(value)


def page_assets(html: str) -> list[str]:
    """The addresses an HTML page loads by itself: its scripts, style sheets, icons and images."""
    parser = _PageAssets()
    parser.feed(html)
    return parser.assets


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ============================================================================ browser tests (Chromium)
# Shared by tests/test_browser.py and tests/test_lab.py. Headless Chromium from Debian's packages, driven
# by Playwright; Playwright never downloads a browser of its own. Without /usr/bin/chromium the browser tests
# skip and say how to install it, unless COURSE_API_REQUIRE_SYSTEM_TOOLS=1 (as in .ci/run): then they fail.
# Every page runs behind a guard that aborts any request to an address other than 127.0.0.1, and a test
# whose page tried one fails.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic", "--no-proxy-server",
    # Belt and braces: Chromium cannot even resolve a host name other than 127.0.0.1.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def _missing_system_tool(message: str) -> None:
    import os

    if os.environ.get("COURSE_API_REQUIRE_SYSTEM_TOOLS") == "1":
        pytest.fail(f"{message} (COURSE_API_REQUIRE_SYSTEM_TOOLS=1: this run must not skip it)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator:
    """Headless Chromium (one per test module; Playwright gives every launch a fresh, empty profile)."""
    import os

    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _missing_system_tool(
            "Chromium is not installed, so the browser tests are skipped; to run them: "
            "sudo apt-get install chromium chromium-driver"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_system_tool("Playwright is not installed, so the browser tests are skipped; to run them: make setup")
    # Never fetch a browser: point Playwright's own browser folder at an empty place.
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path_factory.mktemp("no-playwright-browsers")))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


def _is_loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


@contextmanager
def guarded_page(browser) -> Iterator:
    """A page in a new browser context, and the list of its requests beyond 127.0.0.1 (aborted, not sent)."""
    outside: list[str] = []

    def guard(route) -> None:
        if _is_loopback_url(route.request.url):
            route.continue_()
        else:
            outside.append(f"{route.request.method} {route.request.url}")
            route.abort("blockedbyclient")

    def watch_websocket(websocket) -> None:  # routes do not see WebSockets: check them here
        if not _is_loopback_url(websocket.url.replace("ws", "http", 1)):
            outside.append(f"WebSocket {websocket.url}")

    context = browser.new_context(viewport={"width": 1100, "height": 760}, service_workers="block")
    context.set_default_timeout(20_000)
    context.route("**/*", guard)
    new_page = context.new_page()
    new_page.on("websocket", watch_websocket)
    new_page.errors = []
    new_page.on("pageerror", lambda error: new_page.errors.append(str(error)))
    new_page.console_errors = []
    new_page.on("console", lambda message: message.type == "error" and new_page.console_errors.append(message.text))
    try:
        yield new_page, outside
    finally:
        context.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A guarded page (see guarded_page): a request beyond 127.0.0.1 fails the test when it ends.

    ``page.errors`` collects uncaught JavaScript errors and ``page.console_errors`` the console's error lines
    (failed loads, blocked content), for the tests that want none.
    """
    with guarded_page(browser) as (new_page, outside):
        yield new_page
    assert outside == [], f"the page tried to reach addresses other than 127.0.0.1: {outside}"


def save_screenshot(page, name: str) -> Path:
    """Save a screenshot of ``page`` as test-artifacts/screenshots/<name>.png (kept by CI as an artifact)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
