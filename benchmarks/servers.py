"""Server processes for the benchmark: started on 127.0.0.1 and a free port, each in its own process group,
always stopped (SIGTERM to the group, then SIGKILL), and plain HTTP requests to them with the stdlib."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from course_api.system.ports import LOOPBACK, free_port

ROOT = Path(__file__).resolve().parent.parent


class ServerError(RuntimeError):
    """A server that exited, or did not answer in time."""


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, bytes]:
    """One HTTP request to 127.0.0.1:port; returns (status, body). Connection errors propagate (OSError)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


STARTED = "Application startup complete."  # uvicorn's log line (level info) when a worker's lifespan has started


def course_server_command(port: int, device: str | None = None, workers: int = 1) -> list[str]:
    """``course-api serve`` on 127.0.0.1:port, as a student starts it, without per-request access logs. With
    several workers the log level is info (still no access log), so that each worker's :data:`STARTED` line
    shows when it is ready."""
    script = Path(sys.executable).with_name("course-api")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "course_api"]
    argv += ["serve", "--host", LOOPBACK, "--port", str(port)]
    argv += ["--log-level", "warning"] if workers == 1 else ["--workers", str(workers), "--log-level", "info"]
    argv += ["--no-access-log"]
    if device:
        argv += ["--device", device]
    return argv


def app_server_command(app: str, port: int) -> list[str]:
    """A baseline app (``benchmarks/naive_app.py``, ``benchmarks/plain_app.py``) under plain uvicorn."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def naive_server_command(port: int) -> list[str]:
    """The naive baseline (``benchmarks/naive_app.py``) under plain uvicorn, with the same logging."""
    return app_server_command("benchmarks.naive_app:app", port)


def plain_server_command(port: int) -> list[str]:
    """The plain peer (``benchmarks/plain_app.py``) under plain uvicorn, with the same logging."""
    return app_server_command("benchmarks.plain_app:app", port)


class ServerProcess:
    """A server in its own process (and process group) with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path,
        cpus: set[int] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_path
        self.cpus = cpus
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    # -- lifecycle
    def start(self) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cpus = self.cpus
        # A log file, not a pipe: a pipe nobody reads would block the server.
        with open(self.log_path, "ab") as log:
            self.started_at = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,  # noqa: PLW1509 (affinity only)
            )
        return self

    def wait_ready(self, timeout: float = 120, workers: int = 1) -> float:
        """Wait until GET / answers 200 and, with several workers, every one of them has logged :data:`STARTED`
        (the first to start answers GET / while the others still load); returns the seconds since start.
        Raises ServerError."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError):
                status, _ = request(self.port, "GET", "/", timeout=5)
                if status == 200 and (workers == 1 or self.log_count(STARTED) >= workers):
                    return time.perf_counter() - self.started_at
            time.sleep(0.02)
        raise ServerError(f"{self.name} did not answer GET / within {timeout:.0f} s.\n{self.log_tail()}")

    def log_count(self, line: str) -> int:
        """How many times ``line`` appears in the server's log so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace").count(line)
        except OSError:
            return 0

    def check_alive(self) -> None:
        if self.proc is None:
            raise ServerError(f"{self.name} was not started")
        code = self.proc.poll()
        if code is not None:
            raise ServerError(f"{self.name} exited with status {code}.\n{self.log_tail()}")

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM to the process group, then SIGKILL if it is still there after ``timeout`` seconds."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        # Whatever else is left in the group (none expected: a supervisor stops its workers before it exits).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- measuring
    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the server's process group, from /proc: the server process (all its
        threads) and, under ``--workers``, its worker processes."""
        if self.proc is None:
            return 0.0
        ticks = [group_ticks(path, self.proc.pid) for path in Path("/proc").glob("[0-9]*/stat")]
        if not any(t is not None for t in ticks):
            return float("nan")
        return sum(t for t in ticks if t is not None) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return f"Last lines of {self.log_path}:\n" + "\n".join(text.strip().splitlines()[-lines:])


def group_ticks(stat: Path, group: int) -> int | None:
    """utime + stime (clock ticks) of the process whose ``/proc/PID/stat`` is ``stat``, if it is in the process
    group ``group``; None otherwise (or when it has gone)."""
    try:
        fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if int(fields[2]) != group:  # fields[2] is the process group, [11] and [12] utime and stime
        return None
    return int(fields[11]) + int(fields[12])


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (the peak so far) of a Linux process, in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


class CourseServer(ServerProcess):
    """``course-api serve`` on 127.0.0.1 and a free port, started and answering when the constructor returns:
    ``with CourseServer(queue_limit=8) as server: ... server.url, server.pid``."""

    def __init__(self, *, device: str = "cpu", queue_limit: int | None = None, timeout: float = 90) -> None:
        port = free_port()
        environ = {**os.environ, "COURSE_API_DEVICE": device}
        if queue_limit is not None:
            environ["COURSE_API_QUEUE_LIMIT"] = str(queue_limit)
        log_path = ROOT / "benchmarks" / "results" / f"course-server-{port}.log"
        super().__init__("course server", course_server_command(port), port, env=environ, log_path=log_path)
        self.url = f"http://{LOOPBACK}:{port}"
        self.start()
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        self.check_alive()
        return self.proc.pid  # type: ignore[union-attr]

    def __enter__(self) -> CourseServer:
        return self  # already started

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)
