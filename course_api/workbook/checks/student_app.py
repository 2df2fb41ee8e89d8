"""The student's own project, judged from outside as a client would judge it.

The checks of the project's exercises start the student's app with uvicorn in a process of its own, on a free
port of 127.0.0.1, from the worksheet's folder (``uvicorn my_api.main:app``, as the student runs it in a
terminal), call it over HTTP, and stop it: nothing is left running. An app that does not start gets a message
that names the student's file and line and what the error usually means; one that hangs is stopped after a time
limit, with the usual causes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from course_api.workbook.checks.errors import advice_for
from course_api.workbook.checks.registry import ExerciseNotDone, fail

PROJECT = "my_api"  # the project's folder, next to the worksheets
START_SECONDS = 30.0  # to import the app and run its lifespan's start-up
REQUEST_SECONDS = 10.0

_FRAME = re.compile(r'^[\s|+]*File "(?P<file>[^"]+)", line (?P<line>\d+)')  # also inside exception groups
_ERROR = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)|StopIteration)(: (?P<message>.*))?$")
_NOT_IMPORTED = re.compile(r'Could not import module "(?P<module>[^"]+)"')
_NO_ATTRIBUTE = re.compile(r'Attribute "(?P<name>[^"]+)" not found in module "(?P<module>[^"]+)"')

# What an error at start-up usually means in a project's file; the course's advice for notebook cells otherwise.
FILE_ADVICE: list[tuple[str, str, str]] = [
    (
        "NameError",
        r"",
        "A name is used before it is defined or imported. A file sees only its own imports, not the notebook's: "
        "import it at the top of the file (and check its spelling).",
    ),
    (
        "ModuleNotFoundError",
        rf"No module named '{PROJECT}",
        f"uvicorn runs in the worksheet's folder and looks for {PROJECT}/ there: import your own modules as "
        f"{PROJECT}.something (or with a dot: from .something import ...).",
    ),
    (
        "ModuleNotFoundError",
        r"",
        "That package is not installed in this environment: check the import's spelling.",
    ),
    (
        "ImportError",
        r"attempted relative import",
        f"A relative import (from .x import y) works inside a package: start the app as {PROJECT}.main:app, "
        "from the worksheet's folder.",
    ),
    (
        "FileNotFoundError",
        r"",
        "A relative path is read from the folder the server was started in, not from your file's folder: build "
        "it from the file's own place, Path(__file__).parent / 'name'.",
    ),
    (
        "NotImplementedError",
        r"",
        "Replace the `raise NotImplementedError(...)` line with your code, and write the file again.",
    ),
    (
        "TypeError",
        r"(async iterator|async_generator|didn't yield|did not yield)",
        "A lifespan handler must `yield` once: the code before it runs at start-up, and the server answers "
        "requests while the handler waits at the yield.",
    ),
    (
        "AttributeError",
        r"'State' object has no attribute",
        "app.state holds only what the lifespan stored in it: store the model there (app.state.model = ...) before "
        "the lifespan's yield, and read the same name.",
    ),
    (
        "UnpicklingError",
        r"",
        "torch.load reads pickle files, and a .safetensors file is not one. Read it with "
        "safetensors.torch.load_file(path), then model.load_state_dict(...): that also never runs code from a file.",
    ),
    (
        "",
        r"(CUDA|NVIDIA driver|compiled with CUDA enabled|MPS backend|invalid device ordinal)",
        "This machine has no such GPU: choose the device from what it has, for example "
        "torch.device('cuda' if torch.cuda.is_available() else 'cpu').",
    ),
    (
        "RuntimeError",
        r"state_dict.*(Missing key|Unexpected key|size mismatch)",
        "The weights do not fit the model's class: load digits.safetensors into the DigitCNN of my_api/model.py.",
    ),
]


def project_folder(ns: dict[str, Any]) -> Path:
    """The project's folder: the worksheet's ``project`` (a Path), else ``my_api`` in the current folder."""
    value = ns.get("project")
    return Path(value) if isinstance(value, str | os.PathLike) else Path.cwd() / PROJECT


def _shown(path: Path, folder: Path) -> str:
    """``path`` as the student names it: my_api/main.py."""
    try:
        return (Path(folder.name) / path.resolve().relative_to(folder.resolve())).as_posix()
    except ValueError:
        return path.as_posix()


def require_sources(folder: Path, *files: str) -> None:
    """:class:`ExerciseNotDone` when a file is missing or still holds its stub; fail on a syntax error, with the
    line. ``files`` are paths inside the project (``main.py``)."""
    for name in files:
        if not (folder / name).is_file():
            raise ExerciseNotDone(
                f"There is no {folder.name}/{name} yet, next to this worksheet. Run the cell that writes it (its "
                f"first line: %%writefile {folder.name}/{name}), or save it from the editor, then run the check."
            )
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "raise NotImplementedError" in text:
            raise ExerciseNotDone(
                f"{_shown(path, folder)} still holds the `raise NotImplementedError(...)` line: replace it with your "
                "code, write the file again (run its cell), then run the check."
            )
        try:
            compile(text, str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            line = (exc.text or "").strip()
            fail(
                f"{_shown(path, folder)}, line {exc.lineno}: {exc.msg}" + (f"\n    {line}" if line else "") + "\n"
                "Python cannot read the file: fix that line (a missing colon, bracket or quote, or the wrong "
                "indentation), write the file again, then run the check."
            )


class StudentApp:
    """The student's app, running: ``url``, and ``get``/``post``/``request`` that fail with a clear message."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def error_output(self, wait: float = 3.0) -> str:
        """The output once it holds an error's traceback: uvicorn logs it just after the 500 has gone out."""
        deadline = time.monotonic() + wait
        while not _last_error(self.output()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.output()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        try:
            return requests.request(method, f"{self.url}{path}", timeout=REQUEST_SECONDS, **kwargs)
        except requests.Timeout:
            fail(
                f"{method} {path} got no response within {REQUEST_SECONDS:g} s: the route waits forever (a loop, or "
                "a blocking call in an async def route)."
            )
        except requests.ConnectionError:
            fail(f"{method} {path}: your app stopped answering; it crashed:\n{_tail(self.output())}")

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)


