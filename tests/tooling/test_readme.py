"""The README as a newcomer follows it: every command it shows runs as written, in a fresh shell in the course
folder after the Quickstart's setup (the activated .venv), and every Python snippet runs when pasted into the
course's kernel. A command that cannot run here says why in SKIPPED; a new command must be classified."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time

import pytest

from course_api.system.ports import free_port, is_listening
from helpers import ROOT

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

README = (ROOT / "README.md").read_text(encoding="utf-8")

# Commands that cannot run in this test, and what covers them instead.
SKIPPED = {
    "make lab": "opens JupyterLab until stopped: tests/workbook/test_lab.py runs it",
    "make test": "this suite itself",
    "make bench": "minutes of load: tests/tooling/test_bench.py runs a short benchmark",
    "make train": "rewrites the shipped weights: tests/server/test_models.py trains twice into a temporary folder",
    "course-api train": "as make train",
    "make run-notebooks": "runs every notebook: tests/workbook/test_runner.py and tests/course/test_notebooks.py",
    "course-api run-notebooks": "as make run-notebooks",
    "make screenshots": "rewrites docs/images: tests/server/test_browser.py takes the same screenshots",
    "make test-fast": "a subset of this suite",
    "make lock": "re-resolves every version from the package index",
    "make clean": "would delete the .venv these tests run in",
    "make exercises": "rewrites exercises/: `course-api build-exercises --check` runs instead",
    "course-api build-exercises": "as make exercises",
    "make site": "would replace the site/ folder: tests/workbook/test_site.py builds both kinds in a temporary one",
    "course-api build-site": "as make site",
    "make grade": "needs a class's worksheets: tests/workbook/test_grading_class.py grades one, also by the command",
    "course-api grade": "as make grade",
    "docker": "no Docker engine here: tests/tooling/test_docker.py lints the Dockerfile and runs its CMD",
    "conda": "no conda here: tests/tooling/test_environment.py checks environment.yml",
    "COURSE_API_DEVICE=cuda": "no GPU here: tests/server/test_models.py compares every device the machine has",
    "DEVICE=cuda": "no GPU here",
    "sudo": "installs system packages",
    "brew": "macOS only",
    ".venv\\Scripts\\Activate.ps1": "Windows PowerShell",
    "python -m ipykernel install --user": "registers a kernel in the user's own Jupyter folder",
    "course-api ...": "a placeholder, not a command",
    "make X": "a placeholder, not a command",
    "course-api serve --host ... --port ... --device ... --reload": "a list of options, not a command",
}
SERVERS = ("make serve", "course-api serve")  # they run until stopped: started, asked GET /, stopped
RUNNABLE = {
    "source .venv/bin/activate",
    "make setup",
    "make setup TORCH=cpu",  # the build this machine has: nothing to change
    "make kernel",
    "make doctor",
    "course-api doctor",
    "make lint",
    "course-api build-exercises --check",
}


def commands() -> list[str]:
    """Each line of the README's bash blocks, and each `make ...` / `course-api ...` it names in backticks."""
    found: list[str] = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", README, re.DOTALL):
        found += [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
    found += re.findall(r"`((?:make|course-api) [^`]+)`", README)
    return sorted(set(found))


def skipped(command: str) -> str | None:
    if command.startswith("make") and shutil.which("make") is None:
        return "make is not on the PATH here: course.py runs the same (tests/tooling/test_course_py.py, test_lab.py)"
    if command in SKIPPED:
        return SKIPPED[command]
    if command in RUNNABLE or command.startswith(SERVERS):
        return None
    return next((why for start, why in SKIPPED.items() if command.startswith(start) or start in command), None)


def run_in_fresh_shell(command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    script = f"source .venv/bin/activate && {command}"
    return subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def serve(command: str) -> None:
    """Start a server command as written (on a free port unless it names one), ask GET /, stop it."""
    port = int(m[1]) if (m := re.search(r"(?:PORT=|--port )(\d+)", command)) else free_port()
    if is_listening(port):
        port = free_port()
        command = re.sub(r"(PORT=|--port )\d+", rf"\g<1>{port}", command)
    elif not m:
        command += f" PORT={port}" if command.startswith("make") else f" --port {port}"
    process = subprocess.Popen(
        ["bash", "-c", f"source .venv/bin/activate && exec {command}"],
        cwd=ROOT,
        start_new_session=True,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while not is_listening(port):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, f"{command}: nothing listens on port {port} after 90 s"
            time.sleep(0.3)
        import httpx2

        assert httpx2.get(f"http://127.0.0.1:{port}/", timeout=10).json()["message"] == "OK"
    finally:
        import os

        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_every_command_is_classified():
    unknown = [c for c in commands() if not skipped(c) and c not in RUNNABLE and not c.startswith(SERVERS)]
    assert not unknown, f"say how to test these README commands (RUNNABLE, SERVERS or SKIPPED): {unknown}"


@pytest.mark.parametrize("command", [c for c in commands() if not skipped(c)])
def test_readme_command_runs_as_written(command):
    if command.startswith(SERVERS):
        serve(command)
        return
    result = run_in_fresh_shell(command)
    if command.endswith("doctor"):  # doctor exits 1 when a check fails, e.g. a kernel registered elsewhere
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        assert "ok  python" in result.stdout
        return
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"


@pytest.mark.kernel
@pytest.mark.parametrize("snippet", re.findall(r"```python\n(.*?)```", README, re.DOTALL))
def test_readme_python_snippet_runs_when_pasted(kernel, snippet):
    kernel.run(snippet, timeout=120)  # raises with the error's name and message if the snippet fails
