"""Plain helpers shared by the tests (no fixtures: those live in conftest.py).

Import them as ``from helpers import ...``: pytest puts tests/ on ``sys.path`` (``pythonpath`` in
pyproject.toml), and mypy checks this file as the module ``helpers``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent  # the checkout
BIN = Path(sys.executable).parent  # the virtual environment's scripts: course-api, hadolint, jupyter


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


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(address)
    return _real_connect_ex(self, address)


def guard_loopback() -> None:
    """From now on, a socket of this process may connect to loopback addresses only (anything else raises)."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]


# ------------------------------------------------------------------------------------ system tools
def missing_system_tool(message: str) -> NoReturn:
    """Skip the test with ``message``, or fail it when COURSE_API_REQUIRE_SYSTEM_TOOLS=1 (as in .ci/run)."""
    if os.environ.get("COURSE_API_REQUIRE_SYSTEM_TOOLS") == "1":
        pytest.fail(f"{message} (COURSE_API_REQUIRE_SYSTEM_TOOLS=1: this run must not skip it)", pytrace=False)
    pytest.skip(message)


def output_of(process: subprocess.Popen) -> str:
    """What a process started with ``stdout=subprocess.PIPE, text=True`` printed (and nobody read yet)."""
    assert process.stdout is not None, "the process was started without stdout=subprocess.PIPE"
    output: str = process.stdout.read()
    return output


# ------------------------------------------------------------------------------------------ images
def digit_png(
    pixels: np.ndarray, *, scale: int = 10, mode: str = "L", dark_on_light: bool = True, fmt: str = "PNG"
) -> bytes:
    """Draw 8x8 digit pixels (0..16) as an image file, the way a student's drawing would arrive.

    (``course_api.samples.digit_png`` draws a test-set digit by its label instead.)
    """
    from course_api.samples import draw, encode

    return encode(draw(pixels, size=8 * scale, dark_on_light=dark_on_light, mode=mode), fmt)


# -------------------------------------------------------------------------------------------- HTML
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


# ========================================================================= browser tests (Chromium)
# Used by the ``browser`` and ``page`` fixtures in conftest.py, tests/server/test_browser.py and
# tests/workbook/test_lab.py.
# Headless Chromium from Debian's packages, driven by Playwright; Playwright never downloads a browser of
# its own. Every page runs behind a guard that aborts any request to an address other than 127.0.0.1.
# Where Chromium or Chrome lives on Debian, Ubuntu (snap), Fedora and macOS; COURSE_API_CHROMIUM wins.
CHROMIUM_PLACES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/snap/bin/chromium",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium(environ: Mapping[str, str] | None = None) -> Path | None:
    """The Chromium (or Chrome) to drive: ``COURSE_API_CHROMIUM``, else the usual places, else the PATH."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("COURSE_API_CHROMIUM")
    if chosen:
        return Path(chosen)
    for place in CHROMIUM_PLACES:
        if os.access(place, os.X_OK):
            return Path(place)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


CHROMIUM = find_chromium()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--no-proxy-server",
    # Belt and braces: Chromium cannot even resolve a host name other than 127.0.0.1.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def _is_loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


@contextmanager
def guarded_page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page in a new browser context, and the list of its requests beyond 127.0.0.1 (aborted, not sent).

    ``page.errors`` collects uncaught JavaScript errors and ``page.console_errors`` the console's error lines
    (failed loads, blocked content), for the tests that want none.
    """
    outside: list[str] = []

    def guard(route: Any) -> None:
        if _is_loopback_url(route.request.url):
            route.continue_()
        else:
            outside.append(f"{route.request.method} {route.request.url}")
            route.abort("blockedbyclient")

    def watch_websocket(websocket: Any) -> None:  # routes do not see WebSockets: check them here
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


