"""What one student's session costs: memory and server start time, for a class JupyterHub's limits.

    .venv/bin/python -m benchmarks.session_memory            # about 2 minutes on a 2-core laptop
    .venv/bin/python -m benchmarks.session_memory --notebooks 00 01 --starts 0

A student works through notebooks 00 to 06 in one session, so this runs them the same way: the code cells of
every walkthrough, in order, in ONE ``course-api`` kernel (through jupyter_client, no JupyterLab), with the
kernel's working folder a copy of ``notebooks/`` (the notebooks write files next to themselves; a copy keeps
this run from touching files that a test run may be using). Servers stop only where the notebooks stop them.
Every 0.2 s a thread samples the resident memory (RSS) of the kernel process and of every process it started
(uvicorn, locust, a shell for ``!curl``): the peak of that sum per notebook and over the session, and the peak of
the kernel alone. RSS counts memory that processes share once per process, so the sum errs on the high side.

Then it starts the single-user server three times as JupyterHub would (``jupyterhub-singleuser``, with a
stand-in hub API on 127.0.0.1), and ``jupyter lab`` three times, each timed from the start of the process to the
first answer of its ``/api`` route. Each is then used as JupyterLab uses it (the page, the notebooks opened, a
``course-api`` kernel started and connected), and the server's own RSS recorded. A session needs that server plus
the kernel and its processes: the recommendation is that sum, rounded up to 128 MiB (``memory.guarantee``), and
1.25 times it, rounded up to 128 MiB (``memory.limit``), in Zero to JupyterHub's notation (``M`` is MiB there).

Results go to ``benchmarks/results/session_memory.json`` (and ``--json PATH``); docs/CLASSROOM.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat
import psutil
from jupyter_client.manager import KernelManager

from course_api.system.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "benchmarks" / "results" / "session_memory.json"
BIN = Path(sys.executable).parent
KERNEL = "course-api"
MIB = 1024 * 1024
STEP_MIB = 128  # limits are rounded up to a multiple of this
HEADROOM = 1.25  # memory.limit = peak x HEADROOM
SESSION = "session"
TOKEN = "session-memory-benchmark"
USER = "student"
SCOPE = f"access:servers!user={USER}"
ALLOW_ROOT = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []  # in a container, as root


def mib(n_bytes: float) -> float:
    return n_bytes / MIB


def round_up(value_mib: float, step: int = STEP_MIB) -> int:
    """``value_mib`` rounded up to a multiple of ``step`` MiB."""
    return max(step, math.ceil(value_mib / step) * step)


def recommend(peak_mib: float, headroom: float = HEADROOM) -> dict[str, str]:
    """Z2JH's ``memory.guarantee`` and ``memory.limit`` for a session whose peak is ``peak_mib``."""
    return {"guarantee": f"{round_up(peak_mib)}M", "limit": f"{round_up(peak_mib * headroom)}M"}


# ------------------------------------------------------------------------------------------------ sampling
def tree_memory(process: psutil.Process) -> tuple[int, int, int]:
    """(RSS of ``process`` alone, summed RSS and summed PSS of it and every process below it), in bytes.

    PSS shares each page among the processes that map it, so the PSS sum counts a page once, as the container's
    memory limit does; the RSS sum counts the pages of a freshly forked child (``!curl``) twice.
    """
    memory = process.memory_full_info()
    own, total, pss = memory.rss, memory.rss, memory.pss
    for child in process.children(recursive=True):
        try:
            memory = child.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # it ended between the listing and the reading
        total += memory.rss
        pss += memory.pss
    return own, total, pss


@dataclass
class Peak:
    total: int = 0  # RSS of kernel + children, bytes
    kernel: int = 0  # RSS of the kernel alone, bytes
    pss: int = 0  # PSS of kernel + children, bytes
    last_total: int = 0
    samples: int = 0

    def add(self, kernel: int, total: int, pss: int) -> None:
        self.total = max(self.total, total)
        self.kernel = max(self.kernel, kernel)
        self.pss = max(self.pss, pss)
        self.last_total = total
        self.samples += 1


