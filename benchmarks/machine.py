"""The machine a benchmark ran on: CPU, GPU, versions, commit and load, for the results' ``machine`` key."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.servers import ROOT
from benchmarks.wrk import find_wrk, wrk_version

PACKAGES = ("torch", "fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools")


def machine_info(device: str | None) -> dict[str, Any]:
    wrk = find_wrk()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{name: package_version(name) for name in PACKAGES},
        "wrk": wrk_version(wrk) if wrk else "-",
        "gpu": gpu_name() if device and device.startswith("cuda") else None,
        "commit": commit(),
        "loadavg_before": list(os.getloadavg()),
    }


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return platform.processor() or "unknown"
    return "unknown"


def gpu_name() -> str | None:
    """nvidia-smi's name, memory and driver of the first GPU; None without one."""
    query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    try:
        out = subprocess.run(
            query, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def commit() -> str:
    """The checkout's short commit, with "+local changes" when tracked files differ from it."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=10,
            check=False,
        )

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    if head.returncode != 0:
        return "?"
    return head.stdout.strip() + ("+local changes" if dirty.stdout.strip() else "")