def try_it_out_get_item(page: Any, base: str, q: str, timeout_ms: int) -> None:
    """In Swagger UI (open in ``page``): Try it out on GET /items/{item_id} with item_id=5 and ``q``, as notebook 03
    does; the answer is 200 and the JSON, and the request went to ``base`` (the address the page was opened at)."""
    from playwright.sync_api import expect

    operation = page.locator(".opblock-get").filter(has=page.locator('[data-path="/items/{item_id}"]'))
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator('tr[data-param-name="item_id"] input').fill("5")
    operation.locator('tr[data-param-name="q"] input').fill(q)
    operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response")
    expect(answer.locator(".response-col_status")).to_have_text("200", timeout=timeout_ms)
    expect(operation.locator(".request-url")).to_contain_text(f"{base}/items/5?q={q}", timeout=timeout_ms)
    body = answer.locator(".response-col_description pre").first
    expect(body).to_contain_text('"item_id": 5', timeout=timeout_ms)
    assert json.loads(body.inner_text()) == {"item_id": 5, "q": q}


# ---------------------------------------------------------------------------------- accessibility (axe-core)
# tests/course/test_accessibility.py checks the course's pages with axe-core (npm's axe-core package, its axe.min.js
# run in the page, offline) against the WCAG 2.1 A and AA rules. COURSE_API_AXE names an axe.min.js; else the global npm
# folders of Debian, /usr/local, Homebrew and Windows; else wherever `npm root -g` says.
AXE_INSTALL = "npm install -g axe-core@4"
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
AXE_FOLDERS = ("/usr/lib/node_modules", "/usr/local/lib/node_modules", "/opt/homebrew/lib/node_modules")