class Sampler(threading.Thread):
    """Samples a process tree's RSS every ``interval`` seconds; the peaks go under the current ``label``."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.process = psutil.Process(pid)
        self.interval = interval
        self.label = "start"
        self.peaks: dict[str, Peak] = {SESSION: Peak()}
        self._lock = threading.Lock()
        self._done = threading.Event()

    def sample(self) -> None:
        try:
            sample = tree_memory(self.process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return
        with self._lock:
            self.peaks.setdefault(self.label, Peak()).add(*sample)
            self.peaks[SESSION].add(*sample)

    def switch(self, label: str) -> None:
        self.sample()  # the end of the previous label
        with self._lock:
            self.label = label
        self.sample()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._done.set()
        self.join()
        self.sample()


# ------------------------------------------------------------------------------------------------ notebooks
class CellFailed(RuntimeError):
    pass


@dataclass
class NotebookRun:
    notebook: str
    cells: int
    seconds: float
    peak_mib: float  # RSS, kernel + children
    peak_kernel_mib: float  # RSS, the kernel alone
    peak_pss_mib: float  # PSS, kernel + children
    end_mib: float  # RSS, kernel + children when the notebook's last cell has run


def code_cells(path: Path) -> list[tuple[int, str, list[str]]]:
    """(index, source, tags) of the notebook's non-empty code cells, in order."""
    notebook = nbformat.read(path, as_version=4)
    return [
        (index, cell.source, list(cell.get("metadata", {}).get("tags", [])))
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and cell.source.strip()
    ]


def execute(client: Any, source: str, timeout: float) -> dict[str, Any]:
    """Run one cell in the kernel and return its execute_reply content (outputs are not kept)."""
    reply = client.execute_interactive(source, timeout=timeout, output_hook=lambda msg: None, allow_stdin=False)
    content: dict[str, Any] = reply["content"]
    return content


def run_notebook(client: Any, path: Path, timeout: float) -> int:
    """Execute the notebook's code cells in the kernel, as a student would; raise at the first unexpected error."""
    cells = code_cells(path)
    for index, source, tags in cells:
        content = execute(client, source, timeout)
        if content["status"] != "ok" and "raises-exception" not in tags:
            raise CellFailed(f"{path.name}, cell {index}: {content.get('ename')}: {content.get('evalue')}")
    return len(cells)


@contextmanager
def course_kernel(cwd: Path) -> Iterator[tuple[KernelManager, Any]]:
    """A ``course-api`` kernel started in ``cwd`` and a blocking client connected to it."""
    manager = KernelManager(kernel_name=KERNEL, transport_encryption="auto")  # as the course's server config
    manager.start_kernel(cwd=str(cwd))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)


def kernel_pid(manager: KernelManager) -> int:
    pid = getattr(manager.provisioner, "pid", None)
    if pid is None:
        raise RuntimeError("no process id for the kernel: is it a local kernel?")
    return int(pid)


def run_session(names: Sequence[str], interval: float, timeout: float) -> tuple[list[NotebookRun], Sampler, str]:
    """Run the notebooks one after another in one kernel, in a copy of ``notebooks/``; the runs and the sampler."""
    paths = [next(NOTEBOOKS.glob(f"{name}_*.ipynb")) for name in names]
    runs = []
    with tempfile.TemporaryDirectory(prefix="course-session-") as tmp:
        workdir = Path(tmp) / "notebooks"
        workdir.mkdir()
        for path in paths:
            shutil.copy(path, workdir / path.name)
        with course_kernel(workdir) as (manager, client):
            sampler = Sampler(kernel_pid(manager), interval)
            sampler.switch("idle kernel")
            sampler.start()
            time.sleep(1)
            for path in paths:
                sampler.switch(path.stem)
                started = time.perf_counter()
                cells = run_notebook(client, workdir / path.name, timeout)
                seconds = time.perf_counter() - started
                sampler.switch("between")
                peak = sampler.peaks[path.stem]
                peaks = mib(peak.total), mib(peak.kernel), mib(peak.pss), mib(peak.last_total)
                runs.append(NotebookRun(path.stem, cells, seconds, *peaks))
            device = kernel_device(client, timeout)
            sampler.stop()
    return runs, sampler, device


