"""Shared fixtures and hooks (plain helpers are in helpers.py). Models load once per session; no test may open a
connection beyond loopback; the hook below marks nbval's notebook cells ``kernel`` (see ``make test-fast``)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import CHROMIUM, CHROMIUM_ARGS, Kernel, guard_loopback, guarded_page, missing_system_tool


# ------------------------------------------------------------------------------------------ hooks
def pytest_configure(config: pytest.Config) -> None:
    guard_loopback()
    config.pluginmanager.register(NotebookHygiene(), "course-notebook-hygiene")


@pytest.hookimpl(tryfirst=True)  # before -m deselects: nbval's notebook cells carry no marker of their own
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb":  # collected by nbval: every cell runs in a Jupyter kernel
            item.add_marker(pytest.mark.kernel)
        if "browser" in getattr(item, "fixturenames", ()):  # the page fixture too: it uses browser
            item.add_marker(pytest.mark.browser)


class NotebookHygiene:
    """nbval runs each notebook in a kernel of its own, cell by cell. When its last cell is done and the kernel has
    stopped, the notebook must have left no server listening on a port its outputs printed, and written nothing
    beside it but its work/ folder (worksheets and worked answers: also my_api/, the student's project).

    A plugin, registered in pytest_configure: a conftest's run hooks reach only the items below its folder."""

    def __init__(self) -> None:
        self.beside: dict[str, set[str]] = {}  # what was beside each notebook before its first cell
        self.printed: dict[str, list[str]] = {}  # what each notebook's cells printed in this run

    @staticmethod
    def entries(folder: Path) -> set[str]:
        return {entry.name for entry in folder.iterdir() if not entry.name.startswith(".")}

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if item.path.suffix == ".ipynb" and str(item.path) not in self.beside:
            self.beside[str(item.path)] = self.entries(item.path.parent)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        result = yield  # the notebook's kernel stops here when this was its last cell
        if item.path.suffix == ".ipynb":
            outputs = getattr(item, "test_outputs", None) or []
            printed = (str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
            self.printed.setdefault(str(item.path), []).extend(printed)
            if nextitem is None or nextitem.path != item.path:
                self.left_nothing(item.path)
        return result

    def left_nothing(self, path: Path) -> None:
        from course_api.system.ports import is_listening

        text = "\n".join(self.printed.pop(str(path), []))
        listening = sorted({int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", text) if is_listening(int(p))})
        assert not listening, f"{path.name} left a server listening on port {listening}"
        allowed = {"work", "my_api"} if path.parent.name in ("solutions", "exercises") else {"work"}
        new = self.entries(path.parent) - self.beside.pop(str(path), set()) - allowed
        assert not new, f"{path.name} wrote {sorted(new)} beside it: write into work/{path.name[:2]}/ (make clean)"


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def settings():
    from course_api.server.settings import Settings

    return Settings.from_env(environ={}, device="cpu")


@pytest.fixture(scope="session")
def app(settings):
    from course_api.server.app import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def test_client(app) -> Iterator:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:  # runs the lifespan: models load once for the session
        yield client


@pytest.fixture(scope="session")
def live_server(settings):
    from course_api.workbook.background import serve_in_background

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
    from course_api.server.inference import ModelService

    return ModelService.load(settings.weights_dir, "cpu")


@pytest.fixture(scope="session")
def digits_test_split():
    from course_api.server.datasets import digits_split

    _, x_test, _, y_test = digits_split()
    return x_test, y_test


@pytest.fixture(name="free_port")
def a_free_port() -> int:
    """A free port on 127.0.0.1 (course_api.system.ports.free_port, the project's one helper for it)."""
    from course_api.system import ports

    return ports.free_port()


# ============================================================================ browser tests (Chromium)
# Shared by tests/server/test_browser.py and tests/workbook/test_lab.py. Headless Chromium from Debian's packages,
# driven by Playwright; Playwright never downloads a browser of its own. Without /usr/bin/chromium the browser tests
# skip and say how to install it, unless COURSE_API_REQUIRE_SYSTEM_TOOLS=1 (as in .ci/run): then they fail.
# Every page runs behind a guard that aborts any request to an address other than 127.0.0.1, and a test
# whose page tried one fails.
@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator:
    """Headless Chromium (one per test module; Playwright gives every launch a fresh, empty profile)."""
    if CHROMIUM is None or not os.access(CHROMIUM, os.X_OK):
        missing_system_tool(
            "Chromium is not installed, so the browser tests are skipped; to run them: "
            "sudo apt-get install chromium (Debian/Ubuntu), sudo dnf install chromium (Fedora), "
            "brew install --cask chromium (macOS), or set COURSE_API_CHROMIUM to a Chromium or Chrome"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_system_tool("Playwright is not installed, so the browser tests are skipped; to run them: make setup")
    # Never fetch a browser: point Playwright's own browser folder at an empty place.
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path_factory.mktemp("no-playwright-browsers")))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A guarded page (see helpers.guarded_page): a request beyond 127.0.0.1 fails the test when it ends.

    ``page.errors`` collects uncaught JavaScript errors and ``page.console_errors`` the console's error lines
    (failed loads, blocked content), for the tests that want none.
    """
    with guarded_page(browser) as (new_page, outside):
        yield new_page
    assert outside == [], f"the page tried to reach addresses other than 127.0.0.1: {outside}"


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    """A real `course-api` Jupyter kernel, shut down after the test."""
    k = Kernel()
    try:
        yield k
    finally:
        k.close()
