"""The benchmark: the course server under load from wrk on 127.0.0.1, against a naive baseline, in one run.

    python -m benchmarks.run                      # everything (what `make bench` runs), about 3 minutes
    python -m benchmarks.run --quick              # 2 s per row and one cold start
    python -m benchmarks.run --device cuda        # the models on the GPU (COURSE_API_DEVICE for every server)
    python -m benchmarks.run --render results.json --update-readme   # redo the README section from a JSON

What one run does, in this order (one server at a time, never two at once):

1. ``course-api serve`` with micro-batching on (COURSE_API_BATCHING=1): health, image, text and pixels at
   each concurrency;
2. the same with micro-batching off (COURSE_API_BATCHING=0): image, text and pixels;
3. the naive baseline (``benchmarks/naive_app.py`` under uvicorn): a common first attempt;
4. the plain peer (``benchmarks/plain_app.py`` under uvicorn): its health route (plain-health) and the same PNG
   upload as image (plain), twenty lines without micro-batching;
5. ``course-api serve --workers N`` for each ``--workers`` count above 1 (default 2), batching on: health,
   image and text at each concurrency above 1;
6. cold start: a fresh ``course-api serve`` until its first 200 from POST /predict/image, ``--cold-runs`` times.

Before each scenario one request checks that the server answers 200 with the right answer; each row is
``--warmup`` seconds of load that are thrown away, then ``--duration`` seconds that are measured. The
results go to a JSON file, a Markdown file beside it, and the console. The exit status is 1 when a request
failed (socket errors or non-2xx answers other than 503, which the server documents for a full queue), 2 when
wrk is missing or the arguments are wrong, else 0: targets are reported, not asserted.

This module is the command line; ``scenarios`` holds what is sent, ``measure`` runs the servers under wrk,
``machine`` describes the machine and ``report`` turns the JSON into checks, tables and Markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import shlex
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.machine import machine_info
from benchmarks.measure import ALLOWED_STATUSES, Bench, Options, cold_start, log, measure_server, server_env
from benchmarks.scenarios import SCENARIOS, TEXT, Inputs, write_inputs
from benchmarks.servers import ServerError, course_server_command, naive_server_command, plain_server_command
from benchmarks.wrk import WrkError, find_wrk

RESULTS_DIR = Path(__file__).resolve().parent / "results"
WORKER_SCENARIOS = ("health", "image", "text")  # measured again with several worker processes


# ------------------------------------------------------------------------------------------ one run
def run_benchmark(opts: Options, wrk: str, workdir: Path, naive_side: int) -> dict[str, Any]:
    # The inputs need the course package (torch, scikit-learn: seconds to import): written while a server starts.
    with ThreadPoolExecutor(1) as pool:
        pending_inputs: Future[Inputs] = pool.submit(write_inputs, workdir / "data", naive_side)
        try:
            return measure_all(Bench(opts, wrk, workdir, pending_inputs), naive_side)
        finally:
            pending_inputs.cancel()


def measure_all(bench: Bench, naive_side: int) -> dict[str, Any]:
    """Every server in turn, then the cold starts; the whole results document."""
    opts = bench.opts
    data: dict[str, Any] = {
        "schema": 1,
        "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "benchmarks.run", *_shown_args(sys.argv[1:])]),
        "machine": machine_info(opts.device),
        "config": run_config(opts, naive_side),
        "server": bench.server_info,
        "results": bench.results,
    }
    measure_course(bench)
    baselines = (("naive", naive_server_command), ("plain", plain_server_command))
    for server, argv_for in baselines:
        chosen = [SCENARIOS[s] for s in opts.scenarios if SCENARIOS[s].server == server]
        if chosen:
            measure_server(bench, server, argv_for, server_env(opts.device, None), chosen, None)
    measure_workers(bench)
    if opts.cold_runs > 0:
        data["cold_start"] = cold_start(opts, bench.pending_inputs.result(), bench.workdir)
    data["loadavg_after"] = list(os.getloadavg())
    data["errors"] = sum(row["error_count"] for row in bench.results)
    data["ok"] = data["errors"] == 0
    data["checks"] = report.checks(data)
    data["ratios"] = report.ratios(data)
    return data


def measure_course(bench: Bench) -> None:
    """The course server (one process) with each batching setting: health once, with the first."""
    opts = bench.opts
    course = [SCENARIOS[s] for s in opts.scenarios if SCENARIOS[s].server == "course-api"]
    argv_for = functools.partial(course_server_command, device=opts.device)
    for batching in opts.batching:
        chosen = [s for s in course if s.model or batching == opts.batching[0]]
        if chosen:
            env = server_env(opts.device, batching)
            measure_server(bench, "course-api", argv_for, env, chosen, batching, workers=1)


def measure_workers(bench: Bench) -> None:
    """The course server with several worker processes, batching on: health, image and text, at each
    concurrency above 1 (one connection keeps one worker busy at a time)."""
    opts = bench.opts
    chosen = [SCENARIOS[s] for s in opts.scenarios if s in WORKER_SCENARIOS]
    levels = [c for c in opts.concurrency if c > 1] or opts.concurrency
    for workers in (w for w in opts.workers if w > 1):
        if chosen:
            argv_for = functools.partial(course_server_command, device=opts.device, workers=workers)
            env = server_env(opts.device, True)
            measure_server(bench, "course-api", argv_for, env, chosen, True, workers=workers, concurrency=levels)


def run_config(opts: Options, naive_side: int) -> dict[str, Any]:
    return {
        "duration_s": opts.duration,
        "warmup_s": opts.warmup,
        "concurrency": opts.concurrency,
        "ratio_concurrency": 16 if 16 in opts.concurrency else max(opts.concurrency),
        "scenarios": opts.scenarios,
        "batching": opts.batching,
        "workers": opts.workers,
        "device": opts.device or os.environ.get("COURSE_API_DEVICE") or "auto",
        "wrk_threads": opts.wrk_threads,
        "wrk_timeout_s": opts.timeout,
        "pin": opts.pin,
        "naive_image_side": naive_side,
        "allowed_statuses": list(ALLOWED_STATUSES),
        "text": TEXT,
    }


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
        raise argparse.ArgumentTypeError(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return [n for n in SCENARIOS if n in names]  # fixed order


def _workers_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        values = []
    if not values or values[0] < 1 or values[-1] > 64:
        raise argparse.ArgumentTypeError(f"--workers takes counts from 1 to 64, e.g. 1,2 (not {text!r})")
    return values


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
    _add_load_arguments(p)
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON file for the results (default benchmarks/results/<host>-<device>.json; a .md goes beside it)",
    )
    p.add_argument("--note", default="", help="a sentence for the Markdown, e.g. what else ran on the machine")
    p.add_argument(
        "--update-readme", action="store_true", help="replace this device's results section in benchmarks/README.md"
    )
    p.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: print the Markdown for a saved results file (with --update-readme: write it)",
    )
    p.add_argument(
        "--write-data",
        type=Path,
        default=None,
        metavar="DIR",
        help="measure nothing: write the request bodies to DIR (for running the Lua scripts by hand)",
    )
    return p


def _add_load_arguments(p: argparse.ArgumentParser) -> None:
    """What is measured, and how."""
    p.add_argument("--duration", type=int, default=5, help="seconds of measured load per row (default 5)")
    p.add_argument(
        "--warmup", type=int, default=1, help="seconds of load before each row, not measured (default 1; 0: none)"
    )
    p.add_argument(
        "--concurrency", type=_int_list, default=[1, 16, 64], help="open connections, e.g. 1,16,64 (default)"
    )
    p.add_argument(
        "--scenarios",
        type=_scenario_list,
        default=list(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)",
    )
    p.add_argument(
        "--batching",
        type=_batching_list,
        default=[True, False],
        help="micro-batching settings to measure the model endpoints with: on, off or on,off (default)",
    )
    p.add_argument(
        "--workers",
        type=_workers_list,
        default=[1, 2],
        help="course server processes (course-api serve --workers N), e.g. 1,2 (default); for each count above 1 "
        "the server is measured again, batching on: health, image and text at each concurrency above 1",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps (sets COURSE_API_DEVICE for every server)")
    p.add_argument(
        "--cold-runs", type=int, default=3, help="cold starts to time; the median is reported (default 3; 0: skip)"
    )
    p.add_argument(
        "--wrk-threads",
        type=int,
        default=1,
        help="wrk threads (default 1: one event loop drives thousands of requests/s and leaves the "
        "server the most CPU)",
    )
    p.add_argument("--timeout", type=int, default=30, help="wrk's per-request timeout in seconds (default 30)")
    p.add_argument("--pin", action="store_true", help="pin wrk to the last CPU and the server to the others")
    p.add_argument(
        "--naive-side",
        type=int,
        default=128,
        help="side of the grey picture the naive baseline gets as JSON (default 128: the PNG's own size)",
    )
    p.add_argument("--quick", action="store_true", help="2 s per row and one cold start (about a minute and a half)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render, args.update_readme)
    if args.write_data:
        write_inputs(args.write_data, args.naive_side)
        print(f"Wrote the request bodies to {args.write_data}: export BENCH_DATA_DIR={args.write_data.resolve()}")
        return 0
    wrk = find_wrk()
    if not wrk:
        log(
            "wrk is not installed: `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk` (macOS), "
            "then run again."
        )
        return 2
    opts = options(parser, args)

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
    save(data, args.output, args.update_readme)
    if not data["ok"]:
        log(f"{data['errors']} request(s) failed: see the errors column (503s are not counted).")
        return 1
    return 0


def render(path: Path, update_readme: bool) -> int:
    """--render: the Markdown of a saved run, printed (and with --update-readme written into the README)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    section = report.markdown(data)
    print(section, end="")
    if update_readme:
        log(f"Updated {report.update_readme(section, report.device_type(data))}")
    return 0


