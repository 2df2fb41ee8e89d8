"""A class on a real JupyterHub: three students log in at once, run notebook 00 in JupyterLab in Chromium, open
the interactive docs it prints through the hub's proxy and call the API there; nobody reaches another's server,
and stopping a server, then the hub, leaves no process or port behind.

The hub (tests/jupyterhub_config.py, started by tests/hub_support.py) runs on 127.0.0.1 with
configurable-http-proxy from npm, a shared password and the simple local-process spawner: each student's Jupyter
server runs from the course's virtual environment, in a home folder of its own with a copy of the notebooks.
Without Chromium, Node.js or npm the test skips and says how to install them (fails under
COURSE_API_REQUIRE_SYSTEM_TOOLS=1, as in .ci/run). Every page runs behind the loopback guard of
helpers.guarded_page. Screenshots go to test-artifacts/screenshots/hub-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from hub_support import (
    LAB_TIMEOUT_MS,
    NOTEBOOK,
    STEP_MS,
    STUDENTS,
    Hub,
    configurable_http_proxy,
    error_outputs,
    expect,
    listening_ports,
    log_in,
    menu,
    notebook_panel,
    select_cell,
    wait_closed,
    wait_gone,
    wait_idle,
)

from helpers import guarded_page, save_screenshot, try_it_out_get_item

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.kernel, pytest.mark.subprocess, pytest.mark.slow]

STOP_CELL = "server.stop()"  # notebook 00's last code cell: it stops the course server
DOCS_LINE = re.compile(r"Interactive docs:\s+(\S+)")
COURSE_SERVER_LINE = re.compile(r"Course server at http://127\.0\.0\.1:(\d+)")


@pytest.fixture(scope="module")
def hub(browser, request, tmp_path_factory) -> Iterator[Hub]:
    """A JupyterHub for the module (after the browser fixture: without Chromium, nothing starts)."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider: install afresh then
    folder = cache.mkdir("configurable-http-proxy") if cache is not None else tmp_path_factory.mktemp("chp")
    hub = Hub(
        state=tmp_path_factory.mktemp("hub-state"),
        homes=tmp_path_factory.mktemp("hub-homes"),
        proxy_command=configurable_http_proxy(folder),
    )
    try:
        yield hub.start()
    finally:
        hub.stop()


@dataclass
class Student:
    name: str
    page: Any  # the JupyterLab tab
    outside: list[str]  # requests of this browser context beyond 127.0.0.1 (guarded_page)
    course_port: int = 0  # the course server that notebook 00 started in the student's kernel
    docs_url: str = ""  # the /docs address notebook 00 printed
    processes: list[Any] = field(default_factory=list)  # the single-user server, its kernel(s)
    docs_page: Any = None  # a second tab in the same browser context


def _operations(base_url: str) -> int:
    paths = httpx2.get(f"{base_url}/openapi.json", timeout=10).json()["paths"]
    methods = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
    return sum(1 for item in paths.values() for method in item if method in methods)


# ------------------------------------------------------------------------------------- the steps
def _open_lab_and_notebook(hub: Hub, students: list[Student]) -> None:
    for student in students:  # all three log in before anyone waits: their servers start at once
        log_in(student.page, hub, student.name)
    for student in students:
        # The hub's readiness API says when the server is up (and starts it again if the start failed); the
        # browser's own waiting page then moves on to JupyterLab, or is sent there after a second start.
        if hub.start_server(student.name, timeout=LAB_TIMEOUT_MS / 1000) > 1:
            student.page.goto(f"{hub.url}/user/{student.name}/lab", timeout=LAB_TIMEOUT_MS)
        student.page.wait_for_url(re.compile(rf"/user/{student.name}/lab"), timeout=LAB_TIMEOUT_MS)
        # JupyterLab, in the student's home: the file browser shows their copy of the course's notebooks.
        folder = student.page.locator(".jp-DirListing-itemText", has_text=re.compile(r"^notebooks$"))
        expect(folder).to_be_visible(timeout=LAB_TIMEOUT_MS)
        save_screenshot(student.page, f"hub-{student.name}-lab")
    for student in students:
        student.page.goto(f"{hub.url}/user/{student.name}/lab/tree/{NOTEBOOK}", timeout=LAB_TIMEOUT_MS)
    for student in students:
        notebook = notebook_panel(student.page)
        heading = notebook.locator(".jp-RenderedMarkdown h1").first
        expect(heading).to_contain_text("00 · Setup", timeout=LAB_TIMEOUT_MS)
        expect(notebook.locator(".jp-KernelName")).to_have_text("Python (course-api)", timeout=LAB_TIMEOUT_MS)
        wait_idle(student.page)


