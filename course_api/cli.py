"""The ``course-api`` command (also ``python -m course_api``): serve, train, doctor."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    from course_api import __version__

    parser = argparse.ArgumentParser(prog="course-api", description="The Creating APIs course: server, models, checks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the course server with uvicorn (127.0.0.1:8000)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument(
        "--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: COURSE_API_DEVICE or auto)"
    )
    serve.add_argument("--reload", action="store_true", help="restart when the code changes (development)")
    workers = "server processes on one port, each with its own models (default: COURSE_API_WORKERS or 1)"
    serve.add_argument("--workers", type=int, default=None, help=workers + "; not with --reload")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--no-access-log", action="store_true", help="no line per request (faster under load)")
    serve.add_argument(
        "--batching",
        choices=["on", "off"],
        default=None,
        help="micro-batch model calls (default: COURSE_API_BATCHING or on); off runs every request alone",
    )
    serve.set_defaults(handler=cmd_serve)

    train = commands.add_parser("train", help="train the course's models and write their safetensors weights")
    train.add_argument("--device", default=None, help="device to train on (default: COURSE_API_DEVICE or auto)")
    train.add_argument("--model", choices=["all", "digits", "sentiment", "generator"], default="all")
    train.add_argument("--output", type=Path, default=None, help="folder for the weights (default: the package's)")
    train.add_argument("--epochs", type=int, default=40, help="epochs for the digit model (default 40)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.set_defaults(handler=cmd_train)

    build = commands.add_parser("build-exercises", help="write exercises/ from the solutions/ notebooks")
    build.add_argument("--check", action="store_true", help="change nothing; exit 1 if exercises/ is out of date")
    build.add_argument("--solutions", type=Path, default=Path("solutions"), help="folder of solution notebooks")
    build.add_argument("--exercises", type=Path, default=Path("exercises"), help="folder to write the exercises to")
    build.set_defaults(handler=cmd_build_exercises)

    site = commands.add_parser("build-site", help="build the course website into site/ (nothing is executed)")
    site.add_argument(
        "--solutions",
        choices=["omit", "collapsed"],
        default="omit",
        help="omit: the worksheets without answers (default); collapsed: with the worked answers, folded",
    )
    site.add_argument("--output", type=Path, default=Path("site"), help="folder for the website (default: site)")
    site.set_defaults(handler=cmd_build_site)

    _add_run_notebooks(commands)
    _add_grade(commands)

    doctor = commands.add_parser("doctor", help="check the environment: versions, device, weights, Jupyter kernel")
    doctor.add_argument(
        "--details", action="store_true", help="also show the technical lines (CPU threads, process ties, docs assets)"
    )
    doctor.set_defaults(handler=cmd_doctor)
    return parser


def _add_run_notebooks(commands: Any) -> None:
    run = commands.add_parser("run-notebooks", help="execute every walkthrough and solution; write a summary")
    run.add_argument("paths", nargs="*", type=Path, help="notebooks or folders (default: notebooks/ and solutions/)")
    run.add_argument("--device", default=None, help="device parameter for every notebook (default: auto)")
    run.add_argument("--kernel", default="course-api", help="Jupyter kernel to run them in (default: course-api)")
    run.add_argument(
        "--output", type=Path, default=None, help="folder for executed copies and summary (default: runs/<time>)"
    )
    run.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra notebook parameter, repeatable, e.g. -p base_url=None",
    )
    run.set_defaults(handler=cmd_run_notebooks)


def _add_grade(commands: Any) -> None:
    grade = commands.add_parser(
        "grade", help="grade a class's worksheets: SUBMISSIONS/<student>/NN_*.ipynb -> grades.csv, feedback"
    )
    grade.add_argument("submissions", type=Path, help="folder with a folder per student, each with worksheets")
    grade.add_argument("--output", type=Path, default=Path("grades"), help="folder for the results (default grades)")
    grade.add_argument("--jobs", type=int, default=None, help="worksheets graded at once (default: usable cores)")
    grade.add_argument("--timeout", type=float, default=120.0, help="seconds one worksheet may run (default 120)")
    grade.add_argument("--memory", type=int, default=2048, help="MiB one worksheet's kernel may use (default 2048)")
    grade.add_argument("--course", type=Path, default=None, help="course folder with exercises/ (default: found)")
    grade.set_defaults(handler=cmd_grade)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from course_api.server.device import DeviceUnavailableError, resolve_device
    from course_api.server.settings import Settings, SettingsError
    from course_api.system.ports import PortInUseError, bind_socket

    given = {"host": args.host, "port": args.port, "workers": args.workers, "device": args.device}
    if args.batching:
        given["batching"] = args.batching == "on"
    try:
        settings = Settings.from_env(**given)
        choice = resolve_device(args.device)  # None: COURSE_API_DEVICE decides, and the reason names it
    except (SettingsError, DeviceUnavailableError) as exc:
        print(f"course-api serve: {exc}", file=sys.stderr)
        return 2
    if args.reload and settings.workers > 1:
        print(f"course-api serve: {_reload_with_workers(args, settings.workers)}", file=sys.stderr)
        return 2
    try:
        bind_socket(settings.host, settings.port).close()
    except PortInUseError as exc:
        advice = "Stop the other server (another terminal, or a notebook's), or choose another port: "
        print(f"course-api serve: {exc.strerror}. {advice}course-api serve --port {settings.port + 1}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. a host name that does not resolve
        where = f"{settings.host}:{settings.port}"
        print(f"course-api serve: cannot listen on {where}: {exc.strerror or exc}. Check --host.", file=sys.stderr)
        return 1
    workers = f"; {settings.workers} worker processes" if settings.workers > 1 else ""
    where = f"http://{settings.host}:{settings.port}"
    print(f"Course server on {where}  (device {choice}{workers}; docs at /docs; Ctrl+C stops)")
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Listening on {settings.host}: other machines on the network can reach this server.", file=sys.stderr)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: exit 0 then, as after Ctrl+C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if settings.workers > 1:
            return _serve_workers(settings, args)
        uvicorn.run(reload=args.reload, **_uvicorn_options(settings, args, in_this_process=not args.reload))
    except OSError as exc:
        print(f"course-api serve: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def _uvicorn_options(settings: Any, args: argparse.Namespace, *, in_this_process: bool = False) -> dict[str, Any]:
    """What uvicorn gets for one process or for several: the app, the address, logging and a graceful stop.

    The app gets the settings validated here: in this process, the app itself, made from them; in the processes
    that uvicorn starts (workers, the reloader's), a factory that reads them, handed over whole as JSON."""
    from course_api.server.app import SERVE_SETTINGS, app_from_serve, create_app

    if in_this_process:
        app: Any = create_app(settings)
    else:
        os.environ[SERVE_SETTINGS] = settings.handover_json()  # the processes uvicorn starts inherit it
        app = f"{app_from_serve.__module__}:{app_from_serve.__name__}"
    return {
        "app": app,
        "factory": not in_this_process,
        "host": settings.host,
        "port": settings.port,
        "log_level": args.log_level,
        "access_log": not args.no_access_log,
        "timeout_graceful_shutdown": 5,
    }


def _reload_with_workers(args: argparse.Namespace, workers: int) -> str:
    given = f"--workers {workers}" if args.workers is not None else f"COURSE_API_WORKERS={workers}"
    return (
        f"--reload and {given} do not go together: the reloader restarts one server process. Use --reload "
        "while you change the code, and several workers to serve on several cores."
    )


def _serve_workers(settings: Any, args: argparse.Namespace) -> int:
    """``settings.workers`` uvicorn processes answering on one socket, each with its own models and micro-batcher.

    The socket is ``ports.bind_socket``'s, not uvicorn's own: only on it does asyncio's loop (Windows: no
    uvloop) set TCP_NODELAY on each connection (docs/ARCHITECTURE.md, "Sockets"). Each worker keeps torch's
    threads to its share of the usable cores (``OMP_NUM_THREADS``, unless it is set already). uvicorn's
    supervisor stops the workers on SIGINT or SIGTERM and starts a new one when one dies."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from course_api.system.cpu import worker_thread_variables
    from course_api.system.ports import bind_socket

    os.environ.update(worker_thread_variables(settings.workers))  # the workers start with this environment
    config = uvicorn.Config(workers=settings.workers, **_uvicorn_options(settings, args))
    sock = bind_socket(settings.host, settings.port)
    try:
        supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
    finally:
        sock.close()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        print("course-api serve: a worker process could not start; its error is above.", file=sys.stderr)
        return 1
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import time

    from course_api.server.device import DeviceUnavailableError, resolve_device
    from course_api.server.settings import default_weights_dir
    from course_api.server.training import train_all

    try:
        choice = resolve_device(args.device)
    except (DeviceUnavailableError, ValueError) as exc:
        print(f"course-api train: {exc}", file=sys.stderr)
        return 2
    output = args.output or default_weights_dir()
    print(f"Training on {choice}; weights go to {output}")
    start = time.perf_counter()
    progress = not args.no_progress
    results = train_all(output, choice.device, which=args.model, progress=progress, digits_epochs=args.epochs)
    for result in results:
        metrics = ", ".join(
            f"{k} {v:.2%}" if "accuracy" in k else f"{k} {v:.3f}"
            for k, v in result.card.items()
            if "accuracy" in k or k.endswith("bits_per_char")
        )
        print(f"  {result.name:<9} {result.seconds:5.1f} s  {metrics}  -> {result.path}")
    print(f"Done in {time.perf_counter() - start:.1f} s. Model card: {output / 'MODEL_CARD.md'}")
    return 0


def cmd_build_exercises(args: argparse.Namespace) -> int:
    from course_api.workbook.exercises import MarkerError, build_all, problems

    if not args.solutions.is_dir():
        where = "run it from the course folder"
        print(f"course-api build-exercises: no folder {args.solutions} ({where})", file=sys.stderr)
        return 2
    try:
        changes = build_all(args.solutions, args.exercises, check=args.check)
    except MarkerError as exc:
        print(f"course-api build-exercises: {exc}", file=sys.stderr)
        return 2
    for change in changes:
        print(change)
    bad = problems(changes)
    if bad:
        advice = "run 'make exercises' and commit the result"
        print(f"{len(bad)} exercise notebook(s) out of date: {advice}.", file=sys.stderr)
        return 1
    return 0


def cmd_build_site(args: argparse.Namespace) -> int:
    import time

    from course_api.workbook.website import SiteError, build_site

    start = time.perf_counter()
    try:
        pages = build_site(Path.cwd(), args.output, solutions=args.solutions)
    except SiteError as exc:
        print(f"course-api build-site: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    print(f"Website: {len(pages)} pages in {args.output}/ in {seconds:.1f} s (solutions: {args.solutions}).")
    print(f"Open {args.output / 'index.html'}, or serve it (search then shows excerpts too):")
    print(f"  {Path(sys.executable).name} -m http.server 8080 --bind 127.0.0.1 -d {args.output}", end="")
    print("   (then open http://127.0.0.1:8080/)")
    return 0


def cmd_run_notebooks(args: argparse.Namespace) -> int:
    import time

    from course_api.server.device import DeviceUnavailableError
    from course_api.workbook.runner import discover, parse_parameter, run_notebooks

    try:
        parameters = dict(parse_parameter(p) for p in args.parameter)
    except ValueError as exc:
        print(f"course-api run-notebooks: {exc}", file=sys.stderr)
        return 2
    root = Path.cwd()
    paths: list[Path] = discover(root) if not args.paths else []
    for given in args.paths:
        path = given.resolve()
        paths += sorted(path.glob("[0-9][0-9]_*.ipynb")) if path.is_dir() else [path]
    if not paths:
        print("course-api run-notebooks: no notebooks found (run it from the course folder)", file=sys.stderr)
        return 2
    output = args.output or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    try:
        summary = run_notebooks(paths, output, device=args.device, parameters=parameters, root=root, kernel=args.kernel)
    except (DeviceUnavailableError, ValueError) as exc:
        print(f"course-api run-notebooks: {exc}", file=sys.stderr)
        return 2
    print(f"\nSummary: {output / 'summary.md'} (and summary.json); executed copies in {output}")
    for failure in summary.failed:
        print(f"FAILED: {failure.notebook}, cell {failure.cell}: {failure.error}", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_grade(args: argparse.Namespace) -> int:
    from course_api.system.cpu import detect_usable_cpus

    try:
        import ipykernel  # noqa: F401
        import jupyter_client  # noqa: F401

        from course_api.workbook.grading import Limits, grade_class
    except ImportError as exc:  # jupyter_client and ipykernel come with the lab extra
        print(f"course-api grade: {exc}. Install the course with its lab extra: make setup", file=sys.stderr)
        return 2
    if not args.submissions.is_dir():
        print(f"course-api grade: no folder {args.submissions} (it should hold a folder per student)", file=sys.stderr)
        return 2
    if (args.jobs is not None and args.jobs < 1) or args.timeout <= 0 or args.memory < 256:
        print("course-api grade: --jobs must be 1 or more, --timeout above 0, --memory 256 or more", file=sys.stderr)
        return 2
    loose = sorted(p.name for p in args.submissions.glob("*.ipynb"))
    if loose and not any(p.is_dir() for p in args.submissions.iterdir()):
        where = f"{args.submissions}/<student>/{loose[0]}"
        print(
            f"course-api grade: {args.submissions} holds notebooks, not a folder per student: move them to {where}",
            file=sys.stderr,
        )
        return 2
    jobs = args.jobs or detect_usable_cpus().cores
    limits = Limits(timeout=args.timeout, memory_mb=args.memory)
    print(f"Grading {args.submissions} with {jobs} job(s), {args.timeout:g} s and {args.memory} MiB per worksheet")
    result = grade_class(args.submissions, args.output, jobs=jobs, limits=limits, course=args.course)
    totals = [student.total for student in result.students]
    mean = f", mean {sum(totals) / len(totals):.1f} points" if totals else ""
    print(f"{len(result.students)} student(s), {len(result.sheets)} worksheet(s) in {result.seconds:.1f} s{mean}.")
    print(f"Grades: {args.output / 'grades.csv'} and grades.json; feedback: {args.output / 'feedback'}/")
    for trouble in result.grader_trouble:
        print(f"NOT GRADED (the grader's problem, not the student's): {trouble}", file=sys.stderr)
    return 1 if result.grader_trouble else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from course_api.workbook.doctor import all_checks, details_command

    details = bool(getattr(args, "details", False))
    checks = all_checks()
    problems = 0
    for check in (c for c in checks if c.shown(details)):
        mark = "ok " if check.ok else "!! "
        print(f"{mark} {check.name:<16} {check.detail}")
        if not check.ok:
            problems += 1
            if check.fix:
                print(f"    -> {check.fix}")
    print("\nAll good." if not problems else f"\n{problems} problem(s): see the '->' lines above.")
    hidden = sum(not c.shown(details) for c in checks)
    if hidden:
        print(f"Technical details ({hidden} more line{'s' if hidden != 1 else ''}): {details_command()}")
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