def options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Options:
    if args.quick:
        args.duration, args.warmup, args.cold_runs = 2, 1, min(args.cold_runs, 1)
    if args.duration < 1 or args.warmup < 0 or args.cold_runs < 0 or args.wrk_threads < 1:
        parser.error("--duration must be at least 1; --warmup, --cold-runs at least 0; --wrk-threads at least 1")
    return Options(
        duration=args.duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        scenarios=args.scenarios,
        batching=args.batching,
        device=args.device,
        cold_runs=args.cold_runs,
        wrk_threads=args.wrk_threads,
        timeout=args.timeout,
        pin=args.pin,
        workers=args.workers,
    )


def save(data: dict[str, Any], output: Path | None, update_readme: bool) -> None:
    """The JSON and the Markdown beside it, the console summary, and with --update-readme the README."""
    device = report.device_type(data)
    output = output or RESULTS_DIR / f"{socket.gethostname()}-{device}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    section = report.markdown(data)
    output.with_suffix(".md").write_text(section, encoding="utf-8")
    print(report.console(data))
    print(f"\nWrote {output} and {output.with_suffix('.md')} in {data['wall_s']:.0f} s.")
    if update_readme:
        print(f"Updated {report.update_readme(section, device)}")


if __name__ == "__main__":
    raise SystemExit(main())