def _run_up_to_the_stop_cell(students: list[Student]) -> None:
    """Clear the stored outputs, then Run > Run All Above Selected Cell with the stop cell selected: every cell
    up to the printed links runs and the course server stays up (the last cell stops it; it runs later)."""
    for student in students:
        menu(student.page, "Edit", "Clear Outputs of All Cells")
        select_cell(student.page, STOP_CELL)
        menu(student.page, "Run", "Run All Above Selected Cell")
    for student in students:
        notebook = notebook_panel(student.page)
        printed = notebook.locator(".jp-OutputArea-output").filter(has_text="Interactive docs:")
        expect(printed).to_have_count(1, timeout=LAB_TIMEOUT_MS)
        wait_idle(student.page)
        save_screenshot(student.page, f"hub-{student.name}-notebook")
        assert error_outputs(student.page) == [], f"{student.name}'s notebook shows errors"
        prompts = notebook.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
        count = len(prompts)
        assert [p.strip() for p in prompts] == [f"[{n}]:" for n in range(1, count)] + ["[ ]:"], prompts
        started = COURSE_SERVER_LINE.search("\n".join(notebook.locator(".jp-OutputArea-output").all_text_contents()))
        assert started, f"{student.name}'s notebook printed no 'Course server at http://127.0.0.1:<port>'"
        student.course_port = int(started.group(1))
        text = printed.text_content() or ""
        found = DOCS_LINE.search(text)
        assert found, text
        student.docs_url = found.group(1)


def _check_servers_are_separate(hub: Hub, students: list[Student]) -> None:
    ports = [student.course_port for student in students]
    assert len(set(ports)) == len(students), f"the students' course servers share ports: {ports}"
    for student in students:
        expected = f"{hub.url}/user/{student.name}/proxy/{student.course_port}/docs"
        assert student.docs_url == expected, (
            f"{student.name}'s notebook printed {student.docs_url!r}, not the address through the hub {expected!r}"
        )
        student.processes = hub.student_processes(student.name)
        assert student.processes, f"no single-user server process for {student.name}:\n{hub.log_tail()}"
        home = Path(student.processes[0].cwd())
        assert home == hub.homes / student.name, f"{student.name}'s server runs in {home}"
        # The course server listens in this student's kernel, below this student's own single-user server.
        assert student.course_port in listening_ports(student.processes), (
            f"{student.name}'s course server (port {student.course_port}) is not in their own server's processes"
        )
    servers = {student.processes[0].pid for student in students}
    assert len(servers) == len(students), "the students share a single-user server"


def _try_it_out_in_the_docs(student: Student) -> None:
    """Click the printed /docs link (a new tab of the student's browser context); Try it out on GET /items/{id}."""
    printed = notebook_panel(student.page).locator(".jp-OutputArea-output").filter(has_text="Interactive docs:")
    link = printed.locator(f'a[href="{student.docs_url}"]')
    expect(link).to_have_count(1, timeout=STEP_MS)  # JupyterLab makes the printed address a link
    with student.page.context.expect_page(timeout=STEP_MS) as opened:
        link.click()
    page = student.docs_page = opened.value
    # A tab left in the background gets no animation frames, and Playwright waits for those before it clicks.
    page.bring_to_front()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.extend([message.text] if message.type == "error" else []))
    page.set_default_timeout(STEP_MS)
    page.wait_for_load_state(timeout=STEP_MS)
    assert page.url == student.docs_url, f"{student.name}'s link opened {page.url}"
    base = student.docs_url.removesuffix("/docs")
    operations = _operations(f"http://127.0.0.1:{student.course_port}")
    expect(page.locator(".opblock")).to_have_count(operations, timeout=STEP_MS)
    try_it_out_get_item(page, base, student.name, STEP_MS)
    save_screenshot(page, f"hub-{student.name}-docs")
    assert errors == [], f"{student.name}'s /docs page: {errors}"


def _cannot_open(student: Student, other: Student, hub: Hub) -> None:
    """The student's browser asks for the other's JupyterLab and course server: refused, never their content."""
    page = student.docs_page
    for url in (f"{hub.url}/user/{other.name}/lab", other.docs_url):
        response = page.goto(url, timeout=STEP_MS)
        assert response is not None, url
        landed = urlsplit(page.url).path
        # The other's server sends the browser to the hub to log in; the hub, which knows this student, says no.
        assert landed.startswith("/hub/"), f"{student.name} opened {url} and stayed at {page.url}"
        assert response.status == 403 or landed == "/hub/login", (
            f"{student.name} opened {url}: {response.status} at {page.url}"
        )
        assert page.locator("#jp-main-dock-panel, .swagger-ui").count() == 0, f"{student.name} sees {url}"
    save_screenshot(page, f"hub-{student.name}-refused-{other.name}")
    # The same with the API's own address, as a script in the page would ask: the cookies that open the
    # student's own openapi.json do not open the other's.
    own = page.context.request.get(f"{student.docs_url.removesuffix('/docs')}/openapi.json", timeout=STEP_MS)
    assert own.status == 200, f"{student.name}'s own openapi.json: {own.status}"
    assert "openapi" in own.json()
    theirs = page.context.request.get(f"{other.docs_url.removesuffix('/docs')}/openapi.json", timeout=STEP_MS)
    assert theirs.status in (401, 403), f"{student.name} asked for {other.name}'s openapi.json: {theirs.status}"
    assert '"openapi"' not in theirs.text()


