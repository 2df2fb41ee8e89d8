"""Pages everyone can use: /playground, /docs as the course serves it, the course website and the grader's feedback
pages pass axe-core's WCAG 2.1 A and AA rules in Chromium, in light and dark mode, and work with the keyboard alone.

axe-core is npm's ``axe-core`` package: its ``axe.min.js`` runs inside the page (offline, nothing is fetched) and
reports each rule that an element fails. Without it these tests skip and say how to install it (``npm install -g
axe-core@4``; ``COURSE_API_AXE`` names another copy); under COURSE_API_REQUIRE_SYSTEM_TOOLS=1 (.ci/run) they fail.

On /docs, Swagger UI's own markup fails a few rules that the course cannot fix from outside (``SWAGGER_UI_KNOWN``,
listed in the README's "Accessibility" paragraph): the test accepts exactly those, on exactly those elements, so a
new violation still fails it, and so does the list once Swagger UI no longer fails one (then update the README).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from course_api.samples import digit_png
from course_api.system import ports
from course_api.workbook.checks.registry import EXERCISES, NOTEBOOKS, Outcome
from course_api.workbook.grading.gradebook import StudentGrades, write_all
from course_api.workbook.grading.probe import ExerciseResult
from course_api.workbook.grading.session import SheetResult
from course_api.workbook.grading.submissions import Note, NoteKind
from course_api.workbook.website import build_site
from helpers import (
    AXE_INSTALL,
    ROOT,
    axe_violations,
    describe_violations,
    find_axe,
    missing_system_tool,
    try_it_out_get_item,
)

# Sphinx 9 warns the themes and MyST about its next major version; that is theirs to change, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated. Check CHANGES for Sphinx API")
TIMEOUT_MS = 20_000
SCHEMES = ("light", "dark")  # the site follows the system's colour scheme; the other pages must read in both

# What Swagger UI's own markup fails on /docs (README, "Accessibility"): rule -> the elements it fails on. The
# course's wrapper fixes the rest (the page's language, and docs.css the contrast of Swagger UI's colours).
SWAGGER_UI_KNOWN = {
    # Each operation's summary is a <button> with the deep link to the operation (an <a>) inside it.
    "nested-interactive": ".opblock-summary-control",
    # Try it out: the request body's text box and the file picker have no <label>.
    "label": ".opblock-body textarea.body-param__text, .opblock-body input[type=file]",
    # An operation's list of allowed values (GET /status/{code}) has no label.
    "select-name": ".parameters-col_description select",
    # The copy buttons beside a curl command and a request URL hold only an icon, and no name.
    "button-name": ".copy-to-clipboard > button",
}


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def need_axe() -> Path:
    """axe-core's axe.min.js, or skip (fail under COURSE_API_REQUIRE_SYSTEM_TOOLS=1) with how to install it."""
    found = find_axe()
    if found is None or not found.is_file():
        where = f" (COURSE_API_AXE={found} is not a file)" if found else ""
        missing_system_tool(
            f"axe-core is not installed{where}, so the accessibility tests are skipped; to run them: {AXE_INSTALL} "
            "(Node.js and npm: sudo apt-get install nodejs npm), or set COURSE_API_AXE to its axe.min.js"
        )
    return found


@pytest.fixture(scope="module")
def axe() -> Path:
    return need_axe()


def assert_no_violations(page, axe: Path, where: str) -> None:
    violations = axe_violations(page, axe)
    assert violations == [], f"{where} fails WCAG 2.1 AA rules (axe-core):\n{describe_violations(violations)}"


