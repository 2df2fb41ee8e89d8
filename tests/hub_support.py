"""A real JupyterHub on 127.0.0.1 for tests/workbook/test_jupyterhub.py, and the JupyterLab steps a student takes in it.

The hub runs ``jupyterhub -f tests/jupyterhub_config.py`` (that file holds the class's configuration) with its
proxy, configurable-http-proxy, from npm: found on the PATH, else installed once into the pytest cache folder
(``.pytest_cache/d/configurable-http-proxy``, ignored by git) with ``npm install``. Without Node.js and npm the
test skips and says how to install them, unless COURSE_API_REQUIRE_SYSTEM_TOOLS=1 (as in .ci/run).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psutil

from course_api.system.ports import free_port, is_listening
from helpers import BIN, ROOT, missing_system_tool

HUB_CONFIG = ROOT / "tests" / "jupyterhub_config.py"
PROXY_PACKAGE = "configurable-http-proxy@5"  # JupyterHub's proxy; version 5 needs Node.js 20 or newer
NODE_MAJOR = 20
STUDENTS = ("ada", "bob", "cyd")
HUB_START_S = 90


# ------------------------------------------------------------------------------- configurable-http-proxy
def _node_major(node: str) -> int:
    done = subprocess.run([node, "--version"], check=False, capture_output=True, text=True, timeout=30)
    version = done.stdout.strip()
    found = re.match(r"v(\d+)\.", version)
    return int(found.group(1)) if found else 0


def configurable_http_proxy(folder: Path) -> Path:
    """The command of JupyterHub's proxy: on the PATH, else in ``folder`` (installed there from npm if missing)."""
    on_path = shutil.which("configurable-http-proxy")
    if on_path:
        return Path(on_path)
    node, npm = shutil.which("node"), shutil.which("npm")
    install = "sudo apt-get install nodejs npm (Debian/Ubuntu), sudo dnf install nodejs npm (Fedora), brew install node"
    if node is None or npm is None:
        missing_system_tool(
            f"Node.js and npm are not installed, so the JupyterHub test is skipped; to run it: {install}"
        )
    if _node_major(node) < NODE_MAJOR:
        missing_system_tool(
            f"JupyterHub's proxy ({PROXY_PACKAGE}) needs Node.js {NODE_MAJOR} or newer, so the JupyterHub test is "
            f"skipped; to run it, install a newer Node.js ({install})"
        )
    command = folder / "node_modules" / ".bin" / "configurable-http-proxy"
    if not command.exists():
        npm_install = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            done = subprocess.run(
                [*npm_install, PROXY_PACKAGE], check=False, capture_output=True, text=True, timeout=300
            )
            output = (done.stdout + done.stderr)[-2000:]
        except subprocess.TimeoutExpired:
            output = "npm install took more than 300 s"
        if not command.exists():
            missing_system_tool(
                f"configurable-http-proxy (JupyterHub's proxy) could not be installed from the npm registry into "
                f"{folder}, so the JupyterHub test is skipped; to run it: npm install -g {PROXY_PACKAGE}\n{output}"
            )
    return command


