"""course_api.workbook.checks.student_app: the student's own app, started as a terminal would start it, judged over
HTTP, and stopped with everything it started, whether it answers, crashes or hangs."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from course_api.system.ports import is_listening
from course_api.workbook.checks import CheckFailed, ExerciseNotDone
from course_api.workbook.checks.student_app import hang, project_folder, running_app, start_failure

pytestmark = pytest.mark.subprocess

APP = """from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}
"""


def project(tmp_path: Path, main: str) -> Path:
    folder = tmp_path / "my_api"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "main.py").write_text(main)
    return folder


def started_by_us() -> set[int]:
    """The processes this test process started, and theirs."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


def command_line(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


def test_the_app_runs_in_its_own_process_and_is_stopped_afterwards(tmp_path):
    folder = project(tmp_path, APP)
    before = started_by_us()
    with running_app(folder) as app:
        assert app.get("/health").json() == {"status": "ok"}
        port = int(app.url.rsplit(":", 1)[1])
        (server,) = [pid for pid in started_by_us() - before if "my_api.main:app" in command_line(pid)]
        assert Path(psutil.Process(server).cwd()) == tmp_path  # from the worksheet's folder, as in a terminal
    assert not is_listening(port)
    assert started_by_us() <= before


def test_what_the_app_started_is_stopped_with_it(tmp_path):
    spawns = APP + 'import subprocess, sys\nsubprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])\n'
    folder = project(tmp_path, spawns)
    before = started_by_us()
    with running_app(folder):
        assert any("time.sleep(600)" in command_line(pid) for pid in started_by_us() - before)
    assert psutil.wait_procs([psutil.Process(pid) for pid in started_by_us() - before], timeout=5)[1] == []


def test_a_hang_is_stopped_at_the_time_limit_with_the_usual_causes(tmp_path):
    folder = project(tmp_path, "import time\nfrom fastapi import FastAPI\n\napp = FastAPI()\ntime.sleep(600)\n")
    before = started_by_us()
    started = time.monotonic()
    with (
        pytest.raises(CheckFailed, match="did not start answering within 2 s") as failed,
        running_app(folder, timeout=2),
    ):
        pass
    assert time.monotonic() - started < 10
    assert "lifespan handler that never reaches `yield`" in str(failed.value)
    assert started_by_us() <= before


def test_uvicorn_run_in_the_file_is_named(tmp_path):
    folder = project(tmp_path, APP + "\nimport uvicorn\nuvicorn.run(app, host='127.0.0.1', port=0)\n")
    with (
        pytest.raises(CheckFailed, match=r"calls uvicorn\.run\(\.\.\.\) when it is imported"),
        running_app(folder, timeout=3),
    ):
        pass


def test_a_missing_file_or_a_stub_is_not_done(tmp_path):
    with pytest.raises(ExerciseNotDone, match=r"There is no my_api/main\.py yet"), running_app(tmp_path / "my_api"):
        pass
    folder = project(tmp_path, "# YOUR CODE HERE\nraise NotImplementedError('later')\n")
    with pytest.raises(ExerciseNotDone, match="still holds the `raise NotImplementedError"), running_app(folder):
        pass


def test_the_project_folder_is_the_worksheets_project_or_my_api_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert project_folder({}) == tmp_path / "my_api"
    assert project_folder({"project": Path("elsewhere")}) == Path("elsewhere")


LIFESPAN_CRASH = """INFO:     Started server process [4242]
INFO:     Waiting for application startup.
ERROR:    Traceback (most recent call last):
  File "/env/lib/python3.12/site-packages/starlette/routing.py", line 694, in lifespan
    async with self.lifespan_context(app) as maybe_state:
  File "{folder}/main.py", line 9, in lifespan
    weights = load_file("digits.safetensors")
  File "/env/lib/python3.12/site-packages/safetensors/torch.py", line 311, in load_file
    with safe_open(filename, framework="pt", device=device) as f:
FileNotFoundError: No such file or directory: "digits.safetensors"

ERROR:    Application startup failed. Exiting.
"""


def test_a_crash_in_the_lifespan_names_the_line_and_the_usual_cause(tmp_path):
    folder = tmp_path / "my_api"
    message = start_failure(LIFESPAN_CRASH.format(folder=folder), folder)
    assert message.splitlines()[:3] == [
        'Your app stopped while it started, with FileNotFoundError: No such file or directory: "digits.safetensors"',
        '  in my_api/main.py, line 9: weights = load_file("digits.safetensors")',
        "It happened in the lifespan handler, before the first request.",
    ]
    assert "Path(__file__).parent" in message


def test_an_import_of_the_project_without_its_package_name_is_explained(tmp_path):
    folder = tmp_path / "my_api"
    output = (
        f'  File "{folder}/main.py", line 3, in <module>\n    from model import Net\n'
        "ModuleNotFoundError: No module named 'model'\n"
    )
    assert "That package is not installed" in start_failure(output, folder)
    own = output.replace("'model'", "'my_api.model'")
    assert "import your own modules as my_api.something" in start_failure(own, folder)


def test_a_hang_without_output_says_nothing_was_printed(tmp_path):
    folder = project(tmp_path, APP)
    assert "What it printed" not in hang("", folder, 30)
