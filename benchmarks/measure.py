"""Measuring: one server at a time under wrk (a row per scenario and concurrency), and cold starts."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.scenarios import EXPECTED, Inputs, Scenario, answer
from benchmarks.servers import ServerError, ServerProcess, course_server_command, request
from benchmarks.wrk import LUA_DIR, WrkRun, run_wrk, wrk_command
from course_api.system.ports import LOOPBACK, free_port

ALLOWED_STATUSES = (503,)  # the server's documented answer to a full batching queue: counted, not an error


@dataclass
class Options:
    duration: int
    warmup: int
    concurrency: list[int]
    scenarios: list[str]
    batching: list[bool]
    device: str | None
    cold_runs: int
    wrk_threads: int
    timeout: int
    pin: bool
    workers: list[int] = field(default_factory=lambda: [1])  # course server processes; rows for each count > 1


@dataclass
class Bench:
    """What every server of one run shares, and where the rows and the servers' devices go."""

    opts: Options
    wrk: str
    workdir: Path
    pending_inputs: Future[Inputs]  # written in a thread while the first server starts
    results: list[dict[str, Any]] = field(default_factory=list)
    server_info: dict[str, Any] = field(default_factory=dict)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """With --pin: the server gets every CPU but the last, wrk the last one. Without: both float freely."""
    if not pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return set(cpus[:-1]), {cpus[-1]}


