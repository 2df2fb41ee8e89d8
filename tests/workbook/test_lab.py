"""`python3 course.py lab` (what `make lab` runs) opens the course: JupyterLab starts, finds the notebooks and the
course-api kernel, and in Chromium it shows notebook 00 with its kernel running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx2
import psutil  # comes with ipykernel
import pytest

from course_api.system.ports import free_port
from helpers import ROOT, save_screenshot

TOKEN = "course-api-test"

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.subprocess,
]


class Lab(NamedTuple):
    url: str
    token: str
    process: subprocess.Popen
    log: Path  # everything course.py and JupyterLab print

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


def _stop(process: subprocess.Popen) -> None:
    """Stop course.py, JupyterLab and every kernel it started (kernels run in process groups of their own)."""
    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # course.py and JupyterLab: JupyterLab shuts its kernels down
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    _, alive = psutil.wait_procs(family, timeout=10)
    for leftover in alive:
        leftover.kill()
    psutil.wait_procs(alive, timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    """`python3 course.py lab` as a student runs it, with --no-browser, a free port and a token; stopped afterwards."""
    port = free_port()
    settings = tmp_path_factory.mktemp("lab-settings")
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text('{"fetchNews": "false", "checkForUpdates": false}')  # and no "news?" question
    args = [
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        # Nothing from the internet: no news feed, no update check, no extension search on PyPI.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        # The test's settings and workspace (open tabs) live in a temporary folder, not the student's.
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('lab-workspaces')}",
    ]
    log = tmp_path_factory.mktemp("lab-log") / "lab.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "course.py", "lab", *args],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1"},
        )
    lab = Lab(f"http://127.0.0.1:{port}", TOKEN, process, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx2.get(f"{lab.url}/api/kernelspecs", headers=lab.headers, timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
            time.sleep(0.5)
        yield lab
    finally:
        _stop(process)


def test_course_py_lab_starts_jupyterlab_with_the_course(lab):
    specs = httpx2.get(f"{lab.url}/api/kernelspecs", headers=lab.headers, timeout=10).json()
    assert "course-api" in specs["kernelspecs"]
    # The file browser starts at the course folder (not inside notebooks/), so every folder is visible.
    top = httpx2.get(f"{lab.url}/api/contents", headers=lab.headers, timeout=10).json()
    assert {"notebooks", "course_api", "README.md"} <= {item["name"] for item in top["content"]}
    contents = httpx2.get(f"{lab.url}/api/contents/notebooks", headers=lab.headers, timeout=10).json()
    assert "00_setup.ipynb" in {item["name"] for item in contents["content"]}
    assert (
        httpx2.get(f"{lab.url}/lab/tree/notebooks/00_setup.ipynb", headers=lab.headers, timeout=10).status_code == 200
    )


@pytest.mark.browser
def test_jupyterlab_shows_notebook_00_in_chromium_with_an_idle_kernel(lab, page):
    from playwright.sync_api import expect

    page.goto(f"{lab.url}/lab/tree/notebooks/00_setup.ipynb?token={lab.token}", timeout=60_000)
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    heading = notebook.locator(".jp-RenderedMarkdown h1").first
    expect(heading).to_contain_text("00 · Setup", timeout=60_000)
    # The notebook's kernel, started by opening it: the course's, and ready (idle).
    expect(notebook.locator(".jp-KernelName")).to_have_text("Python (course-api)", timeout=60_000)
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle", timeout=60_000)
    save_screenshot(page, "jupyterlab")
    kernels = httpx2.get(f"{lab.url}/api/kernels", headers=lab.headers, timeout=10).json()
    assert [kernel["name"] for kernel in kernels] == ["course-api"]


def test_make_lab_logs_no_warning_a_student_cannot_act_on(lab):
    """After a kernel has started (the browser test opened notebook 00; start one more here), the log of `make lab`
    holds no warning: no unencrypted-kernel warning, no news prompt, nothing about trust or websockets."""
    session = {"path": "notebooks/00_setup.ipynb", "type": "notebook", "kernel": {"name": "course-api"}}
    started = httpx2.post(f"{lab.url}/api/sessions", json=session, headers=lab.headers, timeout=30)
    assert started.status_code == 201, started.text
    time.sleep(3)  # the kernel's own start-up lines
    warnings = [
        line for line in lab.log.read_text().splitlines() if "WARNING" in line or line.startswith(("[W ", "[E "))
    ]
    assert not warnings, "\n".join(warnings)


# Last in the module: its scratch notebook and browser must not show in the log test above.
FAILED_CHECK = [  # worksheet 01's setup, a common first attempt at 01.2 (.json without parentheses), its check
    "from http import HTTPStatus\n\nimport requests\n\nfrom course_api import check, serve_in_background\n\n"
    'server = serve_in_background(device="cpu")\napi_url = server.url',
    'astros_response = requests.get(f"{api_url}/astros.json", timeout=10)\nastros = astros_response.json\n'
    "meaning = HTTPStatus(astros_response.status_code).phrase",
    'check("01.2")',
]


def run_all_until_shown(page, panel, text: str) -> Any:
    """Run > Run All Cells, as a student may, until the last cell shows ``text``; its output. Right after a notebook
    opens on a running kernel, JupyterLab can show the kernel idle before it is connected, and a run then does
    nothing (or is undone when the document loads): while no cell has any output, ask again, three times at most."""
    from playwright.sync_api import expect

    last = panel.locator(".jp-Cell").last.locator(".jp-OutputArea-output")
    for attempt in range(3):
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            raise AssertionError(f"JupyterLab asks: {dialog.first.inner_text()}")
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.locator("li[data-command='runmenu:run-all']").click()
        try:
            expect(last).to_contain_text(text, timeout=40_000)
            return last
        except AssertionError as exc:
            shown = panel.locator(".jp-OutputArea-output").all_inner_texts()
            if shown or attempt == 2:
                raise AssertionError(f"{exc}\nThe cells' outputs:\n" + "\n---\n".join(shown)) from None
    raise AssertionError("unreachable")


@pytest.mark.browser
def test_a_failed_check_shows_one_short_block_in_jupyterlab(lab, page):
    """What a student sees in JupyterLab when a check fails: one block that says what is wrong and what to try, no
    traceback through the course's code, within the cell's width. The README shows this screenshot."""
    import nbformat
    from playwright.sync_api import expect

    folder = ROOT / "exercises" / "work"  # ignored, and removed by make clean
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "failed-check.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in FAILED_CHECK])
    notebook.metadata["kernelspec"] = {
        "name": "course-api",
        "display_name": "Python (course-api)",
        "language": "python",
    }
    nbformat.write(notebook, path)
    session = {"path": "exercises/work/failed-check.ipynb", "type": "notebook", "kernel": {"name": "course-api"}}
    started = httpx2.post(f"{lab.url}/api/sessions", json=session, headers=lab.headers, timeout=60)
    assert started.status_code == 201, started.text  # the kernel runs already: JupyterLab asks nothing
    try:
        page.set_viewport_size({"width": 1280, "height": 800})  # a laptop's window: 100 columns fit in a cell
        page.goto(f"{lab.url}/lab/tree/exercises/work/failed-check.ipynb?token={lab.token}", timeout=60_000)
        panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
            "data-status", "idle", timeout=60_000
        )
        expect(panel.locator(".jp-Cell")).to_have_count(3, timeout=60_000)
        error = run_all_until_shown(page, panel, "✘ Exercise 01.2 (people in space) is not right yet")
        shown = error.inner_text()
        for inside in ("Traceback", "lesson01.py", "registry.py", 'File "'):
            assert inside not in shown
        assert "parentheses" in shown
        save_screenshot(panel.locator(".jp-Cell").nth(1).locator("xpath=..").first, "failed-check")
    finally:
        httpx2.delete(f"{lab.url}/api/sessions/{started.json()['id']}", headers=lab.headers, timeout=30)
        path.unlink(missing_ok=True)