def tab_to(page, target, limit: int = 60) -> None:
    """Press Tab until ``target`` (a locator) has the focus; fail after ``limit`` presses."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("(element) => element === document.activeElement"):
            return
    focused = page.evaluate("() => document.activeElement.outerHTML.slice(0, 200)")
    raise AssertionError(f"{limit} presses of Tab never reached {target}; the focus is on {focused}")


def in_scheme(page, scheme: str, url: str) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto(url, wait_until="load")


# -------------------------------------------------------------------------------------------- axe-core itself
def test_axe_is_found_or_the_tests_say_how_to_install_it(monkeypatch, tmp_path):
    script = tmp_path / "axe-core" / "axe.min.js"
    script.parent.mkdir()
    script.write_text("/* axe */", encoding="utf-8")
    assert find_axe({"COURSE_API_AXE": str(script)}) == script
    monkeypatch.setenv("COURSE_API_AXE", str(tmp_path / "nowhere.js"))
    monkeypatch.delenv("COURSE_API_REQUIRE_SYSTEM_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=re.escape(AXE_INSTALL)):
        need_axe()
    monkeypatch.setenv("COURSE_API_REQUIRE_SYSTEM_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match=re.escape(AXE_INSTALL)):
        need_axe()


@pytest.mark.browser
def test_a_violation_fails(page, axe):
    """The check itself: a page with an unlabelled text box and no language fails, naming the rule and element."""
    page.set_content("<!doctype html><html><head><title>t</title></head><body><main><input id=x></main></body></html>")
    violations = axe_violations(page, axe)
    assert {rule["id"] for rule in violations} == {"html-has-lang", "label"}
    assert "#x" in describe_violations(violations)


# --------------------------------------------------------------------------------------------- /playground
@pytest.mark.browser
def test_the_playground_passes_axe_before_and_after_a_prediction(page, live_server, axe):
    for scheme in SCHEMES:
        in_scheme(page, scheme, f"{live_server.url}/playground")
        assert_no_violations(page, axe, f"/playground ({scheme})")
        page.get_by_label("A PNG or JPEG of one handwritten digit").set_input_files(
            files=[{"name": "digit.png", "mimeType": "image/png", "buffer": digit_png(7)}]
        )
        expect(page.locator("#status")).to_have_text("200 OK", timeout=TIMEOUT_MS)
        expect(page.locator("#seen-canvas")).to_be_visible()
        assert_no_violations(page, axe, f"/playground with an answer ({scheme})")


@pytest.mark.browser
def test_the_playground_works_with_the_keyboard_alone(page, live_server):
    # Playwright catches file dialogs once something listens for them: listen from the start, so that none is missed.
    page.on("filechooser", lambda chooser: None)
    page.goto(f"{live_server.url}/playground")
    status, prediction = page.locator("#status"), page.locator("#prediction")

    # Text: Tab to the box, type, Tab to the button, Enter.
    tab_to(page, page.get_by_label("A sentence in English"))
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("What a lovely day")
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Predict sentiment")
    expect(button).to_be_focused()
    assert button.evaluate("(b) => getComputedStyle(b).outlineStyle") != "none", "the focus must be visible"
    page.keyboard.press("Enter")
    expect(status).to_have_text("200 OK", timeout=TIMEOUT_MS)
    expect(prediction).to_contain_text("positive")

    # Image: Tab to the file picker, Space opens the file dialog; the drop zone opens it with Enter.
    picker = page.get_by_label("A PNG or JPEG of one handwritten digit")
    tab_to(page, picker, limit=5)
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(files=[{"name": "digit.png", "mimeType": "image/png", "buffer": digit_png(7)}])
    expect(status).to_have_text("200 OK", timeout=TIMEOUT_MS)
    expect(prediction).to_have_text(re.compile(r"^digit 7 "))
    tab_to(page, page.locator("#drop-zone"), limit=5)
    with page.expect_file_chooser():
        page.keyboard.press("Enter")
    assert page.errors == []


# -------------------------------------------------------------------------------------------------- /docs
def swagger_ui_violations(page, axe: Path) -> tuple[list[dict[str, Any]], set[str]]:
    """The violations on the page that are not SWAGGER_UI_KNOWN's, and the known rules that it failed."""
    unexpected, known = [], set()
    for rule in axe_violations(page, axe):
        where = SWAGGER_UI_KNOWN.get(rule["id"])
        check = "([target, where]) => where !== null && document.querySelector(target).matches(where)"
        others = [node for node in rule["nodes"] if not page.evaluate(check, [node["target"], where])]
        if others:
            unexpected.append({**rule, "nodes": others})
        if len(others) < len(rule["nodes"]):
            known.add(rule["id"])
    return unexpected, known


def open_every_operation(page, base: str) -> None:
    """Try it out on GET /items/{item_id} (executed), then every other operation opened, with Try it out."""
    try_it_out_get_item(page, base, "keyboard", TIMEOUT_MS)
    for block in page.locator(".opblock:not(.is-open)").evaluate_all("(blocks) => blocks.map((b) => b.id)"):
        page.locator(f'[id="{block}"] .opblock-summary-control').click()
    try_it = page.get_by_role("button", name="Try it out")
    for _ in range(page.locator(".opblock").count()):
        if not try_it.count():
            break
        try_it.first.click()
    expect(try_it).to_have_count(0)


