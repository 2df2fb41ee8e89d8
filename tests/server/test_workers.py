"""Several server processes on one port: the ``workers`` setting, ``course-api serve --workers N``, and each
worker's share of the cores for torch's threads (course_api.system.cpu.worker_thread_variables)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from course_api import cli
from course_api.server.settings import Settings, SettingsError
from course_api.system import cpu
from helpers import BIN


def course_api(*args: str) -> list[str]:
    exe = BIN / "course-api"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "course_api", *args]


# ------------------------------------------------------------------------------------------ the setting
def test_workers_default_to_one_and_come_from_the_environment():
    assert Settings.from_env(environ={}).workers == 1
    assert Settings.from_env(environ={"COURSE_API_WORKERS": "3"}).workers == 3
    assert Settings.from_env(environ={"COURSE_API_WORKERS": "3"}, workers=2).workers == 2  # the option wins
    assert "micro-batcher" in (Settings.model_fields["workers"].description or "")


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_wrong_worker_count_names_the_variable_and_the_range(value):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ={"COURSE_API_WORKERS": value})
    message = str(caught.value)
    assert f"COURSE_API_WORKERS={value!r}" in message
    assert "Set COURSE_API_WORKERS to a whole number from 1 to 64" in message


# ------------------------------------------------------------------------------------------ threads
def test_each_worker_gets_its_share_of_the_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("400000 100000\n")  # a quota of 4 cores (fewer if the machine has fewer)
    env = {cpu.CGROUP_ROOT_VARIABLE: str(tmp_path)}
    usable = cpu.detect_usable_cpus(env).cores
    assert usable <= 4
    assert cpu.worker_thread_variables(2, env) == {"OMP_NUM_THREADS": str(max(1, usable // 2))}
    assert cpu.worker_thread_variables(64, env) == {"OMP_NUM_THREADS": "1"}  # never 0
    assert cpu.worker_thread_variables(1, env) == {}  # one worker keeps to the usable cores by itself
    # Someone's own choice stays: torch reads these variables itself.
    assert cpu.worker_thread_variables(2, {**env, "OMP_NUM_THREADS": "3"}) == {}
    assert cpu.worker_thread_variables(2, {**env, "MKL_NUM_THREADS": "3"}) == {}


@pytest.mark.subprocess
def test_the_workers_thread_setting_is_what_torch_and_the_cpu_module_read():
    code = "import torch; from course_api.system import cpu; print(torch.get_num_threads(), "
    code += "cpu.limit_torch_threads().note)"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert out.stdout.split(maxsplit=1) == ["1", "set by OMP_NUM_THREADS=1\n"]


# ------------------------------------------------------------------------------------------ the command
@pytest.fixture(name="serve_env")
def a_clean_serve_environment(monkeypatch):
    """course-api serve in this process, on the CPU, its environment restored afterwards."""
    monkeypatch.setenv("COURSE_API_DEVICE", "cpu")
    monkeypatch.delenv("COURSE_API_WORKERS", raising=False)
    return monkeypatch


def test_reload_and_workers_are_refused(capsys, serve_env):
    assert cli.main(["serve", "--reload", "--workers", "2"]) == 2
    error = capsys.readouterr().err
    assert "--reload and --workers 2 do not go together" in error
    serve_env.setenv("COURSE_API_WORKERS", "2")
    assert cli.main(["serve", "--reload"]) == 2
    assert "--reload and COURSE_API_WORKERS=2 do not go together" in capsys.readouterr().err


def test_a_wrong_workers_option_is_explained(capsys, serve_env):
    assert cli.main(["serve", "--workers", "0"]) == 2
    error = capsys.readouterr().err
    assert "workers=0" in error
    assert "from 1 to 64" in error


def _log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _wait_for_workers(path: Path, process: subprocess.Popen, workers: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{_log(path)}")
        if _log(path).count("Application startup complete.") >= workers:
            return
        time.sleep(0.1)
    raise AssertionError(f"{workers} workers did not start within {timeout} s:\n{_log(path)}")


@pytest.mark.subprocess
@pytest.mark.timeout(240)
def test_two_workers_serve_one_port_and_stop_cleanly(free_port, tmp_path):
    import psutil

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["COURSE_API_DEVICE"] = "cpu"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        command = course_api("serve", "--workers", "2", "--port", str(free_port), "--no-access-log")
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for_workers(log, process, 2)
        base = f"http://127.0.0.1:{free_port}"
        with httpx2.Client(base_url=base, timeout=10) as client:  # keep-alive, as wrk and browsers do
            assert client.get("/").json()["data"]["device"] == "cpu"
            assert client.post("/predict/text", json={"text": "I love this course"}).json()["label"] == "positive"
            # Keep-alive requests answer without a ~40 ms stall (docs/ARCHITECTURE.md, "Sockets").
            times = []
            for _ in range(21):
                start = time.perf_counter()
                assert client.get("/").status_code == 200
                times.append(time.perf_counter() - start)
        assert sorted(times)[10] < 0.025, f"keep-alive requests stall: median {sorted(times)[10] * 1000:.0f} ms"
        # Two worker processes under the supervisor, each one a server that loaded the app and its models.
        workers = [p for p in psutil.Process(process.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2
        text = _log(log)
        started = {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", text)}
        assert started == {p.pid for p in workers}
        share = str(max(1, cpu.detect_usable_cpus(env).cores // 2))
        assert {p.environ().get("OMP_NUM_THREADS") for p in workers} == {share}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not psutil.wait_procs(workers, timeout=10)[1]  # none still alive
        text = _log(log)
        assert text.count("Application shutdown complete.") == 2
        assert "; 2 worker processes; docs at /docs" in text  # printed by course-api serve, flushed at its exit
        assert "Traceback" not in text
    finally:
        if process.poll() is None:
            process.kill()