# ------------------------------------------------------------------------------------------- the hub
def _family(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and every process below it."""
    try:
        process = psutil.Process(pid)
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _environ(process: psutil.Process) -> dict[str, str]:
    try:
        return process.environ()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return {}


def listening_ports(processes: list[psutil.Process]) -> set[int]:
    """The TCP ports the processes listen on."""
    ports = set()
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            ports |= {c.laddr.port for c in process.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    return ports


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[str]:
    """Wait for the processes to exit; kill and describe those still there after ``timeout`` seconds."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    left = []
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            left.append(f"{process.pid} {' '.join(process.cmdline())[:160]}")
            process.kill()
    psutil.wait_procs(alive, timeout=10)
    return left


def wait_closed(ports: set[int], timeout: float) -> set[int]:
    """The ports among ``ports`` that still accept connections after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        still = {port for port in ports if is_listening(port)}
        if not still or time.monotonic() > deadline:
            return still
        time.sleep(0.2)


@dataclass
class Hub:
    """A JupyterHub started by :meth:`start`: ``url`` is what browsers open (the proxy)."""

    state: Path
    homes: Path
    proxy_command: Path
    students: tuple[str, ...] = STUDENTS
    password: str = field(default_factory=lambda: "course-" + secrets.token_hex(8))
    admin_token: str = field(default_factory=lambda: secrets.token_hex(32))
    proxy_token: str = field(default_factory=lambda: secrets.token_hex(32))
    proxy_port: int = field(default_factory=free_port)
    proxy_api_port: int = field(default_factory=free_port)
    hub_port: int = field(default_factory=free_port)
    public_url: bool = True  # tell single-user servers the hub's address (JUPYTERHUB_PUBLIC_URL)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def log(self) -> Path:
        return self.state / "jupyterhub.log"

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> Hub:
        plan = {
            "state": str(self.state),
            "homes": str(self.homes),
            "proxy_port": self.proxy_port,
            "proxy_api_port": self.proxy_api_port,
            "hub_port": self.hub_port,
            "proxy_command": str(self.proxy_command),
            "proxy_token": self.proxy_token,
            "password": self.password,
            "students": list(self.students),
            "admin_token": self.admin_token,
            "singleuser": str(BIN / "jupyterhub-singleuser"),
            "notebooks": str(ROOT / "notebooks"),
            "device": "cpu",
            "public_url": self.public_url,
        }
        (self.state / "plan.json").write_text(json.dumps(plan, indent=2))
        # Nothing of an outer hub (pytest itself may run in one) or of the course's own variables leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "JPY_", "COURSE_API_"))}
        env |= {"COURSE_API_TEST_HUB": str(self.state / "plan.json"), "JUPYTER_PLATFORM_DIRS": "1"}
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(HUB_CONFIG)],
                cwd=self.state,
                stdin=subprocess.DEVNULL,  # no server waits for an answer on the terminal of pytest
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + HUB_START_S
        while not self._answers():
            assert self.process.poll() is None, f"JupyterHub exited at start-up:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"JupyterHub did not answer within {HUB_START_S} s:\n{self.log_tail()}"
            time.sleep(0.3)
        return self

    def _answers(self) -> bool:
        try:
            return httpx2.get(f"{self.url}/hub/api/", timeout=2).status_code == 200
        except httpx2.TransportError:
            return False

    def log_problems(self, expected: tuple[str, ...] = ()) -> list[str]:
        """Lines of the log of the hub, its proxy, students' servers and kernels that say something went wrong:
        errors and tracebacks (but those containing one of ``expected``), and a kernel's "running over TCP without
        encryption" (the course's jupyter_server_config.json in the environment turns encryption on)."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [
            line
            for line in lines
            if (line.startswith("[E ") or "Traceback" in line or "without encryption" in line)
            and not any(text in line for text in expected)
        ]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        """A call to the hub's REST API (``path`` after /hub/api) with the test service's admin token."""
        headers = {"Authorization": f"token {self.admin_token}"}
        return httpx2.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=30, **kwargs)

    def proxy_routes(self) -> dict[str, Any]:
        """The routing table of configurable-http-proxy, from its own API."""
        headers = {"Authorization": f"token {self.proxy_token}"}
        answer = httpx2.get(f"http://127.0.0.1:{self.proxy_api_port}/api/routes", headers=headers, timeout=10)
        answer.raise_for_status()
        routes: dict[str, Any] = answer.json()
        return routes

    def servers(self, name: str) -> dict[str, Any]:
        answer = self.api("GET", f"/users/{name}")
        assert answer.status_code == 200, f"GET /hub/api/users/{name}: {answer.status_code} {answer.text}"
        servers: dict[str, Any] = answer.json()["servers"]
        return servers

    def family(self) -> list[psutil.Process]:
        """The hub and every process it started: the proxy, students' servers and their kernels."""
        return _family(self.process.pid) if self.process is not None else []

    def student_processes(self, name: str) -> list[psutil.Process]:
        """The student's single-user server (``jupyterhub-singleuser``) first, then its kernels and their children."""
        for process in self.family():
            environ = _environ(process)
            if environ.get("JUPYTERHUB_USER") == name and "jupyterhub-singleuser" in " ".join(process.cmdline()):
                return _family(process.pid)
        return []

    def singleuser_port(self, name: str) -> int:
        """The port of the student's single-user server, from the address the hub gave it."""
        processes = self.student_processes(name)
        assert processes, f"no jupyterhub-singleuser process for {name}:\n{self.log_tail()}"
        found = re.match(r"https?://[^/]+:(\d+)/", _environ(processes[0]).get("JUPYTERHUB_SERVICE_URL", ""))
        assert found, f"{name}'s server has no JUPYTERHUB_SERVICE_URL with a port"
        return int(found.group(1))

    def progress(self, name: str, deadline: float) -> dict[str, Any]:
        """Follow the hub's own readiness API for the student's server (``GET /hub/api/users/<name>/server/progress``,
        server-sent events) until its last event: ``{"ready": true, ...}`` or ``{"failed": true, "message": ...}``.
        A server that is neither starting nor running gives ``{"failed": true}`` with the hub's answer."""
        headers = {"Authorization": f"token {self.admin_token}"}
        url = f"{self.url}/hub/api/users/{name}/server/progress"
        last: dict[str, Any] = {"failed": True, "message": f"no readiness event within the time limit for {name}"}
        timeout = httpx2.Timeout(10, read=max(1.0, deadline - time.monotonic()))
        try:
            with httpx2.stream("GET", url, headers=headers, timeout=timeout) as answer:
                if answer.status_code != 200:
                    answer.read()
                    return {"failed": True, "message": f"progress: {answer.status_code} {answer.text[:300]}"}
                for line in answer.iter_lines():
                    if line.startswith("data:"):
                        last = json.loads(line.removeprefix("data:"))
                        if last.get("ready") or last.get("failed"):
                            return last
        except httpx2.TransportError as exc:
            last = {"failed": True, "message": f"progress: {exc!r}"}
        return last

    def _wait_not_pending(self, name: str, deadline: float) -> None:
        """Until the student's server is neither starting nor stopping (or the deadline passes)."""
        while time.monotonic() < deadline and (self.servers(name).get("") or {}).get("pending"):
            time.sleep(0.3)

    def start_server(self, name: str, timeout: float = 180, attempts: int = 3) -> int:
        """Start the student's server (``POST /hub/api/users/<name>/server``; one that a login already started is
        followed, not started twice) and wait with the hub's readiness API until it is ready. A start the hub
        reports as failed (a 5xx answer, a failed spawn, as when another program took the server's port meanwhile)
        is tried again, ``attempts`` times at most; then the assertion shows why and the hub's log.
        Returns how many attempts it took."""
        deadline = time.monotonic() + timeout
        problems: list[str] = []
        for attempt in range(1, attempts + 1):
            answer = self.api("POST", f"/users/{name}/server")
            if answer.status_code in (201, 202) or "is already running" in answer.text:
                event = self.progress(name, deadline)
                if event.get("ready"):
                    if problems:  # started in the end: said in the warnings summary, never silently
                        warnings.warn(
                            f"{name}'s server started on attempt {attempt}: {'; '.join(problems)}", stacklevel=2
                        )
                    return attempt
                problems.append(f"attempt {attempt}: {event.get('message')}")
            else:
                problems.append(f"attempt {attempt}: POST {answer.status_code} {answer.text[:300]}")
            if time.monotonic() >= deadline:
                break
            self._wait_not_pending(name, deadline)
            time.sleep(1)
        raise AssertionError(f"{name}'s server did not start: {'; '.join(problems)}\n{self.log_tail()}")

    def stop_server(self, name: str, timeout: float = 60) -> None:
        """``DELETE /hub/api/users/<name>/server``, then wait until the hub no longer lists the server."""
        answer = self.api("DELETE", f"/users/{name}/server")
        assert answer.status_code in (202, 204), f"stopping {name}'s server: {answer.status_code} {answer.text}"
        deadline = time.monotonic() + timeout
        while self.servers(name):
            assert time.monotonic() < deadline, f"{name}'s server still listed after {timeout} s:\n{self.log_tail()}"
            time.sleep(0.3)

    def stop(self, timeout: float = 60) -> list[str]:
        """SIGTERM to the hub (it stops students' servers and its proxy), then wait for every process it started.
        Returns what had to be killed (nothing, when all is well)."""
        if self.process is None:
            return []
        family = self.family()
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        return wait_gone(family, timeout=30)