@pytest.mark.browser
def test_docs_pass_axe_but_for_what_swagger_ui_itself_fails(page, live_server, axe):
    page.goto(f"{live_server.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=TIMEOUT_MS)
    assert page.locator("html").get_attribute("lang") == "en"
    unexpected, seen = swagger_ui_violations(page, axe)
    assert unexpected == [], f"/docs fails WCAG 2.1 AA rules (axe-core):\n{describe_violations(unexpected)}"

    open_every_operation(page, live_server.url)
    unexpected, more = swagger_ui_violations(page, axe)
    message = f"/docs, every operation open, fails WCAG 2.1 AA rules (axe-core):\n{describe_violations(unexpected)}"
    assert unexpected == [], message
    assert seen | more == set(SWAGGER_UI_KNOWN), (
        f"Swagger UI no longer fails {sorted(set(SWAGGER_UI_KNOWN) - seen - more)}: take them out of "
        "SWAGGER_UI_KNOWN and out of the README's paragraph on accessibility"
    )


@pytest.mark.browser
def test_docs_work_with_the_keyboard_alone(page, live_server):
    """Notebook 03's Try it out on GET /items/{item_id}, with Tab, Enter and typing only."""
    page.goto(f"{live_server.url}/docs")
    operation = page.locator(".opblock-get").filter(has=page.locator('[data-path="/items/{item_id}"]'))
    summary = operation.locator(".opblock-summary-control")
    expect(summary).to_be_visible(timeout=TIMEOUT_MS)
    tab_to(page, summary)
    page.keyboard.press("Enter")
    expect(summary).to_have_attribute("aria-expanded", "true")
    tab_to(page, operation.get_by_role("button", name="Try it out"), limit=10)
    page.keyboard.press("Enter")
    tab_to(page, operation.locator('tr[data-param-name="item_id"] input'), limit=10)
    page.keyboard.type("5")
    tab_to(page, operation.get_by_role("button", name="Execute"), limit=10)
    page.keyboard.press("Enter")
    answer = operation.locator(".live-responses-table .response")
    expect(answer.locator(".response-col_status")).to_have_text("200", timeout=TIMEOUT_MS)
    expect(answer.locator(".response-col_description pre").first).to_contain_text('"item_id": 5')


# ------------------------------------------------------------------------------------------ the course website
class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served_site(tmp_path_factory: pytest.TempPathFactory, solutions: str) -> Iterator[str]:
    """The site built once (``solutions``: "omit" as published, or "collapsed") and served on 127.0.0.1."""
    work = tmp_path_factory.mktemp(f"site-{solutions}")
    build_site(ROOT, work / "site", solutions=solutions, work=work / "build")
    handler = functools.partial(QuietHandler, directory=str(work / "site"))
    server = ThreadingHTTPServer((ports.LOOPBACK, ports.free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{ports.LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site_url(tmp_path_factory) -> Iterator[str]:
    with served_site(tmp_path_factory, "omit") as url:
        yield url


@pytest.fixture(scope="module")
def folded_site_url(tmp_path_factory) -> Iterator[str]:
    with served_site(tmp_path_factory, "collapsed") as url:
        yield url


SITE_PAGES = [
    "index.html",
    "walkthroughs/00_setup.html",  # an HTML output: server.link()'s link to /docs
    "walkthroughs/03_fastapi.html",
    "worksheets/03_fastapi.html",
    "glossary.html",
    "search.html?q=FastAPI",
]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("path", SITE_PAGES)
def test_site_pages_pass_axe_in_light_and_dark_mode(path, page, site_url, axe):
    if path == "glossary.html" and not (ROOT / "notebooks" / "glossary.md").is_file():
        pytest.skip("this course has no glossary page")
    for scheme in SCHEMES:
        in_scheme(page, scheme, f"{site_url}/{path}")
        expect(page.locator("html")).to_have_attribute("data-theme", scheme)
        if path.startswith("search.html"):
            expect(page.locator("#search-results ul.search li").first).to_be_visible(timeout=TIMEOUT_MS)
        assert_no_violations(page, axe, f"{path} ({scheme})")


@pytest.mark.slow
@pytest.mark.browser
def test_folded_answers_pass_axe_closed_and_open(page, folded_site_url, axe):
    """The site with the worked answers folded (``make site SOLUTIONS=collapsed``): each fold's summary, and the
    answers once opened with the keyboard."""
    for scheme in SCHEMES:
        in_scheme(page, scheme, f"{folded_site_url}/worksheets/03_fastapi.html")
        assert_no_violations(page, axe, f"the folded worksheet ({scheme})")
    fold = page.locator("details.hide").first
    tab_to(page, fold.locator("summary"), limit=200)
    page.keyboard.press("Enter")
    expect(fold).to_have_attribute("open", "")
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    assert_no_violations(page, axe, "the folded worksheet, every answer open")


@pytest.mark.slow
@pytest.mark.browser
def test_the_site_works_with_the_keyboard_alone(page, site_url, axe):
    # The first Tab reaches the skip link, and Enter skips the sidebar to the page's content.
    page.goto(f"{site_url}/walkthroughs/03_fastapi.html")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main-content$"))
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.closest('#main-content') !== null")

    # The sidebar's navigation: Tab to the lesson's worksheet, Enter opens it.
    page.goto(f"{site_url}/walkthroughs/03_fastapi.html")
    tab_to(page, page.locator(".bd-sidebar-primary").get_by_role("link", name=re.compile("^03 · FastAPI: worksheet")))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/worksheets/03_fastapi\.html$"))

    # Search: Tab to the search button, Enter opens the search box, type and Enter lists the results.
    search = page.locator(".bd-sidebar-primary").get_by_role("button", name=re.compile("^Search"))
    tab_to(page, search)
    page.keyboard.press("Enter")
    box = page.locator("#pst-search-dialog input[name=q]")
    expect(box).to_be_focused()
    assert_no_violations(page, axe, "the site's search box")
    page.keyboard.type("FastAPI")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\.html\?q=FastAPI"))
    expect(page.locator("#search-results ul.search li").first).to_be_visible(timeout=TIMEOUT_MS)
    assert page.errors == []


# ------------------------------------------------------------------------------------------ feedback pages
@pytest.fixture(scope="module")
def feedback_html(tmp_path_factory) -> str:
    """A student's feedback page as the grader writes it: every kind of outcome, notes, a sheet not handed in."""
    ids = sorted(i for i in EXERCISES if EXERCISES[i].lesson == "03")
    sheet = SheetResult("Ada", f"{NOTEBOOKS['03']}.ipynb", "03", notes=[Note("Cell 4 ran for more than 60 s.")])
    outcomes = [
        (Outcome.DONE, "The answer passes."),
        (Outcome.FAILING, "AssertionError: GET /items/5 answered 404, not 200"),
        (Outcome.TAMPERED, "The check's own code was changed."),
    ]
    for exercise_id, (outcome, message) in zip(ids, outcomes, strict=False):
        sheet.exercises[exercise_id] = ExerciseResult(outcome, message)
    not_graded = Note("notes.ipynb is not a worksheet of the course.", NoteKind.NOT_GRADED)
    other = SheetResult("Ada", "notes.ipynb", None, notes=[not_graded])
    output = tmp_path_factory.mktemp("grades")
    names = write_all(output, [StudentGrades("Ada", [sheet, other])])
    return (output / "feedback" / names["Ada"]).read_text(encoding="utf-8")


@pytest.mark.browser
def test_a_feedback_page_passes_axe(page, feedback_html, axe):
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        page.set_content(feedback_html)
        assert_no_violations(page, axe, f"the feedback page ({scheme})")


@pytest.mark.browser
def test_a_feedback_page_reads_with_the_keyboard_alone(page, feedback_html):
    """Nothing on it needs a pointer, and its list of worksheets leads to each one's section: Tab, Enter."""
    page.set_content(feedback_html)
    assert page.locator("main h1").count() == 1, "the page's content is one <main> landmark, under its title"
    last = NOTEBOOKS[max(NOTEBOOKS)]
    link = page.get_by_role("navigation", name="Worksheets").get_by_role("link", name=last)
    tab_to(page, link, limit=len(NOTEBOOKS))
    page.keyboard.press("Enter")
    section = page.get_by_role("heading", level=2, name=re.compile(f"^{last}: "))
    expect(section).to_be_in_viewport()
    assert page.evaluate("() => location.hash") == f"#lesson-{max(NOTEBOOKS)}"
