"""Checks for notebook 05, Docker: pinned requirements, a HEALTHCHECK, a Dockerfile, docker build and run."""

from __future__ import annotations

import json
import sys
from typing import Any

from course_api.checks.registry import exercise, fail


def _lines(text: str) -> list[str]:
    """The non-empty lines of ``text`` that are not comments, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


@exercise("05.1", "a pinned requirements.txt", needs=("requirements_path",))
def _05_1(ns: dict[str, Any]) -> str:
    from importlib.metadata import version
    from pathlib import Path

    from packaging.requirements import InvalidRequirement, Requirement

    path = Path(ns["requirements_path"])
    if path.name != "requirements.txt":
        fail(f"The file is called {path.name!r}; pip and every tutorial expect requirements.txt (with an s).")
    if not path.is_file():
        fail(f"There is no file at {path}: write it first.")
    found = {}
    for line in _lines(path.read_text()):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            fail(f"{line!r} is not a valid requirement line.")
        found[requirement.name.lower()] = requirement
    if "unicorn" in found:
        fail("'unicorn' is not the server: the package is uvicorn.")
    for name in ("fastapi", "uvicorn"):
        if name not in found:
            fail(f"requirements.txt should list {name}.")
        spec = str(found[name].specifier)
        if spec != f"=={version(name)}":
            fail(f"{name} is {spec or 'not pinned'}; pin it exactly to the version you tested with: =={version(name)}.")
    if "standard" not in found["uvicorn"].extras:
        fail("Use uvicorn[standard]: it brings the fast event loop, HTTP parser and --reload support.")
    return "exact pins of what you tested: the image installs the same versions every time."


def _healthcheck_argv(line: str) -> list[str]:
    """The command of a HEALTHCHECK line, as argv; fail if the line misses something."""
    import shlex

    if not line.startswith("HEALTHCHECK"):
        fail("`healthcheck` should be the whole Dockerfile line, starting with HEALTHCHECK.")
    if " CMD " not in f" {line} ":
        fail("A HEALTHCHECK needs CMD followed by the command to run.")
    if "--interval" not in line or "--timeout" not in line:
        fail("Set --interval and --timeout: how often to check, and how long a check may take.")
    command = line.split(" CMD ", 1)[1].strip()
    argv: list[str] = json.loads(command) if command.startswith("[") else shlex.split(command)
    if argv and argv[0] in ("curl", "wget"):
        fail(f"python:3.x-slim images have no {argv[0]}: use python -c with urllib.request.")
    if "8000" not in command:
        fail("Check the port the server listens on inside the container: 8000.")
    return argv


def _run_healthcheck(argv: list[str], port: int) -> int:
    """Run the health check command here against ``port`` instead of 8000; its exit code."""
    import subprocess

    args = [a.replace(":8000", f":{port}") for a in argv]
    if args[0] in ("python", "python3"):
        args[0] = sys.executable
    elif args[0] in ("sh", "/bin/sh"):
        args[-1] = args[-1].replace("python ", f"{sys.executable} ")
    return subprocess.run(args, timeout=30, capture_output=True, check=False).returncode


@exercise("05.2", "a HEALTHCHECK without curl", needs=("healthcheck",))
def _05_2(ns: dict[str, Any]) -> str:
    from fastapi import FastAPI

    from course_api.notebook import serve_in_background

    argv = _healthcheck_argv(" ".join(str(ns["healthcheck"]).split()))
    app = FastAPI()

    @app.get("/")
    def root() -> dict:
        return {"message": "OK"}

    with serve_in_background(app, name="healthcheck") as server:
        if _run_healthcheck(argv, server.port) != 0:
            fail("Your health check command fails against a healthy server: run it by hand in a terminal.")
        port = server.port
    if _run_healthcheck(argv, port) == 0:
        fail("Your health check command succeeds when no server answers: it must exit non-zero then.")
    return "exit 0 when the server answers, non-zero when it does not: Docker marks the container (un)healthy."


def _hadolint(text: str) -> str:
    """What hadolint (installed next to this Python) says about the Dockerfile ``text``; empty when all is well."""
    import subprocess
    import tempfile
    from pathlib import Path

    exe = Path(sys.executable).parent / "hadolint"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Dockerfile"
        path.write_text(text)
        out = subprocess.run([str(exe), str(path)], capture_output=True, text=True, timeout=60, check=False)
    return out.stdout.strip().replace(str(path), "Dockerfile")


@exercise("05.3", "a Dockerfile for a FastAPI app", needs=("dockerfile",))
def _05_3(ns: dict[str, Any]) -> str:
    text = str(ns["dockerfile"])
    steps = [[*line.split(None, 1), ""] for line in _lines(text.replace("\\\n", " "))]
    words = [s[0].upper() for s in steps]
    if not words or words[0] != "FROM":
        fail("A Dockerfile starts with FROM: e.g. FROM python:3.12-slim.")
    base = steps[0][1]
    if "slim" not in base or not base.startswith("python:3.1"):
        fail(f"The base is {base!r}: use a current slim Python image such as python:3.12-slim.")
    warnings = _hadolint(text)
    if warnings:
        fail(f"hadolint has remarks:\n{warnings}")
    copies = [s[1] for s in steps if s[0].upper() == "COPY"]
    if not copies or "requirements.txt" not in copies[0]:
        fail(
            "Copy requirements.txt first and install it before copying the code: then a code change "
            "does not reinstall every dependency."
        )
    if "USER" not in words:
        fail("Add a non-root user (useradd) and switch to it with USER: a server should never run as root.")
    if "HEALTHCHECK" not in words:
        fail("Add a HEALTHCHECK (exercise 05.2).")
    cmd_args = next((s[1] for s in steps if s[0].upper() == "CMD"), "")
    try:
        cmd = json.loads(cmd_args)
    except json.JSONDecodeError:
        fail('Write CMD in exec form, a JSON list: CMD ["uvicorn", "app.main:app", ...].')
    if "--host" not in cmd or cmd[cmd.index("--host") + 1] != "0.0.0.0":
        fail("Inside a container the server must listen on 0.0.0.0, or `docker run -p` cannot reach it.")
    exposed = next((s[1].strip() for s in steps if s[0].upper() == "EXPOSE"), None)
    if "--port" not in cmd or cmd[cmd.index("--port") + 1] != exposed:
        fail(f"CMD's --port should be the port you EXPOSE ({exposed}), the one `docker run -p HOST:{exposed}` maps.")
    return "hadolint is happy, dependencies are cached, it runs as a user, and -p can reach it."


@exercise("05.4", "build and run with matching names", needs=("build_command", "run_command"))
def _05_4(ns: dict[str, Any]) -> str:
    build, run = list(ns["build_command"]), list(ns["run_command"])
    if build[:2] != ["docker", "build"] or "-t" not in build:
        fail("build_command should be a list like ['docker', 'build', '-t', NAME, FOLDER].")
    if run[:2] != ["docker", "run"]:
        fail("run_command should be a list starting with ['docker', 'run', ...].")
    image = build[build.index("-t") + 1]
    if run[-1] != image:
        fail(
            f"You build {image!r} but run {run[-1]!r} (the draft's mistake): the last argument of docker run "
            "is the image to start, and must be the name you built."
        )
    if "-p" not in run:
        fail("Without -p the container's port is not reachable from your machine: add -p 8080:8000.")
    if run[run.index("-p") + 1] != "8080:8000":
        fail(
            f"-p {run[run.index('-p') + 1]}: the format is HOST:CONTAINER, "
            "so 8080 on your machine to 8000 inside is 8080:8000."
        )
    if "-d" not in run or "--name" not in run:
        fail("Run it in the background (-d) and give the container a --name, so docker logs/stop can find it.")
    return f"docker run starts the image {image!r} you built, reachable at http://127.0.0.1:8080."
