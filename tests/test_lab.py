"""`make lab` opens the course: JupyterLab starts, finds the notebooks and the course-api kernel."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx2
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_starts_jupyterlab_with_the_course(free_port):
    token = "course-api-test"
    args = f"--no-browser --port={free_port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    process = subprocess.Popen(
        ["make", "-s", "lab", f"JUPYTER_ARGS={args}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1"},
    )
    base = f"http://127.0.0.1:{free_port}"
    headers = {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                specs = httpx2.get(f"{base}/api/kernelspecs", headers=headers, timeout=2)
                if specs.status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
            time.sleep(0.5)
        assert "course-api" in specs.json()["kernelspecs"]
        # The file browser starts at the course folder (not inside notebooks/), so every folder is visible.
        top = httpx2.get(f"{base}/api/contents", headers=headers, timeout=10).json()
        assert {"notebooks", "course_api", "README.md"} <= {item["name"] for item in top["content"]}
        contents = httpx2.get(f"{base}/api/contents/notebooks", headers=headers, timeout=10).json()
        assert "00_setup.ipynb" in {item["name"] for item in contents["content"]}
        assert httpx2.get(f"{base}/lab/tree/notebooks/00_setup.ipynb", headers=headers, timeout=10).status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