def kernel_device(client: Any, timeout: float) -> str:
    """The device the course picks in this kernel (what ``device=None`` chose in the notebooks)."""
    expression = "str(__import__('course_api.server.device').server.device.resolve_device(None).device)"
    reply = client.execute_interactive("", user_expressions={"device": expression}, timeout=timeout)
    result = reply["content"]["user_expressions"]["device"]
    return str(result.get("data", {}).get("text/plain", "?")).strip("'")


# ------------------------------------------------------------------------------------------------ server start
class _FakeHub(BaseHTTPRequestHandler):
    """Just enough of a hub's API for jupyterhub-singleuser: its version (checked at start-up) and who holds the
    token (``GET /hub/api/user``, asked when a request carries one)."""

    def do_GET(self) -> None:
        version = importlib.metadata.version("jupyterhub")
        if self.path.rstrip("/").endswith("/user"):
            model = {"kind": "user", "name": USER, "admin": False, "groups": [], "scopes": [SCOPE]}
        else:
            model = {"version": version}
        body = json.dumps(model).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-JupyterHub-Version", version)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def fake_hub() -> Iterator[str]:
    hub = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    thread = threading.Thread(target=hub.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{hub.server_address[1]}/hub/api"
    finally:
        hub.shutdown()
        hub.server_close()


def singleuser_command(port: int, home: Path, hub_api: str) -> tuple[list[str], dict[str, str], str]:
    """The command and variables of a hub's spawner (here for user ``student``), and the server's base URL."""
    prefix = f"/user/{USER}/"
    env = {
        "JUPYTERHUB_API_TOKEN": TOKEN,
        "JUPYTERHUB_API_URL": hub_api,
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_SERVICE_PREFIX": prefix,
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}{prefix}",
        "JUPYTERHUB_USER": USER,
        "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{USER}",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps([SCOPE]),
    }
    return [str(BIN / "jupyterhub-singleuser"), *ALLOW_ROOT], env, f"http://127.0.0.1:{port}{prefix}"


