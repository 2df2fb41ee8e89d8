"""Stop a process when the Python that started it ends, where Linux's ``PR_SET_PDEATHSIG`` does not exist (macOS).

:func:`course_api.system.processes.start_process` runs ``python -I -S watchdog.py PID GROUP`` right after it starts the
process ``PID``, with this script's standard input a pipe whose other end only that Python holds. The operating
system closes that end when the Python ends in any way (a normal exit, a crash, SIGKILL), and reading the pipe
then gives end-of-file: the watchdog sends the process SIGTERM, and SIGKILL if it is still there 5 s later.

The watchdog also ends by itself, killing nothing, once the process has ended and been waited for: its PID could
then be given to another process. Until then the PID cannot be reused, and the process group ``GROUP`` (the one
the process had when it started) guards the check in between.

A plain script: it imports nothing of the package, nor site-packages (``-S``), and starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

POLL_SECONDS = 1.0  # how often the watchdog looks whether the process has ended without it
GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL


def is_there(pid: int, group: int) -> bool:
    """Whether ``pid`` is still the process watched: it exists (perhaps ended, not yet waited for) in ``group``."""
    try:
        return os.getpgid(pid) == group
    except OSError:  # ProcessLookupError: gone and waited for
        return False


def parent_gone(fd: int, timeout: float) -> bool:
    """Whether the other end of the pipe ``fd`` has closed (the starting Python ended); waits up to ``timeout`` s."""
    readable, _, _ = select.select([fd], [], [], timeout)
    return bool(readable) and not os.read(fd, 512)


def stop(pid: int, group: int, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``grace`` seconds."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not is_there(pid, group):
            return
        with contextlib.suppress(OSError):
            os.kill(pid, signum)
        deadline = time.monotonic() + grace
        while is_there(pid, group) and time.monotonic() < deadline:
            time.sleep(0.05)


def watch(pid: int, group: int, fd: int = 0) -> None:
    """Wait until the starting Python ends (then stop ``pid``) or ``pid`` ends (then just return)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Jupyter's "interrupt" signals the kernel's whole process group
    while is_there(pid, group):
        if parent_gone(fd, POLL_SECONDS):
            stop(pid, group)
            return


if __name__ == "__main__":
    watch(int(sys.argv[1]), int(sys.argv[2]))
