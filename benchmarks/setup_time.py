"""How long a student waits: a fresh clone to JupyterLab answering, with ``python3 course.py lab``.

    .venv/bin/python -m benchmarks.setup_time               # a warm pip cache, then none; a few minutes
    .venv/bin/python -m benchmarks.setup_time --runs warm

Each run clones this repository (``git clone``, the committed files only) into a temporary folder and runs
``python3 course.py lab --no-browser`` there with a free port, as a student would after cloning: it creates
``.venv``, installs the pinned versions and the PyTorch build ``--torch auto`` picks (here: the CPU wheel from
pip's find-links, as on a class mirror), registers the kernel and starts JupyterLab. The clock runs from the
command's start to the first ``200`` from JupyterLab's ``/api``; the set-up alone is the part before course.py
starts JupyterLab. ``warm`` uses pip's cache as it is; ``cold`` runs with ``PIP_NO_CACHE_DIR=1`` (every package is
fetched again from the package index this machine is configured with). The clone is removed afterwards.

Results go to ``benchmarks/results/setup_time.json``; ``benchmarks/README.md`` quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from course_api.system.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "setup-time"
STARTING = "-m jupyterlab"  # course.py prints the command it runs: this line marks the end of the set-up


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api?token={TOKEN}", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def one_run(kind: str, timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="course-api-setup-") as tmp:
        clone = Path(tmp) / "course with spaces"  # paths with spaces must work
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        port = free_port()
        env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}
        if kind == "cold":
            env["PIP_NO_CACHE_DIR"] = "1"
        args = ["--no-browser", f"--port={port}", f"--IdentityProvider.token={TOKEN}", "--ServerApp.port_retries=0"]
        log = Path(tmp) / "lab.log"
        started = time.perf_counter()
        with log.open("w", encoding="utf-8") as output:
            process = subprocess.Popen(
                [sys.executable, "course.py", "lab", *args],
                cwd=clone,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        setup_seconds = None
        try:
            while not answers(f"http://127.0.0.1:{port}"):
                if setup_seconds is None and STARTING in log.read_text(encoding="utf-8", errors="replace"):
                    setup_seconds = time.perf_counter() - started
                if process.poll() is not None or time.perf_counter() - started > timeout:
                    raise RuntimeError(f"course.py lab stopped or took too long:\n{log.read_text(encoding='utf-8')}")
                time.sleep(0.2)
            total = time.perf_counter() - started
        finally:
            stop(process)
    return {"kind": kind, "setup_s": round(setup_seconds or total, 1), "lab_answers_s": round(total, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", nargs="+", choices=["warm", "cold"], default=["warm", "cold"])
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "setup_time.json")
    args = parser.parse_args(argv)
    if shutil.which("git") is None:
        print("benchmarks.setup_time needs git", file=sys.stderr)
        return 2
    results = []
    for kind in args.runs:
        print(f"{kind}: cloning and running python3 course.py lab --no-browser ...", flush=True)
        results.append(one_run(kind, args.timeout))
        print(f"{kind}: set-up {results[-1]['setup_s']} s, JupyterLab answering after {results[-1]['lab_answers_s']} s")
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "runs": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