# ------------------------------------------------------------------------------ a student in JupyterLab
LAB_TIMEOUT_MS = 180_000  # three students' servers and kernels start at once on a small machine
STEP_MS = 60_000  # any other step in the browser (Playwright's own default for expect is 5 s)
NOTEBOOK = "notebooks/00_setup.ipynb"
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def log_in(page: Any, hub: Hub, name: str) -> None:
    """Fill in and send the hub's login form (the hub then starts the student's server)."""
    page.goto(f"{hub.url}/hub/login", timeout=STEP_MS)
    page.locator("#username_input").fill(name)
    page.locator("#password_input").fill(hub.password)
    page.locator("#login_submit").click()


def notebook_panel(page: Any) -> Any:
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def menu(page: Any, top: str, item: str) -> None:
    """Choose ``top`` > ``item`` in JupyterLab's menu bar."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def select_cell(page: Any, text: str) -> Any:
    """Select (command mode, not editing) the code cell whose source contains ``text``; return the cell."""
    cell = notebook_panel(page).locator(".jp-CodeCell").filter(has_text=text)
    expect(cell).to_have_count(1, timeout=STEP_MS)
    cell.locator(".jp-InputPrompt").click()
    expect(cell).to_have_class(re.compile(r"\bjp-mod-active\b"), timeout=STEP_MS)
    return cell


def wait_idle(page: Any, timeout_ms: int = LAB_TIMEOUT_MS) -> None:
    """Until no cell is queued or running and the kernel says idle."""
    notebook = notebook_panel(page)
    expect(notebook.locator(".jp-InputPrompt", has_text="[*]")).to_have_count(0, timeout=timeout_ms)
    indicator = notebook.locator(".jp-Notebook-ExecutionIndicator")
    expect(indicator).to_have_attribute("data-status", "idle", timeout=timeout_ms)


def error_outputs(page: Any) -> list[str]:
    """The text of every error or stderr output the notebook shows."""
    texts: list[str] = notebook_panel(page).locator(STDERR).all_text_contents()
    return texts