def find_axe(environ: Mapping[str, str] | None = None) -> Path | None:
    """axe-core's ``axe.min.js``: ``COURSE_API_AXE`` (even if not there), else a global npm install, else None."""
    environ = os.environ if environ is None else environ
    if environ.get("COURSE_API_AXE"):
        return Path(environ["COURSE_API_AXE"])
    folders = [Path(f) for f in AXE_FOLDERS]
    if environ.get("APPDATA"):
        folders.append(Path(environ["APPDATA"]) / "npm" / "node_modules")
    npm = shutil.which("npm")
    if npm and not any((f / "axe-core" / "axe.min.js").is_file() for f in folders):
        try:
            answer = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=30, check=False)
            folders.append(Path(answer.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    return next((f / "axe-core" / "axe.min.js" for f in folders if (f / "axe-core" / "axe.min.js").is_file()), None)


def axe_violations(page: Any, axe: Path) -> list[dict[str, Any]]:
    """What axe-core finds against the WCAG 2.1 A and AA rules on ``page`` as it is now: one entry per rule, with
    ``id``, ``help`` and ``nodes`` (each with ``target``, a CSS selector, ``html`` and ``summary``)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(axe))  # inlined by Playwright: the page requests nothing
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            // Colours are measured once transitions end (a theme's switch to dark mode fades them in).
            const finite = document.getAnimations().filter((a) => a.effect?.getTiming().iterations !== Infinity);
            await Promise.all(finite.map((a) => a.finished.catch(() => null)));
            const options = {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']};
            const results = await axe.run(document, options);
            return results.violations.map((rule) => ({
                id: rule.id, help: rule.help,
                nodes: rule.nodes.map((node) => ({
                    target: node.target.join(' '), html: node.html, summary: node.failureSummary,
                })),
            }));
        }""",
        list(AXE_TAGS),
    )
    return found


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """Violations as lines a person can act on: the rule, what it wants, and each element with why it fails."""
    lines = []
    for rule in violations:
        lines.append(f"{rule['id']}: {rule['help']}")
        for node in rule["nodes"]:
            why = " ".join(node["summary"].split())
            lines.append(f"    {node['target']}  {node['html'][:120]}  ({why[:240]})")
    return "\n".join(lines)


README_IMAGES = ROOT / "docs" / "images"  # the README's screenshots, retaken by `make screenshots`


def save_screenshot(page: Any, name: str) -> Path:
    """Save a screenshot of ``page`` (a Playwright page, or a locator: one part of it) as
    test-artifacts/screenshots/<name>.png (kept by CI as an artifact); with COURSE_API_SCREENSHOTS=<folder>
    (`make screenshots`), also as <folder>/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("COURSE_API_SCREENSHOTS"):
        copy = ROOT / os.environ["COURSE_API_SCREENSHOTS"] / f"{name}.png"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
    return path


def image_difference(a: Path, b: Path) -> float:
    """How different two screenshots look, from 0 (the same) to 1: mean grey-level difference at a quarter size;
    None-comparable sizes count as completely different."""
    import numpy as np
    from PIL import Image

    first, second = Image.open(a).convert("L"), Image.open(b).convert("L")
    if first.size != second.size:
        return 1.0
    size = (max(1, first.width // 4), max(1, first.height // 4))
    x = np.asarray(first.resize(size), dtype=np.float32)
    y = np.asarray(second.resize(size), dtype=np.float32)
    return float(np.abs(x - y).mean() / 255)


# ------------------------------------------------------------------------------------ Jupyter kernels
def wait_until(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class Kernel:
    """A ``course-api`` kernel and a way to run a cell in it (stdout back, errors raised)."""

    def __init__(self) -> None:
        from jupyter_client.kernelspec import NoSuchKernel
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="course-api", transport_encryption="auto")
        try:
            self.manager.start_kernel()
        except NoSuchKernel:
            pytest.skip("no Jupyter kernel named course-api: run `make kernel`")
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    @property
    def pid(self) -> int:
        return self.manager.provisioner.pid  # type: ignore[union-attr]

    def run(self, code: str, timeout: float = 90) -> str:
        msg_id = self.client.execute(code)
        output, error = [], None
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the cell did not finish within {timeout} s: {code!r}") from None
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                output.append(content["text"])
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                break
        if error:
            raise RuntimeError(error)
        return "".join(output).strip()

    def close(self) -> None:
        self.client.stop_channels()
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=True)
        self.manager.cleanup_resources()


# ------------------------------------------------------------------------------------------ worksheets
def answer_lines(nb: Any, min_length: int = 13) -> set[str]:
    """The code lines that stand only inside a solution notebook's answers (between the solution markers): not
    also elsewhere in the notebook (a setup cell's import), not in a hint, not a comment, ``min_length`` or longer.
    What a worksheet, its page on the course website or its download must never show."""
    from course_api.workbook.exercises import BEGIN, END, HINT

    inside: set[str] = set()
    outside: set[str] = set()
    hints: list[str] = []
    for cell in nb.cells:
        in_block = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith(BEGIN):
                in_block = True
            elif stripped.startswith(END):
                in_block = False
            elif stripped.startswith(HINT):
                hints.append(stripped)
            elif stripped and not stripped.startswith("#"):
                (inside if in_block else outside).add(stripped)
    return {line for line in inside - outside if len(line) >= min_length and not any(line in h for h in hints)}


def write_project(folder: Path) -> Path:
    """``folder/my_api``, the student's project as the worked answers of worksheet 04 leave it: the files its
    cells write (``%%writefile my_api/...``), the shipped weights, ``__init__.py`` and ``pytest.ini``."""
    import nbformat

    from course_api.server.settings import Settings

    project = folder / "my_api"
    (project / "tests").mkdir(parents=True, exist_ok=True)
    (project / "__init__.py").touch()
    (project / "pytest.ini").write_text("[pytest]\npythonpath = ..\ntestpaths = tests\n", encoding="utf-8")
    shutil.copyfile(Settings().weights_dir / "digits_cnn.safetensors", project / "digits.safetensors")
    notebook = nbformat.read(ROOT / "solutions" / "04_serving_a_model.ipynb", as_version=4)
    for cell in notebook.cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type == "code" and first.startswith("%%writefile my_api/"):
            (folder / first.split()[-1]).write_text(body + "\n", encoding="utf-8")
    return project