@contextlib.contextmanager
def project_copy(folder: Path) -> Iterator[Path]:
    """A copy of the project in a temporary folder, under the same name: a check may change it (add a file, take
    the weights away) without touching the student's own. Removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="course-api-project-", ignore_cleanup_errors=True) as place:
        copied = Path(place) / folder.name
        shutil.copytree(folder, copied, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        yield copied


@contextlib.contextmanager
def running_app(folder: Path, target: str = "", timeout: float | None = None) -> Iterator[StudentApp]:
    """Start ``target`` (by default ``<folder>.main:app``) with uvicorn from ``folder``'s parent, as a terminal
    would; yield it running; stop it and everything it started. A crash or a hang at start-up (``timeout``
    seconds, :data:`START_SECONDS` by default) fails the check with the reason."""
    from course_api.system.ports import free_port

    require_sources(folder, *(() if target else ("main.py",)))
    port = free_port()
    target = target or f"{folder.name}.main:app"
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    with running_command(command, folder.parent, folder, port, timeout) as app:
        yield app


@contextlib.contextmanager
def running_command(
    command: list[str],
    cwd: Path,
    folder: Path,
    port: int,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[StudentApp]:
    """Run ``command`` (a server) in ``cwd`` until it listens on ``port`` of 127.0.0.1; yield it; stop it and
    everything it started. ``folder`` holds the student's files, which the messages name; ``env`` is added to
    this process's environment."""
    from course_api.system.processes import start_process

    timeout = timeout or START_SECONDS
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    handle, name = tempfile.mkstemp(prefix="course-api-app-", suffix=".log")
    log = Path(name)
    with os.fdopen(handle, "wb") as output:
        process = start_process(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_listening(process, port, folder, log, timeout)
        yield StudentApp(f"http://127.0.0.1:{port}", log)
    finally:
        _stop(process)
        with contextlib.suppress(OSError):
            log.unlink()


def _wait_until_listening(process: subprocess.Popen, port: int, folder: Path, log: Path, timeout: float) -> None:
    from course_api.system.ports import is_listening

    deadline = time.monotonic() + timeout
    while not is_listening(port, timeout=0.2):
        if process.poll() is not None:
            fail(start_failure(log.read_text(encoding="utf-8", errors="replace"), folder))
        if time.monotonic() > deadline:
            fail(hang(log.read_text(encoding="utf-8", errors="replace"), folder, timeout))
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    """Stop the app's process and every process it started."""
    children: list[Any] = []
    with contextlib.suppress(Exception):
        import psutil

        children = psutil.Process(process.pid).children(recursive=True)
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    for child in children:
        with contextlib.suppress(Exception):
            child.kill()


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def start_failure(output: str, folder: Path) -> str:
    """Why the app stopped at start-up, from uvicorn's output: the student's file and line, the error, and what
    it usually means."""
    module = f"{folder.name}.main"
    found = _NO_ATTRIBUTE.search(output)
    if found:
        return (
            f"{folder.name}/main.py has no `{found['name']}`: uvicorn starts the object named `{found['name']}` in it. "
            f"Name your FastAPI application {found['name']} (`{found['name']} = FastAPI()`), write the file again, "
            "then run the check."
        )
    if _NOT_IMPORTED.search(output):
        return (
            f"uvicorn could not find the module {module}: it looks for {folder.name}/main.py next to this "
            f"worksheet. Write the file there (%%writefile {folder.name}/main.py), then run the check."
        )
    note = "It happened in the lifespan handler, before the first request."
    in_lifespan = "startup failed" in output.lower() or "lifespan" in output.lower()
    return _explained(
        output,
        folder,
        "Your app stopped while it started, with {error}",
        note if in_lifespan else "",
        f"What uvicorn printed:\n{_tail(output)}",
    )


def server_error(output: str, folder: Path, request: str) -> str:
    """Why ``request`` got a 500, from what the app printed: the error, the student's line, what it means."""
    first = f"{request} answered 500 Internal Server Error: your code raised {{error}}"
    return _explained(output, folder, first, "", "Read the error, fix that line, then check again.")


def _explained(output: str, folder: Path, first: str, note: str, otherwise: str) -> str:
    """``first`` (with the error's "Type: message" for {error}), the student's line, ``note``, and what the error
    usually means (or ``otherwise``), from a traceback in ``output``."""
    error = _last_error(output)
    where = _last_student_frame(output, folder)
    lines = [
        first.replace("{error}", error or "an error"),
        *([f"  in {where}"] if where else []),
        *([note] if note else []),
    ]
    names, text = _error_names(error)
    meaning = _file_advice(names, text) or advice_for(names, text)
    lines.append(f"That usually means: {meaning}" if meaning else otherwise)
    return "\n".join(lines)


def hang(output: str, folder: Path, timeout: float) -> str:
    """Why the app may not have started listening within ``timeout`` seconds."""
    source = "\n".join(
        path.read_text(encoding="utf-8", errors="replace") for path in sorted(folder.rglob("*.py")) if path.is_file()
    )
    if re.search(r"^uvicorn\.run\(", source, re.MULTILINE):
        cause = (
            f"{folder.name}/main.py calls uvicorn.run(...) when it is imported, so it starts a second server that "
            "never returns. Remove that line: uvicorn (or fastapi dev) imports the file and serves `app` itself."
        )
    else:
        cause = (
            "Something at start-up never finishes: a lifespan handler that never reaches `yield` (or waits "
            "forever before it), a loop or a long wait when the file is imported, or a very large file loaded."
        )
    printed = _tail(output)
    return f"Your app did not start answering within {timeout:g} s, so it was stopped. {cause}" + (
        f"\nWhat it printed:\n{printed}" if printed.strip() else ""
    )


def _last_error(output: str) -> str:
    """The last "SomeError: message" line of a traceback in ``output``."""
    lines = [line.strip().lstrip("|+").strip() for line in output.splitlines()]  # exception groups indent with |
    errors = [line for line in lines if _ERROR.match(line)]
    return errors[-1] if errors else ""


def _error_names(error: str) -> tuple[set[str], str]:
    found = _ERROR.match(error)
    if not found:
        return set(), error
    name = found["type"].rsplit(".", 1)[-1]
    return {name, "Exception"}, f"{name}: {found['message'] or ''}"


def _file_advice(names: set[str], text: str) -> str:
    for name, pattern, meaning in FILE_ADVICE:
        if (not name or name in names) and re.search(pattern, text):
            return meaning
    return ""


def _last_student_frame(output: str, folder: Path) -> str:
    """ "my_api/main.py, line 7: <the line>" for the last frame of the traceback in the project's files."""
    root = folder.resolve()
    lines = output.splitlines()
    found = ""
    for index, line in enumerate(lines):
        frame = _FRAME.match(line)
        if not frame:
            continue
        path = Path(frame["file"])
        with contextlib.suppress(OSError, ValueError):
            path.resolve().relative_to(root)
            source = lines[index + 1].strip().lstrip("|").strip() if index + 1 < len(lines) else ""
            shown = f"{_shown(path, folder)}, line {frame['line']}"
            found = f"{shown}: {source}" if source and not _FRAME.match(lines[index + 1]) else shown
    return found