def server_env(device: str | None, batching: bool | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COURSE_API_PORT", None)
    env.pop("COURSE_API_HOST", None)
    if device:
        env["COURSE_API_DEVICE"] = device
    if batching is not None:
        env["COURSE_API_BATCHING"] = "1" if batching else "0"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


# ------------------------------------------------------------------------------------------ under load
def measure_server(
    bench: Bench,
    name: str,
    argv_for: Callable[[int], list[str]],
    env: dict[str, str],
    scenarios: list[Scenario],
    batching: bool | None,
    *,
    workers: int | None = None,
    concurrency: list[int] | None = None,
) -> None:
    """Start one server, check each scenario's answer, then a wrk row per concurrency into ``bench.results``.

    ``workers``: the server's processes (the course server's ``--workers``; None for the baselines);
    ``concurrency``: the levels to measure (default: all of ``--concurrency``)."""
    server_cpus, wrk_cpus = cpu_split(bench.opts.pin)
    port = free_port()
    tag = name if batching is None else f"{name}, batching {'on' if batching else 'off'}"
    tag += f", {workers} workers" if workers and workers > 1 else ""
    log_path = bench.workdir / f"{name}-{workers or 1}-{port}.log"
    with ServerProcess(tag, argv_for(port), port, env=env, log_path=log_path, cpus=server_cpus) as server:
        inputs = bench.pending_inputs.result()  # written while the server starts
        wrk_env = dict(os.environ, BENCH_DATA_DIR=str(inputs.folder))
        ready = server.wait_ready(workers=workers or 1)
        health = json.loads(request(port, "GET", "/")[1])
        device = (health.get("data") or {}).get("device") or health.get("device")
        bench.server_info.setdefault("devices", {})[tag] = device
        if name == "course-api":
            bench.server_info.setdefault("device", device)
        log(f"[{tag}] answering on {LOOPBACK}:{port} after {ready:.1f} s (device {device})")
        for scenario in scenarios:
            got = check_answer(server, tag, scenario, inputs)
            for conc in concurrency or bench.opts.concurrency:
                run, server_cpu = measure_row(bench, server, scenario, conc, wrk_env, wrk_cpus)
                row = result_row(run, server_cpu, scenario, name, batching, conc, got)
                row["workers"] = workers
                bench.results.append(row)
                log(
                    f"[{tag}] {scenario.name:<7} c={conc:<3} {run.result.requests_per_s:9.1f} req/s  "
                    f"p50 {row['p50_ms']:8.2f} ms  p99 {row['p99_ms']:8.2f} ms  errors {row['error_count']}"
                    + (f"  (503: {row['shed_503']})" if row["shed_503"] else "")
                )


def check_answer(server: ServerProcess, tag: str, scenario: Scenario, inputs: Inputs) -> str:
    """One request as the Lua script sends it: must answer 200; a wrong answer is logged, not fatal."""
    payload, headers = inputs.body(scenario.name)
    status, body = request(server.port, scenario.method, scenario.path, payload, headers)
    if status != 200:
        raise ServerError(
            f"[{tag}] {scenario.endpoint} answered {status} to the check request: {body[:300]!r}\n{server.log_tail()}"
        )
    got = answer(scenario.name, body)
    if got != EXPECTED[scenario.name]:
        log(f"[{tag}] warning: {scenario.endpoint} answered {got!r}, expected {EXPECTED[scenario.name]!r}")
    return got


def measure_row(
    bench: Bench,
    server: ServerProcess,
    scenario: Scenario,
    conc: int,
    wrk_env: dict[str, str],
    wrk_cpus: set[int] | None,
) -> tuple[WrkRun, float]:
    """Warm-up (thrown away), then the measured wrk run; returns it with the server's CPU seconds during it."""
    opts = bench.opts
    url = f"http://{LOOPBACK}:{server.port}{scenario.path}"

    def wrk(seconds: int) -> WrkRun:
        command = wrk_command(
            bench.wrk,
            url,
            LUA_DIR / scenario.script,
            connections=conc,
            duration_s=seconds,
            threads=opts.wrk_threads,
            timeout_s=opts.timeout,
        )
        return run_wrk(command, env=wrk_env, cpus=wrk_cpus)

    if opts.warmup > 0:
        wrk(opts.warmup)
    server.check_alive()
    cpu_before = server.cpu_seconds()
    run = wrk(opts.duration)
    server_cpu = server.cpu_seconds() - cpu_before
    server.check_alive()
    return run, server_cpu


def result_row(
    run: WrkRun,
    server_cpu: float,
    scenario: Scenario,
    server: str,
    batching: bool | None,
    conc: int,
    got: str,
) -> dict[str, Any]:
    """One row of the results' JSON."""
    r = run.result
    return {
        "scenario": scenario.name,
        "endpoint": scenario.endpoint,
        "server": server,
        "batching": batching,
        "concurrency": conc,
        "requests": r.requests,
        "duration_s": round(r.duration_s, 4),
        "requests_per_s": round(r.requests_per_s, 2),
        "p50_ms": round(r.latency_ms.get("p50", 0.0), 3),
        "p99_ms": round(r.latency_ms.get("p99", 0.0), 3),
        "latency_ms": {k: round(v, 3) for k, v in r.latency_ms.items()},
        "errors": r.errors,
        "statuses": r.statuses,
        "error_count": r.error_count(ALLOWED_STATUSES),
        "shed_503": int(r.statuses.get("503", 0)),
        "server_cpu_cores": round(server_cpu / run.wall_s, 2) if run.wall_s else None,
        "wrk_cpu_cores": round(run.cpu_s / run.wall_s, 2) if run.wall_s else None,
        "answer": got,
        "source": r.source,
    }


# ------------------------------------------------------------------------------------------ cold start
def cold_start(opts: Options, inputs: Inputs, workdir: Path) -> dict[str, Any]:
    """Seconds from spawning ``course-api serve`` to its first 200 from POST /predict/image, ``cold_runs`` times."""
    body, headers = inputs.body("image")
    runs: list[float] = []
    loads: list[float] = []
    for i in range(opts.cold_runs):
        port = free_port()
        argv = course_server_command(port, opts.device)
        env = server_env(opts.device, None)
        with ServerProcess(
            f"cold start {i + 1}", argv, port, env=env, log_path=workdir / f"cold-{i + 1}.log"
        ) as server:
            elapsed = first_answer(server, body, headers)
            runs.append(round(elapsed, 3))
            seconds = load_seconds(port)
            if seconds is not None:
                loads.append(seconds)
        log(f"[cold start {i + 1}/{opts.cold_runs}] first 200 from POST /predict/image after {elapsed:.2f} s")
    return {"runs_s": runs, "median_s": round(statistics.median(runs), 3), "load_seconds": loads}


def first_answer(server: ServerProcess, body: bytes | None, headers: dict[str, str]) -> float:
    """Seconds from the server's start to its first 200 from POST /predict/image (retried until the port opens)."""
    deadline = server.started_at + 120
    while time.perf_counter() < deadline:
        server.check_alive()
        try:
            status, got = request(server.port, "POST", "/predict/image", body, headers, timeout=30)
        except OSError:
            time.sleep(0.005)
            continue
        if status == 200:
            return time.perf_counter() - server.started_at
        raise ServerError(f"cold start: POST /predict/image answered {status}: {got[:300]!r}")
    raise ServerError(f"cold start: no answer within 120 s.\n{server.log_tail()}")


def load_seconds(port: int) -> float | None:
    """The model loading time the server reports in GET /model, if it does."""
    with contextlib.suppress(OSError, ValueError):
        status, info = request(port, "GET", "/model")
        if status == 200:
            return float(json.loads(info).get("load_seconds", 0.0))
    return None
