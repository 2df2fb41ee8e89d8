"""The benchmark: the course server under load from wrk on 127.0.0.1, against a naive baseline, in one run.

    python -m benchmarks.run                      # everything (what `make bench` runs), about 3 minutes
    python -m benchmarks.run --quick              # 2 s per row and one cold start
    python -m benchmarks.run --device cuda        # the models on the GPU (COURSE_API_DEVICE for every server)
    python -m benchmarks.run --render results.json --update-readme   # redo the README section from a JSON

What one run does, in this order (one server at a time, never two at once):

1. ``course-api serve`` with micro-batching on (COURSE_API_BATCHING=1): health, image, text and pixels at
   each concurrency;
2. the same with micro-batching off (COURSE_API_BATCHING=0): image, text and pixels;
3. the naive baseline (``benchmarks/naive_app.py`` under uvicorn): the draft's style;
4. cold start: a fresh ``course-api serve`` until its first 200 from POST /predict/image, ``--cold-runs`` times.

Before each scenario one request checks that the server answers 200 with the right answer; each row is
``--warmup`` seconds of load that are thrown away, then ``--duration`` seconds that are measured. The
results go to a JSON file, a Markdown file beside it, and the console. The exit status is 1 when a request
failed (socket errors or non-2xx answers other than 503, which the server documents for a full queue), 2 when
wrk is missing or the arguments are wrong, else 0: targets are reported, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

if __package__ in (None, ""):  # run as a file: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import report
from benchmarks.servers import (
    ROOT,
    ServerError,
    ServerProcess,
    course_server_command,
    free_port,
    naive_server_command,
    request,
)
from benchmarks.wrk import LUA_DIR, WrkError, find_wrk, run_wrk, wrk_command, wrk_version

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ALLOWED_STATUSES = (503,)  # the server's documented answer to a full batching queue: counted, not an error
TEXT = "I love this course: the examples are clear and the server answers quickly."
BOUNDARY = "----course-api-bench-7MA4YWxkTrZu0gW"  # the same as in lua/image.lua
DIGIT = 7


# ------------------------------------------------------------------------------------------ scenarios
@dataclass(frozen=True)
class Scenario:
    name: str
    endpoint: str  # for the report
    script: str  # in benchmarks/lua/
    server: str  # "course-api" or "naive"
    model: bool  # runs a model: measured with batching on and off

    @property
    def method(self) -> str:
        return self.endpoint.split()[0]

    @property
    def path(self) -> str:
        return self.endpoint.split()[1]


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("health", "GET /", "health.lua", "course-api", model=False),
        Scenario("image", "POST /predict/image", "image.lua", "course-api", model=True),
        Scenario("text", "POST /predict/text", "text.lua", "course-api", model=True),
        Scenario("pixels", "POST /predict/pixels", "pixels.lua", "course-api", model=True),
        Scenario("naive", "POST /predict", "naive.lua", "naive", model=False),
    )
}


@dataclass
class Inputs:
    folder: Path
    naive_side: int

    def body(self, scenario: str) -> tuple[bytes | None, dict[str, str]]:
        """The exact bytes (and headers) the Lua script of ``scenario`` sends, for the check request."""
        if scenario == "health":
            return None, {}
        if scenario == "image":
            png = (self.folder / "digit.png").read_bytes()
            body = b"\r\n".join([
                f"--{BOUNDARY}".encode(),
                b'Content-Disposition: form-data; name="file"; filename="digit.png"',
                b"Content-Type: image/png",
                b"",
                png,
                f"--{BOUNDARY}--".encode(),
                b"",
            ])
            return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        name = {"text": "text.json", "pixels": "pixels.json", "naive": "naive.json"}[scenario]
        return (self.folder / name).read_bytes(), {"Content-Type": "application/json"}


def write_inputs(folder: Path, naive_side: int = 128) -> Inputs:
    """The request bodies: a held-out handwritten 7 as a 128x128 PNG, as 8x8 pixels, and as a grey
    ``naive_side`` x ``naive_side`` list of lists for the naive baseline; and a sentence."""
    import numpy as np

    from course_api.samples import digit_pixels, digit_png, draw

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "digit.png").write_bytes(digit_png(DIGIT))
    pixels = digit_pixels(DIGIT).astype(int).tolist()
    (folder / "pixels.json").write_text(json.dumps({"images": [pixels]}))
    (folder / "text.json").write_text(json.dumps({"text": TEXT}))
    grey = np.asarray(draw(digit_pixels(DIGIT), size=naive_side), dtype=np.uint8).tolist()
    (folder / "naive.json").write_text(json.dumps({"image": grey}))
    return Inputs(folder, naive_side)


def _answer(scenario: str, body: bytes) -> str:
    data = json.loads(body)
    if scenario == "health":
        return str(data.get("message"))
    if scenario in ("image", "naive"):
        return str(data["digit"])
    if scenario == "pixels":
        return str(data["predictions"][0]["digit"])
    return str(data["label"])


EXPECTED = {"health": "OK", "image": str(DIGIT), "pixels": str(DIGIT), "naive": str(DIGIT), "text": "positive"}


# ------------------------------------------------------------------------------------------ machine
def machine_info(device: str | None) -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    gpu = None
    if device and device.startswith("cuda"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            gpu = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
        except (OSError, subprocess.TimeoutExpired):
            gpu = None
    commit = "?"
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            commit = head.stdout.strip() + ("+local changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    wrk = find_wrk()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": version("torch"),
        "fastapi": version("fastapi"),
        "starlette": version("starlette"),
        "pydantic": version("pydantic"),
        "uvicorn": version("uvicorn"),
        "uvloop": version("uvloop"),
        "httptools": version("httptools"),
        "wrk": wrk_version(wrk) if wrk else "-",
        "gpu": gpu,
        "commit": commit,
        "loadavg_before": list(os.getloadavg()),
    }


# ------------------------------------------------------------------------------------------ running
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


def measure_server(
    name: str, argv_for: Callable[[int], list[str]], env: dict[str, str], scenarios: list[Scenario],
    batching: bool | None, opts: Options, pending_inputs: Future, wrk: str, workdir: Path,
    results: list[dict[str, Any]], server_info: dict[str, Any],
) -> None:
    server_cpus, wrk_cpus = cpu_split(opts.pin)
    port = free_port()
    tag = name if batching is None else f"{name}, batching {'on' if batching else 'off'}"
    with ServerProcess(tag, argv_for(port), port, env=env, log_path=workdir / f"{name}-{port}.log",
                       cpus=server_cpus) as server:
        inputs: Inputs = pending_inputs.result()  # written while the server starts
        wrk_env = dict(os.environ, BENCH_DATA_DIR=str(inputs.folder))
        ready = server.wait_ready("/")
        status, body = request(port, "GET", "/")
        health = json.loads(body)
        device = (health.get("data") or {}).get("device") or health.get("device")
        server_info.setdefault("devices", {})[tag] = device
        if name == "course-api":
            server_info.setdefault("device", device)
        log(f"[{tag}] answering on 127.0.0.1:{port} after {ready:.1f} s (device {device})")
        for scenario in scenarios:
            payload, headers = inputs.body(scenario.name)
            status, answer_body = request(port, scenario.method, scenario.path, payload, headers)
            if status != 200:
                raise ServerError(f"[{tag}] {scenario.endpoint} answered {status} to the check request: "
                                  f"{answer_body[:300]!r}\n{server.log_tail()}")
            answer = _answer(scenario.name, answer_body)
            if answer != EXPECTED[scenario.name]:
                log(f"[{tag}] warning: {scenario.endpoint} answered {answer!r}, expected {EXPECTED[scenario.name]!r}")
            url = f"http://127.0.0.1:{port}{scenario.path}"
            script = LUA_DIR / scenario.script
            for conc in opts.concurrency:
                if opts.warmup > 0:
                    run_wrk(wrk_command(wrk, url, script, connections=conc, duration_s=opts.warmup,
                                        threads=opts.wrk_threads, timeout_s=opts.timeout), env=wrk_env, cpus=wrk_cpus)
                server.check_alive()
                cpu_before = server.cpu_seconds()
                run = run_wrk(wrk_command(wrk, url, script, connections=conc, duration_s=opts.duration,
                                          threads=opts.wrk_threads, timeout_s=opts.timeout), env=wrk_env, cpus=wrk_cpus)
                server_cpu = server.cpu_seconds() - cpu_before
                server.check_alive()
                r = run.result
                row = {
                    "scenario": scenario.name,
                    "endpoint": scenario.endpoint,
                    "server": name,
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
                    "answer": answer,
                    "source": r.source,
                }
                results.append(row)
                log(f"[{tag}] {scenario.name:<7} c={conc:<3} {r.requests_per_s:9.1f} req/s  "
                    f"p50 {row['p50_ms']:8.2f} ms  p99 {row['p99_ms']:8.2f} ms  errors {row['error_count']}"
                    + (f"  (503: {row['shed_503']})" if row["shed_503"] else ""))


def cold_start(opts: Options, inputs: Inputs, workdir: Path) -> dict[str, Any]:
    """Seconds from spawning ``course-api serve`` to its first 200 from POST /predict/image, ``cold_runs`` times."""
    body, headers = inputs.body("image")
    runs: list[float] = []
    loads: list[float] = []
    for i in range(opts.cold_runs):
        port = free_port()
        server = ServerProcess(f"cold start {i + 1}", course_server_command(port, opts.device), port,
                               env=server_env(opts.device, None), log_path=workdir / f"cold-{i + 1}.log")
        try:
            server.start()
            deadline = server.started_at + 120
            elapsed = None
            while time.perf_counter() < deadline:
                server.check_alive()
                try:
                    status, answer = request(port, "POST", "/predict/image", body, headers, timeout=30)
                except OSError:
                    time.sleep(0.005)
                    continue
                if status == 200:
                    elapsed = time.perf_counter() - server.started_at
                    break
                raise ServerError(f"cold start: POST /predict/image answered {status}: {answer[:300]!r}")
            if elapsed is None:
                raise ServerError(f"cold start: no answer within 120 s.\n{server.log_tail()}")
            runs.append(round(elapsed, 3))
            try:
                status, info = request(port, "GET", "/model")
                if status == 200:
                    loads.append(float(json.loads(info).get("load_seconds", 0.0)))
            except (OSError, ValueError):
                pass
        finally:
            server.stop()
        log(f"[cold start {i + 1}/{opts.cold_runs}] first 200 from POST /predict/image after {elapsed:.2f} s")
    return {"runs_s": runs, "median_s": round(statistics.median(runs), 3), "load_seconds": loads}


def run_benchmark(opts: Options, wrk: str, workdir: Path, naive_side: int) -> dict[str, Any]:
    # The inputs need the course package (torch, scikit-learn: seconds to import): write them in a thread
    # while the first server starts.
    with ThreadPoolExecutor(1) as pool:
        pending_inputs = pool.submit(write_inputs, workdir / "data", naive_side)
        try:
            return _run_benchmark(opts, wrk, workdir, naive_side, pending_inputs)
        finally:
            pending_inputs.cancel()


def _run_benchmark(opts: Options, wrk: str, workdir: Path, naive_side: int, pending_inputs: Future) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": 1,
        "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "benchmarks.run", *_shown_args(sys.argv[1:])]),
        "machine": machine_info(opts.device),
        "config": {
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "concurrency": opts.concurrency,
            "ratio_concurrency": 16 if 16 in opts.concurrency else max(opts.concurrency),
            "scenarios": opts.scenarios,
            "batching": opts.batching,
            "device": opts.device or os.environ.get("COURSE_API_DEVICE") or "auto",
            "wrk_threads": opts.wrk_threads,
            "wrk_timeout_s": opts.timeout,
            "pin": opts.pin,
            "naive_image_side": naive_side,
            "allowed_statuses": list(ALLOWED_STATUSES),
            "text": TEXT,
        },
        "server": {},
        "results": [],
    }
    results: list[dict[str, Any]] = data["results"]
    course = [SCENARIOS[s] for s in opts.scenarios if SCENARIOS[s].server == "course-api"]
    for batching in opts.batching:
        chosen = [s for s in course if s.model or batching == opts.batching[0]]  # health once, with the first
        if chosen:
            measure_server("course-api", lambda port: course_server_command(port, opts.device),
                           server_env(opts.device, batching), chosen, batching, opts, pending_inputs, wrk, workdir,
                           results, data["server"])
    if "naive" in opts.scenarios:
        measure_server("naive", naive_server_command, server_env(opts.device, None), [SCENARIOS["naive"]], None,
                       opts, pending_inputs, wrk, workdir, results, data["server"])
    if opts.cold_runs > 0:
        data["cold_start"] = cold_start(opts, pending_inputs.result(), workdir)
    data["loadavg_after"] = list(os.getloadavg())
    data["errors"] = sum(row["error_count"] for row in results)
    data["ok"] = data["errors"] == 0
    data["checks"] = report.checks(data)
    return data


# ------------------------------------------------------------------------------------------ CLI
def _shown_args(argv: Sequence[str]) -> list[str]:
    """The arguments that change what is measured: without --note (it goes in the text) and --update-readme."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--note":
            skip = True
        elif not (arg.startswith("--note=") or arg == "--update-readme"):
            shown.append(arg)
    return shown


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be whole numbers of at least 1, e.g. 1,16,64")
    return values


