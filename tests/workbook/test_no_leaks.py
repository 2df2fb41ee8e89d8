"""No leaked servers: the course server in a real Jupyter kernel (kernel ``course-api``), as a student runs it.

* running the server cell twice replaces the first server (its port closes);
* a port that is already in use is a clear error at once, not a hang;
* after ``server.stop()`` no listening socket and no thread of ours is left in the kernel;
* killing the kernel hard (SIGKILL, as a crash or "Restart kernel" on a stuck one does) leaves no process and
  no listening socket behind.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from course_api.system.ports import is_listening as listening
from helpers import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals and /proc")


START = "from course_api import serve_in_background\nserver = serve_in_background(device='cpu')\nprint(server.port)"
OUR_THREADS = (
    "import threading\nprint(sorted(t.name for t in threading.enumerate() if t.name.startswith('course-api')))"
)


@pytest.mark.kernel
def test_cell_twice_port_in_use_and_stop_leave_nothing(kernel):
    first = int(kernel.run(START))
    assert listening(first)
    second = int(kernel.run(START))  # the same cell again
    assert second != first
    assert listening(second)
    assert wait_until(lambda: not listening(first)), "running the cell again left the first server listening"

    started = time.monotonic()
    with pytest.raises(RuntimeError, match=rf"ServerStartError: Port {second} .* already in use"):
        kernel.run(f"serve_in_background(device='cpu', port={second}, name='another')", timeout=30)
    assert time.monotonic() - started < 30  # an answer, not a hang (the cell's own timeout is the bound)

    kernel.run("server.stop()")
    assert not listening(second)
    assert kernel.run(OUR_THREADS) == "[]", "a thread of ours outlived server.stop()"


@pytest.mark.kernel
def test_killing_the_kernel_leaves_no_process_or_socket(kernel):
    import psutil

    port = int(kernel.run(START))
    assert listening(port)
    children = psutil.Process(kernel.pid).children(recursive=True)
    os.kill(kernel.pid, signal.SIGKILL)  # a crash: no atexit, no finally, nothing runs in the kernel
    assert wait_until(lambda: not psutil.pid_exists(kernel.pid) or psutil.Process(kernel.pid).status() == "zombie")
    assert wait_until(lambda: not listening(port)), f"port {port} still listens after the kernel was killed"
    left = [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"processes outlived their kernel: {left}"


START_PROCESS = """
import sys
import time
from course_api.system.processes import start_process
from course_api.system.ports import free_port
port = free_port()
process = start_process([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)])
print(process.pid, port)
"""


@pytest.mark.kernel
def test_a_server_process_started_from_a_cell_dies_with_its_kernel(kernel):
    """Notebook 05 runs the image's CMD as a separate process (start_process): it must not outlive a killed kernel."""
    import psutil

    pid, port = map(int, kernel.run(START_PROCESS).split())
    assert wait_until(lambda: listening(port)), "the server process did not start"
    kernel.run("import time; time.sleep(0.2); print(process.poll())")  # a later cell: still running
    assert psutil.pid_exists(pid)
    assert listening(port)
    os.kill(kernel.pid, signal.SIGKILL)
    assert wait_until(lambda: not listening(port)), f"port {port} still listens after the kernel was killed"
    assert wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)


@pytest.mark.subprocess
def test_start_process_stops_at_a_normal_exit(tmp_path):
    import subprocess

    import psutil

    script = "from course_api.system.processes import start_process; p = start_process(['sleep', '60']); print(p.pid)"
    pid = int(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False).stdout
    )
    assert wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
