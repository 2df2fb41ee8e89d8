"""Running wrk and reading what it prints.

Every scenario script in ``benchmarks/lua/`` ends with a ``done()`` hook (``lua/common.lua``) that prints one
line ``BENCH_RESULT {json}``: requests, requests/s, socket errors, non-2xx answers by status, and latency
percentiles in milliseconds. :func:`parse_wrk_output` reads that line; when it is missing (a script without
the hook, a wrk that printed no Lua output) it falls back to wrk's own text summary, which ``--latency``
makes include the 50/75/90/99th percentiles.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULT_PREFIX = "BENCH_RESULT "
SOCKET_ERRORS = ("connect", "read", "write", "timeout")


class WrkError(RuntimeError):
    """wrk could not run, or printed nothing this module can read."""


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    requests_per_s: float
    latency_ms: dict[str, float]
    errors: dict[str, int] = field(default_factory=dict)  # connect, read, write, timeout, status (>399), non2xx
    statuses: dict[str, int] = field(default_factory=dict)  # non-2xx answers by status code
    source: str = "lua"  # "lua": the BENCH_RESULT line; "text": wrk's text summary

    @property
    def socket_errors(self) -> int:
        return sum(int(self.errors.get(name, 0)) for name in SOCKET_ERRORS)

    @property
    def non2xx(self) -> int:
        # The Lua hook counts every status outside 200-299; wrk's own count ("status") only those above 399.
        return int(self.errors.get("non2xx", self.errors.get("status", 0)))

    def error_count(self, allowed_statuses: Iterable[int] = ()) -> int:
        """Socket errors plus non-2xx answers, leaving out the statuses in ``allowed_statuses`` (e.g. 503)."""
        allowed = sum(int(self.statuses.get(str(code), 0)) for code in allowed_statuses)
        return self.socket_errors + max(0, self.non2xx - allowed)


# --------------------------------------------------------------------------------------------- parsing
_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_NUMBER_UNIT = re.compile(r"^([0-9.]+)(us|ms|s|m|h)$")


def time_to_ms(text: str) -> float:
    """wrk's formatted times (``812.00us``, ``1.23ms``, ``3.01s``, ``1.00m``) in milliseconds."""
    match = _NUMBER_UNIT.match(text.strip())
    if not match:
        raise ValueError(f"not a wrk time: {text!r}")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def parse_wrk_output(text: str) -> WrkResult:
    """The result of one wrk run, from its standard output (the BENCH_RESULT line, else the text summary)."""
    for line in reversed(text.splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                data = json.loads(line[len(RESULT_PREFIX) :])
            except json.JSONDecodeError as exc:
                raise WrkError(f"unreadable {RESULT_PREFIX.strip()} line ({exc}): {line[:200]}") from None
            return WrkResult(
                requests=int(data["requests"]),
                duration_s=float(data["duration_s"]),
                requests_per_s=float(data["requests_per_s"]),
                latency_ms={k: float(v) for k, v in data["latency_ms"].items()},
                errors={k: int(v) for k, v in data["errors"].items()},
                statuses={str(k): int(v) for k, v in data.get("statuses", {}).items()},
                source="lua",
            )
    return _parse_text_summary(text)


def _parse_text_summary(text: str) -> WrkResult:
    summary = re.search(r"^\s*(\d+) requests in ([0-9.]+(?:us|ms|s|m|h)),", text, re.M)
    rate = re.search(r"^Requests/sec:\s*([0-9.]+)", text, re.M)
    if not summary or not rate:
        tail = "\n".join(text.strip().splitlines()[-5:])
        raise WrkError(f"wrk printed no summary (no BENCH_RESULT line and no 'Requests/sec'):\n{tail}")
    latency: dict[str, float] = {}
    for pct, value in re.findall(r"^\s+([0-9.]+)%\s+([0-9.]+(?:us|ms|s|m|h))\s*$", text, re.M):
        latency[f"p{float(pct):g}"] = time_to_ms(value)
    stats = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if stats:
        for key, value in zip(("mean", "stdev", "max"), stats.groups(), strict=True):
            with contextlib.suppress(ValueError):
                latency[key] = time_to_ms(value)
    errors = dict.fromkeys(SOCKET_ERRORS, 0)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket:
        errors.update(zip(SOCKET_ERRORS, map(int, socket.groups()), strict=True))
    status = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors["status"] = int(status.group(1)) if status else 0
    errors["non2xx"] = errors["status"]
    return WrkResult(
        requests=int(summary.group(1)),
        duration_s=time_to_ms(summary.group(2)) / 1e3,
        requests_per_s=float(rate.group(1)),
        latency_ms=latency,
        errors=errors,
        statuses={},
        source="text",
    )


# --------------------------------------------------------------------------------------------- running
def find_wrk() -> str | None:
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    try:
        out = subprocess.run(
            [wrk, "-v"], capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def wrk_command(
    wrk: str, url: str, script: str | Path, *, connections: int, duration_s: int, threads: int = 1, timeout_s: int = 30
) -> list[str]:
    threads = max(1, min(threads, connections))  # wrk needs at least one connection per thread
    return [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{int(duration_s)}s",
        f"--timeout={int(timeout_s)}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]


@dataclass
class WrkRun:
    result: WrkResult
    wall_s: float
    cpu_s: float  # CPU time wrk itself used (user + system), to show that the load generator is not the limit


def run_wrk(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, cpus: set[int] | None = None, grace_s: float = 60
) -> WrkRun:
    """Run one wrk command to its end and parse its output. Raises WrkError when wrk fails."""
    duration = next((int(a[2:-1]) for a in command if a.startswith("-d") and a.endswith("s")), 0)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=dict(env) if env is not None else None,
            timeout=duration + grace_s,
            preexec_fn=preexec,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {duration + grace_s:.0f} s: {' '.join(command)}") from exc
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = done.stdout + ("\n" + done.stderr if done.stderr else "")
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {' '.join(command)}\n{output.strip()[-2000:]}")
    result = parse_wrk_output(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WrkRun(result=result, wall_s=wall, cpu_s=cpu)