def lab_command(port: int, home: Path, hub_api: str) -> tuple[list[str], dict[str, str], str]:
    command = [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
    command += [f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={home}", *ALLOW_ROOT]
    return command, {}, f"http://127.0.0.1:{port}/"


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    """A request to a Jupyter server with the token, its JSON answer (None for an empty or non-JSON one)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    try:
        return json.loads(text)
    except ValueError:
        return None


def use_server(base: str, server: psutil.Process, timeout: float = 120) -> int:
    """Use the server as a student does: open JupyterLab (the page, kernels, settings, files), open every notebook
    and start a ``course-api`` kernel for one of them, connected as JupyterLab connects; the server's own RSS then,
    in bytes (the session is then shut down)."""
    for path in ("lab", "api/kernelspecs", "lab/api/settings", "api/contents", "api/sessions", "api/terminals"):
        call(base + path)
    notebooks = [item["path"] for item in call(base + "api/contents/notebooks")["content"]]
    for path in sorted(notebooks):
        call(f"{base}api/contents/{path}?content=1")
    first = min(notebooks)
    model = {"path": first, "name": Path(first).name, "type": "notebook", "kernel": {"name": KERNEL}}
    session = call(base + "api/sessions", "POST", model)
    try:
        channels = base.replace("http://", "ws://", 1) + f"api/kernels/{session['kernel']['id']}/channels"
        return asyncio.run(asyncio.wait_for(_connected_rss(channels, server), timeout))
    finally:
        call(f"{base}api/sessions/{session['id']}", "DELETE")


async def _connected_rss(url: str, server: psutil.Process) -> int:
    """Connect to a kernel's channels as JupyterLab does, ask for its kernel_info, then read the server's RSS."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    request = HTTPRequest(url, headers={"Authorization": f"token {TOKEN}"})
    connection = await websocket_connect(request)
    header = {"msg_id": uuid.uuid4().hex, "msg_type": "kernel_info_request", "username": USER, "version": "5.3"}
    header |= {"session": uuid.uuid4().hex, "date": ""}
    message = {"header": header, "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell"}
    await connection.write_message(json.dumps(message))
    while True:
        answer = await connection.read_message()
        if answer is None:
            raise RuntimeError(f"the server closed the kernel's channels ({url})")
        reply = json.loads(answer)
        if reply.get("parent_header", {}).get("msg_id") == header["msg_id"] and reply["channel"] == "shell":
            break
    await asyncio.sleep(1)
    rss: int = server.memory_info().rss
    connection.close()
    return rss


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class StartRun:
    server: str
    seconds: float  # from the start of the process to the first answer of its /api
    rss_mib: float  # the server's own RSS once it answers
    in_use_mib: float  # the server's own RSS with JupyterLab, the notebooks and a kernel open (use_server)


def time_start(kind: str, timeout: float = 120) -> StartRun:
    """Start one server (``singleuser`` or ``lab``) from the .venv; time it until its /api answers, then use it."""
    build = singleuser_command if kind == "singleuser" else lab_command
    with tempfile.TemporaryDirectory(prefix="course-server-") as home, fake_hub() as hub_api:
        command, extra, base = build(free_port(), Path(home), hub_api)
        (Path(home) / "notebooks").mkdir()
        for notebook in NOTEBOOKS.glob("*.ipynb"):
            shutil.copy(notebook, Path(home) / "notebooks" / notebook.name)
        env = {**os.environ, **extra, "HOME": home, "JUPYTER_RUNTIME_DIR": f"{home}/runtime"}
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = psutil.Process(process.pid)
        try:
            while not answers(base + "api"):
                if process.poll() is not None or time.perf_counter() - started > timeout:
                    raise RuntimeError(f"{command[0]} did not answer on {base}api (exit code {process.poll()})")
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            time.sleep(1)
            idle = server.memory_info().rss
            in_use = use_server(base, server, timeout)
        finally:
            stop(process)
    name = "jupyterhub-singleuser" if kind == "singleuser" else "jupyter lab"
    return StartRun(name, seconds, mib(idle), mib(in_use))


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ------------------------------------------------------------------------------------------------ report
@dataclass
class Report:
    device: str
    notebooks: list[NotebookRun]
    idle_kernel_mib: float
    peak_mib: float  # RSS, kernel + children over the session
    peak_kernel_mib: float  # RSS, the kernel alone: the JupyterLab-less minimum
    peak_pss_mib: float  # PSS, kernel + children over the session
    starts: list[StartRun] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def server_mib(self) -> float:
        """The Jupyter server next to the kernel, in use: the largest of all runs, 0 when not measured."""
        return max((s.in_use_mib for s in self.starts), default=0.0)

    @property
    def session_mib(self) -> float:
        return self.peak_mib + self.server_mib

    def to_json(self) -> str:
        data = asdict(self)
        data["server_mib"] = round(self.server_mib, 1)
        data["session_mib"] = round(self.session_mib, 1)
        data["recommended"] = recommend(self.session_mib)
        data["recommended_kernel_only"] = recommend(self.peak_kernel_mib)
        return json.dumps(data, indent=2)

    def to_text(self) -> str:
        first, last = self.notebooks[0].notebook[:2], self.notebooks[-1].notebook[:2]
        idle = f"{self.idle_kernel_mib:.0f}"
        lines = [
            f"One session: notebooks {first} to {last} in one kernel, device {self.device}. Peaks in MiB: RSS of",
            "the kernel and the processes it starts (sum), the kernel alone, and PSS of the sum (a page counted once).",
            "",
            f"{'notebook':<24}{'cells':>6}{'seconds':>9}{'RSS sum':>9}{'kernel':>8}{'PSS sum':>9}{'at end':>8}",
            f"{'idle kernel':<24}{'':>6}{'':>9}{idle:>9}{idle:>8}{'':>9}{'':>8}",
        ]
        for r in self.notebooks:
            lines.append(
                f"{r.notebook:<24}{r.cells:>6}{r.seconds:>9.1f}{r.peak_mib:>9.0f}{r.peak_kernel_mib:>8.0f}"
                f"{r.peak_pss_mib:>9.0f}{r.end_mib:>8.0f}"
            )
        seconds = sum(r.seconds for r in self.notebooks)
        lines.append(
            f"{'whole session':<24}{'':>6}{seconds:>9.1f}{self.peak_mib:>9.0f}{self.peak_kernel_mib:>8.0f}"
            f"{self.peak_pss_mib:>9.0f}"
        )
        return "\n".join(lines + self._start_lines()) + "\n"

    def _start_lines(self) -> list[str]:
        lines = [""]
        for server in sorted({s.server for s in self.starts}, reverse=True):
            runs = [s for s in self.starts if s.server == server]
            times = ", ".join(f"{s.seconds:.1f}" for s in runs)
            median = statistics.median(s.seconds for s in runs)
            idle, in_use = max(s.rss_mib for s in runs), max(s.in_use_mib for s in runs)
            lines.append(
                f"{server}: answers after {times} s (median {median:.1f} s); RSS {idle:.0f} MiB, "
                f"{in_use:.0f} MiB with JupyterLab, the notebooks and a kernel open"
            )
        guarantee, limit = recommend(self.session_mib).values()
        kernel_guarantee, kernel_limit = recommend(self.peak_kernel_mib).values()
        lines += [
            f"session peak: kernel and its processes {self.peak_mib:.0f} MiB + Jupyter server "
            f"{self.server_mib:.0f} MiB = {self.session_mib:.0f} MiB (RSS)",
            f"recommended (peak, and peak x {HEADROOM}, rounded up to {STEP_MIB} MiB): memory.guarantee: {guarantee}"
            f"   memory.limit: {limit}",
            f"the kernel alone (no JupyterLab, no processes it starts): peak {self.peak_kernel_mib:.0f} MiB "
            f"-> {kernel_guarantee} / {kernel_limit}",
        ]
        return lines


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "memory_mib": round(mib(psutil.virtual_memory().total)),
        **{name: importlib.metadata.version(name) for name in ("torch", "jupyterlab", "jupyterhub", "ipykernel")},
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.session_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", nargs="+", default=["00", "01", "02", "03", "04", "05", "06"])
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between two samples (0.2)")
    parser.add_argument("--cell-timeout", type=float, default=600, help="most seconds one cell may run (600)")
    parser.add_argument("--starts", type=int, default=3, help="server starts to time, of each kind (3; 0: none)")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results ({RESULTS})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    runs, sampler, device = run_session(args.notebooks, args.interval, args.cell_timeout)
    starts = [time_start(kind) for kind in ("singleuser", "lab") for _ in range(args.starts)]
    session = sampler.peaks[SESSION]
    report = Report(
        device=device,
        notebooks=runs,
        idle_kernel_mib=mib(sampler.peaks["idle kernel"].total),
        peak_mib=mib(session.total),
        peak_kernel_mib=mib(session.kernel),
        peak_pss_mib=mib(session.pss),
        starts=starts,
        machine=machine(),
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(report.to_json() + "\n", encoding="utf-8")
    print(report.to_text(), end="")
    print(f"(written to {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
