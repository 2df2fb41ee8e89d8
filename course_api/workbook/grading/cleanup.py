"""Leave nothing behind: the processes a graded kernel started, and its temporary folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def marked_processes(variable: str, value: str) -> list[Any]:
    """Every process whose environment has ``variable=value`` (the kernel and all it started, daemons too)."""
    import psutil

    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process.pid != os.getpid() and process.environ().get(variable) == value:
                found.append(process)
    return found


def kill_marked(variable: str, value: str, attempts: int = 3) -> int:
    """Kill the processes :func:`marked_processes` finds; how many there were."""
    import psutil

    killed = 0
    for _ in range(attempts):
        processes = marked_processes(variable, value)
        if not processes:
            break
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.kill()
        killed += len(processes)
        psutil.wait_procs(processes, timeout=3)
    return killed


def _writable(func: Callable[..., Any], path: str, _: Any) -> None:
    with contextlib.suppress(OSError):
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        os.chmod(path, stat.S_IRWXU)
    with contextlib.suppress(FileNotFoundError):
        func(path)


def remove_tree(path: Path) -> None:
    """Remove ``path`` even when the notebook made files read-only; a second try for slow-to-close files."""
    for _ in range(3):
        if not path.exists():
            return
        with contextlib.suppress(OSError):
            if sys.version_info >= (3, 12):
                shutil.rmtree(path, onexc=_writable)
            else:
                shutil.rmtree(path, onerror=_writable)
        if path.exists():
            time.sleep(0.5)
