"""Windows and macOS in the code: processes tied to the kernel, UTF-8 files, nothing only Linux has.

Where a platform cannot run here its part is mocked: ``sys.platform`` set to "win32" and a fake kernel32 for the
job object (:mod:`course_api.system.winjob`); macOS's watchdog (:mod:`course_api.system.watchdog`) runs for real on
any POSIX system, with ``sys.platform`` set to "darwin" in the Python that starts it.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from course_api.system import processes, winjob
from course_api.workbook.checks import lesson05
from course_api.workbook.checks.registry import CheckFailed
from helpers import ROOT, wait_until

SOURCES = sorted(p for folder in ("course_api", "benchmarks") for p in (ROOT / folder).rglob("*.py"))
POSIX_ONLY_MODULES = ("fcntl", "resource", "termios", "pwd", "grp")


# ------------------------------------------------------------------------------- files: UTF-8, named every time
NOT_TEXT_FILES = {"Image", "os", "tarfile", "zipfile", "gzip", "bz2", "lzma", "webbrowser", "wave", "shelve", "dbm"}
TEMPORARY_FILES = {"NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"}


def _binary(call: ast.Call, position: int) -> bool:
    """Whether the mode of an open()-like ``call`` (keyword, or argument at ``position``) is a binary one."""
    mode = next((k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None and len(call.args) > position:
        mode = call.args[position]
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" in mode.value


def _true(call: ast.Call, *names: str) -> bool:
    return any(k.arg in names and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def _decodes_output(call: ast.Call, name: str) -> bool:
    """Whether a subprocess call turns bytes from or to the child into text (text mode, and a pipe to read)."""
    piped = any(
        k.arg == "input" or (isinstance(k.value, ast.Attribute) and k.value.attr == "PIPE") for k in call.keywords
    )
    return _true(call, "text", "universal_newlines") and (
        name == "check_output" or piped or _true(call, "capture_output")
    )


def _opens_text(call: ast.Call) -> bool:
    """Whether ``call`` reads or writes a text file (or a child's output as text), so must say its encoding."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
    if name in ("read_text", "write_text", "TextIOWrapper"):
        return True
    if name == "open" and owner not in NOT_TEXT_FILES:
        builtin = isinstance(func, ast.Name) or owner in ("io", "codecs")
        return not _binary(call, 1 if builtin else 0)  # open(path, mode); Path.open(mode)
    if name in TEMPORARY_FILES:
        return any(k.arg == "mode" for k in call.keywords) and not _binary(call, 0)
    return name in ("run", "Popen", "check_output") and _decodes_output(call, name)


def test_every_text_file_names_its_encoding():
    """Windows reads and writes text in the locale's code page (cp1252) unless told: every text file, and every
    child's output read as text, names its encoding (UTF-8)."""
    missing = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _opens_text(node):
                keywords = {k.arg for k in node.keywords}
                if "encoding" not in keywords and None not in keywords:  # None: **kwargs, which may carry it
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node.func)}(...)")
    assert not missing, "Add encoding='utf-8' (errors='replace' for other programs' output):\n" + "\n".join(missing)


def test_the_encoding_check_finds_what_it_should():
    found = [
        _opens_text(ast.parse(code).body[0].value)  # type: ignore[attr-defined]
        for code in (
            "open(p)",
            "open(p, 'w')",
            "p.open()",
            "p.read_text()",
            "p.write_text(t)",
            "subprocess.run(a, text=True, capture_output=True)",
            "open(p, 'rb')",
            "p.open('wb')",
            "Image.open(data)",
            "subprocess.run(a, capture_output=True)",
            "subprocess.Popen(a, text=True, stdout=log)",
            "(folder / 'x.log').open('wb')",
        )
    ]
    assert found == [True] * 6 + [False] * 6


def test_nothing_assumes_tmp_or_bash():
    """Temporary files come from :mod:`tempfile` (TEMP on Windows, TMPDIR on macOS); no command needs bash."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}"
        for path in SOURCES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (node.value in ("/tmp", "bash", "/bin/bash", "/dev/null") or node.value.startswith(("/tmp/", "bash ")))
    ]
    assert not found, "\n".join(found)


WITHOUT_POSIX_MODULES = """
import builtins, importlib, json, sys, traceback

BLOCKED = set(sys.argv[1].split(","))
real_import = builtins.__import__


