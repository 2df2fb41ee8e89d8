"""The course server as its own process (``course-api serve`` on 127.0.0.1), for tests that measure it from
outside: its memory (``/proc/<pid>/status``), its sockets, what it does under load.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import httpx2

BIN = Path(sys.executable).parent


def course_api(*args: str) -> list[str]:
    exe = BIN / "course-api"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "course_api", *args]


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the peak so far) of a Linux process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


@contextmanager
def course_server(port: int, env: Mapping[str, str] | None = None, timeout: float = 60) -> Iterator[tuple[str, subprocess.Popen]]:
    """``course-api serve`` on 127.0.0.1:port (CPU, no access log); yields (base URL, process) once it answers,
    and stops it (SIGTERM, then SIGKILL) afterwards."""
    environ = {**os.environ, "COURSE_API_DEVICE": "cpu", **(env or {})}
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a pipe nobody reads would block the server
    process = subprocess.Popen(
        course_api("serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"),
        stdout=log, stderr=subprocess.STDOUT, text=True, env=environ, start_new_session=True,
    )
    process.log = log  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server exited with {process.returncode}:\n{server_log(process)}")
            try:
                if httpx2.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer from {url} within {timeout} s")
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def server_log(process: subprocess.Popen) -> str:
    """What a server from :func:`course_server` has printed so far."""
    log = process.log  # type: ignore[attr-defined]
    log.flush()
    log.seek(0)
    return log.read()
