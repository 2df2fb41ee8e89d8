"""Child processes tied to this Python: a server that a notebook starts in another process never outlives the
notebook's kernel (Linux: prctl(PR_SET_PDEATHSIG); Windows: a job object; macOS: a watchdog process)."""

from __future__ import annotations

import atexit
import functools
import os
import signal
import subprocess
import sys
from typing import Any

from course_api.system import watchdog, winjob

__all__ = ["process_tie", "start_process"]

_processes: list[subprocess.Popen] = []
_watchdogs: list[subprocess.Popen] = []  # macOS: one per started process; kept, or their pipes would close
_tie_problems: dict[str, str] = {}  # macOS: why the last process has no watchdog
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def start_process(command: list[str], **popen_kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen(command, **popen_kwargs)`` for a server that a notebook starts in another process,
    tied to this Python so that it never outlives the notebook's kernel:

    * when Python exits normally (the kernel shuts down or restarts), the process is terminated (:mod:`atexit`);
    * also when this Python dies any other way, even killed (SIGKILL, a crash, Task Manager's "End task"):

      - Linux: the operating system sends the process SIGTERM (``prctl(PR_SET_PDEATHSIG)``, set in the child
        before it runs ``command``);
      - Windows: the process is put in a job object that this Python holds open, made with
        ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE``: Windows kills it, and every process it started, when this Python's
        handles close (:mod:`course_api.system.winjob`). A process that starts others in its first microseconds,
        before it joins the job, may leave those behind;
      - macOS (and other systems): a small watchdog process (:mod:`course_api.system.watchdog`) sends the process
        SIGTERM within moments of this Python ending. Besides, the process stays in the kernel's process group, and
        Jupyter signals that whole group when it shuts down, restarts or kills a kernel.

    Where the tie cannot be made (Windows: a job cannot be made or joined), only the first point holds and no
    error is raised; :func:`process_tie` says how processes are tied here, and why not.
    Stop it yourself as usual: ``process.terminate()`` then ``process.communicate(timeout=10)``.
    """
    if sys.platform.startswith("linux") and "preexec_fn" not in popen_kwargs:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, so the child only makes the call
        popen_kwargs["preexec_fn"] = functools.partial(prctl, PR_SET_PDEATHSIG, int(signal.SIGTERM))
    process = subprocess.Popen(command, **popen_kwargs)
    _processes.append(process)
    if sys.platform == "win32":
        winjob.assign(process)  # when it cannot, atexit alone stops the process; process_tie() says why
    elif not sys.platform.startswith("linux"):
        _start_watchdog(process)
    return process


def _start_watchdog(process: subprocess.Popen) -> None:
    """A watchdog (:mod:`course_api.system.watchdog`) that stops ``process`` when this Python ends, in any way."""
    _watchdogs[:] = [w for w in _watchdogs if w.poll() is None]  # those whose process ended have ended too
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        return  # it has already ended (and was waited for): nothing to watch
    try:
        command = [sys.executable, "-I", "-S", watchdog.__file__, str(process.pid), str(group)]
        _watchdogs.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL))
    except (OSError, ValueError) as exc:
        _tie_problems["watchdog"] = f"no watchdog process: {exc}"
    else:
        _tie_problems.pop("watchdog", None)


def process_tie() -> str:
    """How :func:`start_process` ties a process to this Python here, in words (for ``course-api doctor``)."""
    at_exit = "stopped when this Python exits normally (atexit) only"
    if sys.platform.startswith("linux"):
        return "stopped when this Python ends in any way (Linux: prctl(PR_SET_PDEATHSIG) sends it SIGTERM)"
    if sys.platform == "win32":
        try:
            winjob.job()
        except Exception as exc:  # any reason the job cannot be made: say it, never raise
            return f"{at_exit}: no job object: {exc}"
        if winjob.join_failure():
            return f"{at_exit}: {winjob.join_failure()}"
        return "stopped when this Python ends in any way (Windows: a job object that kills on close)"
    if "watchdog" in _tie_problems:
        return f"{at_exit}: {_tie_problems['watchdog']}"
    return "stopped when this Python ends in any way (a watchdog process sends it SIGTERM)"


@atexit.register
def _terminate_processes() -> None:
    for process in _processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