def windows_import(name, globals=None, locals=None, fromlist=(), level=0):
    # Only the package's own imports fail: libraries choose their modules by platform, and this is Linux.
    importer = (globals or {}).get("__name__") or ""
    if level == 0 and name.partition(".")[0] in BLOCKED and importer.partition(".")[0] == "course_api":
        raise ModuleNotFoundError(f"No module named {name!r} (as on Windows)", name=name)
    return real_import(name, globals, locals, fromlist, level)


builtins.__import__ = windows_import
failed = {}
for module in sys.argv[2:]:
    try:
        importlib.import_module(module)
    except BaseException as exc:
        failed[module] = traceback.format_exception_only(type(exc), exc)[-1].strip()
print(json.dumps(failed))
"""


def _modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "course_api").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] != "__main__":  # runs the CLI
            names.append(".".join(parts))
    return names


def import_without(
    missing: str, modules: list[str], cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Import ``modules`` in a fresh Python where the comma-separated ``missing`` modules cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_POSIX_MODULES, missing, *modules],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
        cwd=cwd,
        env={**os.environ, **env},
    )


@pytest.mark.subprocess
def test_every_module_imports_without_posix_only_modules():
    """fcntl, resource, termios, pwd and grp do not exist on Windows: no module of the package needs them to
    import (the grader's sandbox uses fcntl and resource inside functions that run on Linux only)."""
    modules = _modules()
    assert "course_api.workbook.background" in modules
    assert "course_api.workbook.grading.sandbox" in modules
    done = import_without(",".join(POSIX_ONLY_MODULES), modules, ROOT, {"PYTHONIOENCODING": "utf-8"}, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def test_the_import_check_does_fail_on_a_posix_only_module(tmp_path):
    """The check above would see a module-level ``import fcntl`` in the package."""
    package = tmp_path / "course_api"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "locks.py").write_text("import fcntl\n", encoding="utf-8")
    (package / "later.py").write_text("def f():\n    import fcntl\n", encoding="utf-8")
    done = import_without("fcntl", ["course_api.locks", "course_api.later"], tmp_path, {"PYTHONPATH": str(tmp_path)})
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(failed) == ["course_api.locks"], done.stderr
    assert "as on Windows" in failed["course_api.locks"]


# ----------------------------------------------------------------------------- Windows: one job object, faked
class FakeKernel32:
    """The kernel32 functions winjob calls, recording what they were asked; ``fail`` names those that fail."""

    def __init__(self, *fail: str) -> None:
        self.fail = set(fail)
        self.jobs: dict[int, int] = {}  # job handle -> its LimitFlags
        self.assigned: list[tuple[int, int]] = []  # (job, process handle)
        self.opened: dict[int, int] = {}  # process handle -> pid
        self.closed: list[int] = []
        self._next = 0x100

    def _handle(self) -> int:
        self._next += 4
        return self._next

    def CreateJobObjectW(self, attributes, name):
        assert attributes is None, "the job's handle must not be inheritable: no child may keep the job open"
        assert name is None
        if "CreateJobObjectW" in self.fail:
            return None
        job = self._handle()
        self.jobs[job] = 0
        return job

    def SetInformationJobObject(self, job, info_class, info, size):
        assert info_class == winjob.JOB_OBJECT_EXTENDED_LIMIT_INFORMATION == 9
        assert size == ctypes.sizeof(winjob.JOBOBJECT_EXTENDED_LIMIT_INFORMATION)
        if "SetInformationJobObject" in self.fail:
            return 0
        self.jobs[job] = info.contents.BasicLimitInformation.LimitFlags
        return 1

    def OpenProcess(self, access, inherit, pid):
        assert access == winjob.PROCESS_SET_QUOTA | winjob.PROCESS_TERMINATE
        assert not inherit
        handle = self._handle()
        self.opened[handle] = pid
        return handle

    def AssignProcessToJobObject(self, job, process):
        assert job in self.jobs
        if "AssignProcessToJobObject" in self.fail:
            return 0
        self.assigned.append((job, process))
        return 1

    def CloseHandle(self, handle):
        self.closed.append(handle)
        return 1


@pytest.fixture
def windows(monkeypatch):
    """``sys.platform`` is "win32", kernel32 a fake, no job made yet; what start_process starts is killed after."""
    fake = FakeKernel32()
    monkeypatch.setattr(winjob, "_kernel32", lambda: fake)
    monkeypatch.setattr(winjob, "_state", winjob._State())
    monkeypatch.setattr(processes, "_processes", [])
    monkeypatch.setattr(sys, "platform", "win32")
    yield fake
    started = processes._processes
    monkeypatch.undo()  # sys.platform first: the clean-up below is plain Linux again
    for process in started:
        process.kill()
        process.wait(timeout=10)


def sleeper() -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(60)"]


def test_windows_processes_go_in_one_job_that_kills_on_close(windows):
    first = processes.start_process(sleeper())
    second = processes.start_process(sleeper())
    [(job, flags)] = windows.jobs.items()  # one job, made once, reused
    assert flags == winjob.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE == 0x2000
    assert [windows.opened[handle] for _, handle in windows.assigned] == [first.pid, second.pid]
    assert {j for j, _ in windows.assigned} == {job}
    assert sorted(windows.closed) == sorted(windows.opened)  # the process handles it opened, never the job's
    assert job not in windows.closed
    assert processes._processes == [first, second]  # atexit stops them at a normal exit too
    assert "job object" in processes.process_tie()
    assert "atexit" not in processes.process_tie()


def test_windows_uses_popens_own_process_handle(windows):
    process = SimpleNamespace(pid=4242, _handle=0x7F0, poll=lambda: None)
    assert winjob.assign(process)
    assert windows.assigned == [(winjob._state.job, 0x7F0)]
    assert windows.opened == {}
    assert windows.closed == []  # Popen closes its own handle


@pytest.mark.parametrize("failing", ["CreateJobObjectW", "SetInformationJobObject", "AssignProcessToJobObject"])
def test_windows_falls_back_to_atexit_when_there_is_no_job(windows, failing):
    windows.fail.add(failing)
    process = processes.start_process(sleeper())  # no exception
    assert process.poll() is None
    assert processes._processes == [process]  # still stopped at a normal exit
    assert windows.assigned == []
    tie = processes.process_tie()
    assert tie.startswith("stopped when this Python exits normally (atexit) only")
    assert f"{failing} failed" in tie
    assert f"{failing} failed" in (winjob.join_failure() or "")
    if failing == "SetInformationJobObject":
        assert windows.closed == list(windows.jobs)  # a job without the limit is closed at once, never used
    windows.fail.clear()
    processes.start_process(sleeper())  # a later start that works clears the reason
    assert len(windows.assigned) == 1
    assert winjob.join_failure() is None
    assert "atexit" not in processes.process_tie()


def test_windows_a_process_that_already_ended_is_no_problem(windows):
    windows.fail.add("AssignProcessToJobObject")
    assert not winjob.assign(SimpleNamespace(pid=4242, _handle=0x7F0, poll=lambda: 0))
    assert winjob.join_failure() is None


def test_winjob_never_raises_where_kernel32_is_missing(monkeypatch):
    """On Linux the real kernel32 cannot load: that is a reason, not an exception."""
    monkeypatch.setattr(winjob, "_state", winjob._State())
    assert not winjob.assign(SimpleNamespace(pid=1, _handle=None, poll=lambda: None))
    assert (winjob.join_failure() or "").startswith("not in a job object: ")


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="the layout of 64-bit Windows")
def test_the_job_limit_structure_has_windows_layout():
    limits = winjob.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
    assert ctypes.sizeof(limits) == 144  # sizeof(JOBOBJECT_EXTENDED_LIMIT_INFORMATION) on x64
    assert ctypes.sizeof(winjob.JOBOBJECT_BASIC_LIMIT_INFORMATION) == 64
    assert winjob.JOBOBJECT_BASIC_LIMIT_INFORMATION.LimitFlags.offset == 16
    assert limits.ProcessMemoryLimit.offset == 112


