"""The course-api command: serve as a real process, doctor, train, and python -m course_api."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import httpx2
import pytest

from helpers import BIN, output_of

pytestmark = pytest.mark.subprocess  # every test runs the course-api command in a process of its own


def course_api(*args: str) -> list[str]:
    exe = BIN / "course-api"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "course_api", *args]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> httpx2.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}: {output_of(process)}")
        try:
            return httpx2.get(url, timeout=2)
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url} within {timeout} s")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_and_stops_cleanly(free_port, stop_signal):
    env = {**os.environ, "COURSE_API_DEVICE": "cpu"}
    process = subprocess.Popen(
        course_api("serve", "--port", str(free_port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        response = wait_for(f"http://127.0.0.1:{free_port}/", process)
        assert response.status_code == 200
        assert response.json()["data"]["device"] == "cpu"
        base = f"http://127.0.0.1:{free_port}"
        assert httpx2.get(f"{base}/docs").status_code == 200
        assert httpx2.get(f"{base}/items/5", params={"q": "somequery"}).json() == {"item_id": 5, "q": "somequery"}
        assert httpx2.get(f"{base}/astros.json").json()["message"] == "success"
        assert httpx2.post(f"{base}/predict/text", json={"text": "I love this course"}).json()["label"] == "positive"
        assert httpx2.post(f"{base}/predict/pixels", json={"images": [[[0] * 8] * 8]}).status_code == 200
        assert httpx2.get(f"{base}/model").json()["device"] == "cpu"
        process.send_signal(stop_signal)
        assert process.wait(timeout=20) == 0
        output = output_of(process)
        assert f"http://127.0.0.1:{free_port}" in output
        assert "Application shutdown complete" in output
        assert "Traceback" not in output
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_refuses_a_missing_device():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA, so asking for it is not an error here")  # pragma: no cover
    out = subprocess.run(
        course_api("serve", "--device", "cuda"), capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 2
    assert "Available: cpu" in out.stderr


def test_python_dash_m_is_the_same_command():
    out = subprocess.run(
        [sys.executable, "-m", "course_api", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0
    for command in ("serve", "train", "doctor"):
        assert command in out.stdout


def test_console_script_is_installed():
    assert shutil.which("course-api", path=str(BIN)) is not None


def test_doctor_reports_versions_device_and_kernel():
    out = subprocess.run(course_api("doctor"), capture_output=True, text=True, timeout=120, check=False)
    for needle in ("torch", "fastapi", "uvicorn", "device", "jupyter kernel", "weights"):
        assert needle in out.stdout
    assert out.returncode == 0, out.stdout  # make setup registers the kernel, so all is well here


def test_doctor_explains_a_bad_device_setting():
    env = {**os.environ, "COURSE_API_DEVICE": "gpu"}
    out = subprocess.run(course_api("doctor"), capture_output=True, text=True, timeout=120, env=env, check=False)
    assert out.returncode == 1
    assert "Unset COURSE_API_DEVICE" in out.stdout


def test_train_writes_weights_and_card(tmp_path):
    out = subprocess.run(
        course_api(
            "train", "--model", "digits", "--epochs", "1", "--device", "cpu", "--output", str(tmp_path), "--no-progress"
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "digits_cnn.safetensors").is_file()
    assert (tmp_path / "MODEL_CARD.md").is_file()
    assert "test_accuracy" in out.stdout


def test_serve_on_a_port_in_use_says_so_and_exits(free_port):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port))
        taken.listen()
        result = subprocess.run(
            course_api("serve", "--port", str(free_port)), capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 1
    assert f"port {free_port} on 127.0.0.1 is already in use" in result.stderr
    assert f"--port {free_port + 1}" in result.stderr


def test_doctor_reports_the_course_server_on_its_port_as_fine(free_port):
    from course_api.workbook.background import serve_in_background

    env = {**os.environ, "COURSE_API_PORT": str(free_port)}
    with serve_in_background(device="cpu", port=free_port, name="doctor-port"):
        out = subprocess.run(course_api("doctor"), capture_output=True, text=True, timeout=120, env=env, check=False)
    line = next(line for line in out.stdout.splitlines() if f"port {free_port}" in line)
    assert line.startswith("ok"), out.stdout
    assert "the course server (version" in line


def test_doctor_reports_another_program_on_the_port_as_the_problem(free_port):
    import socket

    env = {**os.environ, "COURSE_API_PORT": str(free_port)}
    with socket.socket() as other:
        other.bind(("127.0.0.1", free_port))
        other.listen()
        out = subprocess.run(course_api("doctor"), capture_output=True, text=True, timeout=120, env=env, check=False)
    assert out.returncode == 1
    assert f"another program (not the course server) is listening on 127.0.0.1:{free_port}" in out.stdout
    assert f"PORT={free_port + 1}" in out.stdout or f"--port {free_port + 1}" in out.stdout


def test_serve_names_the_variable_the_device_came_from(monkeypatch, capsys):
    """COURSE_API_DEVICE=cuda course-api serve, where no GPU answers: the error says the choice came from the
    variable, not from an argument."""
    from course_api.cli import main

    monkeypatch.setenv("COURSE_API_DEVICE", "cuda")
    monkeypatch.setattr("course_api.server.device.cuda_available", lambda: False)
    assert main(["serve"]) == 2
    said = capsys.readouterr().err
    assert "COURSE_API_DEVICE=cuda" in said
    assert "argument" not in said