def _scenario_list(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    return [n for n in SCENARIOS if n in names]  # fixed order


def _batching_list(text: str) -> list[bool]:
    mapping = {"on": True, "off": False, "1": True, "0": False}
    try:
        values = [mapping[v.strip().lower()] for v in text.split(",") if v.strip()]
    except KeyError:
        raise argparse.ArgumentTypeError("--batching takes on, off or on,off") from None
    return list(dict.fromkeys(values)) or [True]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Load-test the course server with wrk on 127.0.0.1 and compare it with a naive baseline.",
    )
    p.add_argument("--duration", type=int, default=5, help="seconds of measured load per row (default 5)")
    p.add_argument("--warmup", type=int, default=1,
                   help="seconds of load before each row, not measured (default 1; 0: none)")
    p.add_argument("--concurrency", type=_int_list, default=[1, 16, 64], help="open connections, e.g. 1,16,64 (default)")
    p.add_argument("--scenarios", type=_scenario_list, default=list(SCENARIOS),
                   help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)")
    p.add_argument("--batching", type=_batching_list, default=[True, False],
                   help="micro-batching settings to measure the model endpoints with: on, off or on,off (default)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps (sets COURSE_API_DEVICE for every server)")
    p.add_argument("--cold-runs", type=int, default=3,
                   help="cold starts to time; the median is reported (default 3; 0: skip)")
    p.add_argument("--wrk-threads", type=int, default=1,
                   help="wrk threads (default 1: one event loop drives thousands of requests/s and leaves the "
                   "server the most CPU)")
    p.add_argument("--timeout", type=int, default=30, help="wrk's per-request timeout in seconds (default 30)")
    p.add_argument("--pin", action="store_true", help="pin wrk to the last CPU and the server to the others")
    p.add_argument("--naive-side", type=int, default=128,
                   help="side of the grey picture the naive baseline gets as JSON (default 128: the PNG's own size)")
    p.add_argument("--quick", action="store_true", help="2 s per row and one cold start (about a minute and a half)")
    p.add_argument("--output", type=Path, default=None,
                   help="JSON file for the results (default benchmarks/results/<host>-<device>.json; "
                   "a .md goes beside it)")
    p.add_argument("--note", default="", help="a sentence for the Markdown, e.g. what else ran on the machine")
    p.add_argument("--update-readme", action="store_true",
                   help="replace this device's results section in benchmarks/README.md")
    p.add_argument("--render", type=Path, default=None, metavar="JSON",
                   help="measure nothing: print the Markdown for a saved results file (with --update-readme: write it)")
    p.add_argument("--write-data", type=Path, default=None, metavar="DIR",
                   help="measure nothing: write the request bodies to DIR (for running the Lua scripts by hand)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.render:
        data = json.loads(args.render.read_text())
        section = report.markdown(data)
        print(section, end="")
        if args.update_readme:
            log(f"Updated {report.update_readme(section, report.device_type(data))}")
        return 0
    if args.write_data:
        write_inputs(args.write_data, args.naive_side)
        print(f"Wrote the request bodies to {args.write_data}: export BENCH_DATA_DIR={args.write_data.resolve()}")
        return 0
    wrk = find_wrk()
    if not wrk:
        log("wrk is not installed: `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk` (macOS), then run again.")
        return 2
    if args.quick:
        args.duration, args.warmup, args.cold_runs = 2, 1, min(args.cold_runs, 1)
    if args.duration < 1 or args.warmup < 0 or args.cold_runs < 0 or args.wrk_threads < 1:
        parser.error("--duration must be at least 1; --warmup, --cold-runs at least 0; --wrk-threads at least 1")
    opts = Options(
        duration=args.duration, warmup=args.warmup, concurrency=args.concurrency, scenarios=args.scenarios,
        batching=args.batching, device=args.device, cold_runs=args.cold_runs, wrk_threads=args.wrk_threads,
        timeout=args.timeout, pin=args.pin,
    )

    def terminate(signum: int, frame: Any) -> None:  # SIGTERM: unwind, so that the finally blocks stop the servers
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-api-bench-") as tmp:
        try:
            data = run_benchmark(opts, wrk, Path(tmp), args.naive_side)
        except (ServerError, WrkError, OSError) as exc:
            log(f"benchmark failed: {exc}")
            return 1
    data["wall_s"] = round(time.perf_counter() - start, 1)
    if args.note:
        data["config"]["note"] = args.note
    device = report.device_type(data)
    output = args.output or RESULTS_DIR / f"{socket.gethostname()}-{device}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(data, indent=2) + "\n")
    section = report.markdown(data)
    output.with_suffix(".md").write_text(section)
    print(report.console(data))
    print(f"\nWrote {output} and {output.with_suffix('.md')} in {data['wall_s']:.0f} s.")
    if args.update_readme:
        print(f"Updated {report.update_readme(section, device)}")
    if not data["ok"]:
        log(f"{data['errors']} request(s) failed: see the errors column (503s are not counted).")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