# --------------------------------------------------------- Linux for real, and macOS's watchdog on any POSIX
PARENT = """
import sys, time
from course_api.system import processes
sys.platform = sys.argv[1]  # "darwin": the watchdog instead of Linux's PR_SET_PDEATHSIG
child = processes.start_process([sys.executable, "-c", "import time; time.sleep(120)"])
watchdogs = [w.pid for w in processes._watchdogs]
print(child.pid, *watchdogs, "|", processes.process_tie(), flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.subprocess
@pytest.mark.skipif(not hasattr(os, "getpgid"), reason="POSIX")
@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_a_started_process_ends_when_its_python_is_killed(platform):
    if platform == "linux" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, platform], stdout=subprocess.PIPE, text=True, encoding="utf-8", cwd=ROOT
    )
    pids: list[int] = []
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        numbers, _, tie = line.partition("|")
        pids = [int(n) for n in numbers.split()]
        assert tie.strip().startswith("stopped when this Python ends in any way"), line
        assert len(pids) == (2 if platform == "darwin" else 1), line  # the process, and its watchdog on macOS
        time.sleep(0.5)
        assert not _gone(pids[0])
        os.kill(parent.pid, signal.SIGKILL)  # no atexit, no finally: only the operating system or the watchdog
        parent.wait(timeout=10)
        assert wait_until(lambda: _gone(pids[0]), timeout=20), f"the process outlived its Python ({platform})"
    finally:
        parent.kill()
        parent.wait(timeout=10)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not hasattr(os, "getpgid"), reason="POSIX")
def test_the_watchdog_ends_by_itself_when_its_process_ends(monkeypatch):
    monkeypatch.setattr(processes, "_processes", [])
    monkeypatch.setattr(processes, "_watchdogs", [])
    monkeypatch.setattr(sys, "platform", "darwin")
    process = processes.start_process([sys.executable, "-c", "import time; time.sleep(0.5)"])
    watchdogs = processes._watchdogs
    monkeypatch.undo()
    [watchdog] = watchdogs
    process.wait(timeout=30)
    assert watchdog.wait(timeout=30) == 0  # within a second or two of the process being waited for


# ------------------------------------------------------------------------ lesson 05's health check on Windows
def test_a_shell_form_health_check_runs_without_a_shell():
    command = "python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:1/', timeout=2)\" || exit 1"
    assert lesson05._shell_words(command) == [
        "python",
        "-c",
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:1/', timeout=2)",
    ]
    with pytest.raises(CheckFailed, match="exec form"):
        lesson05._shell_words("python -c 'import sys' && echo $HOME")


def test_on_windows_python_in_a_health_check_is_this_python(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "name", "nt")
    args = lesson05._healthcheck_args(["python3", "-c", "pass"], "", str(tmp_path))
    shell = lesson05._healthcheck_args(None, 'python -c "pass" || exit 1', str(tmp_path))
    monkeypatch.undo()
    assert args == shell == [sys.executable, "-c", "pass"]
    assert list(tmp_path.iterdir()) == []  # no symbolic links: Windows lets only administrators make them


def test_committed_files_are_written_with_unix_line_endings():
    """exercises/ and the model card are compared byte for byte and committed: "\\n" even on Windows."""
    for path in (ROOT / "course_api" / "workbook" / "exercises.py", ROOT / "course_api" / "server" / "training.py"):
        text = path.read_text(encoding="utf-8")
        assert 'encoding="utf-8", newline="\\n")' in text, path.name


def test_the_watchdog_script_stands_alone():
    """It runs as ``python -I -S watchdog.py``: the standard library only, nothing of the package."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / "course_api" / "system" / "watchdog.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").partition(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