def _stop_the_course_servers(students: list[Student]) -> None:
    """Run > Run Selected Cell and All Below from the stop cell: the notebook stops its server; the port closes."""
    for student in students:
        student.page.bring_to_front()
        select_cell(student.page, STOP_CELL)
        menu(student.page, "Run", "Run Selected Cell and All Below")
    for student in students:
        notebook = notebook_panel(student.page)
        stopped = notebook.locator(".jp-OutputArea-output").filter(has_text="No answer: nothing listens at")
        expect(stopped).to_have_count(1, timeout=STEP_MS)
        wait_idle(student.page)
        prompts = [p.strip() for p in notebook.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()]
        assert prompts == [f"[{n}]:" for n in range(1, len(prompts) + 1)], prompts
        assert error_outputs(student.page) == [], f"{student.name}'s notebook shows errors"
        assert wait_closed({student.course_port}, timeout=10) == set(), f"{student.name}'s course server still up"


def _stop_through_the_rest_api(hub: Hub, student: Student) -> None:
    processes = hub.student_processes(student.name)
    assert processes, f"{student.name}'s single-user server is not running before it is stopped"
    ports = {hub.singleuser_port(student.name), student.course_port} | listening_ports(processes)
    hub.stop_server(student.name)
    left = wait_gone(processes, timeout=30)
    assert left == [], f"processes of {student.name}'s server outlived it (killed now): {left}"
    assert wait_closed(ports, timeout=10) == set(), f"ports of {student.name}'s server still listen"
    assert f"/user/{student.name}" not in hub.proxy_routes(), f"the proxy still routes /user/{student.name}"


# -------------------------------------------------------------------------------------- the tests
@pytest.mark.timeout(480)
def test_three_students_run_notebook_00_and_use_their_own_docs_through_the_hub(hub, browser):
    with ExitStack() as stack:
        students = []
        for name in STUDENTS:
            page, outside = stack.enter_context(guarded_page(browser))
            page.set_default_timeout(STEP_MS)
            students.append(Student(name, page, outside))
        _open_lab_and_notebook(hub, students)
        _run_up_to_the_stop_cell(students)
        _check_servers_are_separate(hub, students)
        for student in students:
            _try_it_out_in_the_docs(student)
        for student, other in zip(students, students[1:] + students[:1], strict=True):
            _cannot_open(student, other, hub)
        _stop_the_course_servers(students)
    for student in students:
        assert student.outside == [], f"{student.name}'s browser tried to leave 127.0.0.1: {student.outside}"
    for student in students:
        _stop_through_the_rest_api(hub, student)
    assert [name for name in STUDENTS if hub.servers(name)] == []
    # The hub logged the refusals above as errors ("... not allowed to access Server at /user/bob/"); nothing else.
    assert hub.log_problems(expected=("not allowed to access",)) == [], f"see {hub.log}"


def test_stopping_the_hub_leaves_no_process_or_port_behind(hub):
    """With one student's server running again (started through the REST API), the hub stops: it stops that
    server and its proxy, and every process and port of theirs goes."""
    hub.start_server(STUDENTS[0])
    family = hub.family()
    commands = [" ".join(process.cmdline()) for process in family]
    assert any("configurable-http-proxy" in command for command in commands), commands
    assert hub.student_processes(STUDENTS[0]), f"{STUDENTS[0]}'s server is not running"
    ports = listening_ports(family)
    own = {hub.hub_port, hub.proxy_port, hub.proxy_api_port, hub.singleuser_port(STUDENTS[0])}
    assert own <= ports, f"not all of the hub, its proxy and its API, {STUDENTS[0]}'s server listen: {ports}"
    left = hub.stop()
    assert left == [], f"processes outlived the hub (killed now): {left}"
    assert hub.process is not None
    assert hub.process.returncode is not None, "the hub still runs"
    assert wait_closed(ports, timeout=10) == set(), "ports of the hub, its proxy or a student's server still listen"