# ------------------------------------------------------------------------- shell cells on Linux, macOS and Windows
POSIX_ONLY = re.compile(r"\||\$\?|\$\w|;|&&|'|\bexport\b|/dev/null|\\$|\bgrep\b|\becho\b")


@pytest.mark.parametrize(
    "path",
    [
        *sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")),
        *sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")),
    ],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_shell_lines_run_in_sh_and_in_cmd(path):
    """A `!` line runs /bin/sh on Linux and macOS, cmd.exe on Windows: only what both read the same (one command,
    double quotes, no pipes, variables or `;`). Where shells differ, the notebook uses Python."""
    import nbformat

    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        if cell.source.lstrip().startswith(("%%bash", "%%sh", "%%script")):
            found.append(cell.source.splitlines()[0])
        for line in cell.source.splitlines():
            shell = line.strip()[1:] if line.strip().startswith("!") else ""
            if shell and POSIX_ONLY.search(re.sub(r"\{[^}]*\}", "", shell)):
                found.append(line.strip())
    assert not found, found


def test_the_shell_rule_catches_what_cmd_reads_otherwise():
    for line in ("curl -s x | grep -o y", "curl x; echo $?", "curl -d '{\"a\": 1}' x", "export A=1", "curl x && ls"):
        assert POSIX_ONLY.search(line), line
    assert not POSIX_ONLY.search('curl -s -w "\\n" -d "@payload.json" http://127.0.0.1:8000/predict/text')
