"""Checks for notebook 05, Docker: pinned requirements, a HEALTHCHECK, a Dockerfile, docker build and run."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from course_api.checks.registry import exercise, fail

NOTEBOOK = "notebooks/05_docker.ipynb"


def _lines(text: str) -> list[str]:
    """The non-empty lines of ``text`` that are not comments, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


# ---------------------------------------------------------------------------------------- 05.1 requirements
def _requirements_file(ns: dict[str, Any]) -> Path:
    """The file ``requirements_path`` names; fail unless it is docker_exercise/requirements.txt and exists."""
    value = ns["requirements_path"]
    if not isinstance(value, str | Path):
        fail(f"`requirements_path` should be the file's path (a Path), but it is a {type(value).__name__}.")
    if isinstance(value, str) and ("\n" in value or "==" in value):
        fail("`requirements_path` holds the file's text; it should be the file's path: work / 'requirements.txt'.")
    path = Path(value)
    if path.name != "requirements.txt":
        fail(f"The file is called {path.name!r}; pip and every tutorial expect requirements.txt (with an s).")
    if not path.is_file():
        fail(f"There is no file at {path}: write the text into it with requirements_path.write_text(...).")
    work = ns.get("work")
    if isinstance(work, str | Path) and path.resolve().parent != Path(work).resolve():
        fail(
            f"requirements.txt is in {path.resolve().parent}, but docker build only sees the build context, "
            f"{Path(work).as_posix()}/: write the file there, next to app/ (work / 'requirements.txt')."
        )
    return path


def _requirements(text: str) -> dict[str, Any]:
    """Requirement name -> parsed requirement, for each line of ``text``; fail on a line pip cannot read."""
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, Any] = {}
    for line in _lines(text):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            if "{" in line:
                fail(
                    f"The file holds {line!r}: the {{...}} was not filled in. Put an f before the string's quote "
                    "(an f-string) so that Python writes the version number."
                )
            if line.count("==") > 1:
                fail(f"{line!r} holds two requirements on one line: end each requirement with a newline, \\n.")
            fail(f"{line!r} is not a requirement pip can read: write NAME==VERSION, one per line.")
        found[requirement.name.lower()] = requirement
    return found


@exercise(
    "05.1",
    "a pinned requirements.txt",
    needs=("requirements_path",),
    points=1,
    hints=(
        f"Read section 1 of {NOTEBOOK}, 'Pin the dependencies: requirements.txt'. Which file name does pip expect, "
        "which two packages does the app need, and how do you read the installed version of a package?",
        "A pin is NAME==VERSION, one requirement per line. The uvicorn line asks for the extra [standard]; the "
        "extra has no version of its own, so its pin is uvicorn's. Read each version with "
        "importlib.metadata.version(...) instead of typing it, and write the file in the folder `work`.",
        "Build the text with f-strings, e.g. f\"fastapi=={version('fastapi')}\\n\", then write it with "
        "requirements_path.write_text(text), where requirements_path = work / 'requirements.txt'.",
    ),
)
def _05_1(ns: dict[str, Any]) -> str:
    from importlib.metadata import version

    found = _requirements(_requirements_file(ns).read_text(encoding="utf-8", errors="replace"))
    if "unicorn" in found:
        fail("'unicorn' is not the server (it is a CPU emulator on PyPI): the package is uvicorn.")
    for name in ("fastapi", "uvicorn"):
        if name not in found:
            fail(f"requirements.txt should list {name}" + (" as uvicorn[standard]." if name == "uvicorn" else "."))
        spec = str(found[name].specifier)
        if spec != f"=={version(name)}":
            fail(
                f"{name} is {spec or 'not pinned'}: pin it exactly, with ==, to the version this kernel runs "
                f"(version({name!r}) says {version(name)}), so the image installs what you tested."
            )
    if "standard" not in found["uvicorn"].extras:
        fail("Write uvicorn[standard]: the extra brings the fast event loop, the HTTP parser and --reload support.")
    return "exact pins of what you tested: the image installs the same versions every time."


# ------------------------------------------------------------------------------------------ 05.2 HEALTHCHECK
def _healthcheck_command(line: str) -> tuple[list[str] | None, str]:
    """(argv of the exec form, or None for the shell form; the command text) of a HEALTHCHECK line."""
    if not line.startswith("HEALTHCHECK"):
        fail("`healthcheck` should be the whole Dockerfile line, starting with HEALTHCHECK.")
    if " CMD " not in f" {line} ":
        fail("A HEALTHCHECK needs CMD followed by the command to run: HEALTHCHECK --interval=... CMD [...].")
    if "--interval" not in line or "--timeout" not in line:
        fail(
            "Set --interval and --timeout (for example --interval=30s --timeout=5s): how often Docker checks, "
            "and how long one check may take."
        )
    command = line.split(" CMD ", 1)[1].strip()
    if not command.startswith("["):
        return None, command
    try:
        argv = json.loads(command)
    except json.JSONDecodeError:
        fail(
            "After CMD, the exec form is a JSON list: double quotes around every item (\"python\", not 'python'), "
            "and single quotes for the strings inside the Python code."
        )
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        fail('After CMD, the exec form is a JSON list of strings: ["python", "-c", "..."].')
    return argv, command


def _healthcheck_problems(command: str) -> None:
    """Fail for a command that cannot work in a python:3.x-slim image, or asks the wrong port."""
    tool = re.search(r"\b(curl|wget)\b", command)
    if tool:
        fail(f"python:3.x-slim images have no {tool[1]}: use python -c with urllib.request instead.")
    library = re.search(r"\b(requests|httpx)\b", command)
    if library:
        fail(
            f"The image has only what requirements.txt installs, and {library[1]} is not in it: use urllib.request, "
            "which comes with Python."
        )
    if "8000" not in command:
        fail("Ask the port the server listens on inside the container: http://127.0.0.1:8000/.")


def _shell_words(command: str) -> list[str]:
    """The shell form's command as a program and its arguments, where there is no /bin/sh to run it (Windows):
    split as a shell would, a final ``|| exit 1`` dropped (it only turns any failure into 1)."""
    import shlex

    command = re.sub(r"\s*\|\|\s*exit\s+1\s*;?\s*$", "", command)
    try:
        words = shlex.split(command)
    except ValueError as exc:
        fail(f"Your health check command cannot be split into words ({exc}): check its quotes.")
    if not words or any(word in ("|", "||", "&&", ";", ">", "<", "&") for word in words) or "$" in command:
        fail(
            "This computer has no /bin/sh to run the shell form of your health check (a HEALTHCHECK whose CMD is "
            'not a JSON list): write it in exec form, CMD ["python", "-c", "..."], which needs no shell.'
        )
    return words


def _healthcheck_args(argv: list[str] | None, command: str, folder: str) -> list[str]:
    """The health check as a program and its arguments, with ``python`` and ``python3`` this Python: through
    symbolic links in ``folder``, put first on PATH; on Windows, which makes such links only for administrators,
    by naming this Python instead."""
    import os

    if os.name == "posix":
        for name in ("python", "python3"):
            os.symlink(sys.executable, Path(folder) / name)
        return argv if argv is not None else ["/bin/sh", "-c", command]
    args = argv if argv is not None else _shell_words(command)
    return [sys.executable, *args[1:]] if args and args[0] in ("python", "python3") else args


def _run_healthcheck(argv: list[str] | None, command: str, port: int) -> tuple[int, str]:
    """Run the health check here, against ``port`` instead of 8000, with this Python as `python`: (exit code,
    the last line it printed)."""
    import os
    import subprocess
    import tempfile

    def local(text: str) -> str:
        return re.sub(r"(127\.0\.0\.1|localhost|0\.0\.0\.0):8000\b", f"127.0.0.1:{port}", text)

    with tempfile.TemporaryDirectory() as folder:
        args = _healthcheck_args([local(a) for a in argv] if argv is not None else None, local(command), folder)
        env = {**os.environ, "PATH": folder + os.pathsep + os.environ.get("PATH", ""), "PYTHONIOENCODING": "utf-8"}
        try:
            done = subprocess.run(
                args,
                timeout=30,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                check=False,
                env=env,
            )
        except subprocess.TimeoutExpired:
            fail("Your health check command ran for more than 30 s: give urlopen a timeout=, below --timeout.")
        except OSError as exc:
            fail(f"Your health check command cannot start: {exc}.")
    said = (done.stderr or done.stdout).strip().splitlines()
    return done.returncode, said[-1] if said else ""


@exercise(
    "05.2",
    "a HEALTHCHECK without curl",
    needs=("healthcheck",),
    points=2,
    hints=(
        f"Read section 3 of {NOTEBOOK}, 'The Dockerfile': the HEALTHCHECK row of the table, and section 7, which "
        "runs the health check locally. What does Docker do with the command's exit code?",
        "Docker runs the command after CMD every --interval and calls the container healthy when it exits with 0. "
        "Slim images have no curl, but they have Python: `python -c CODE` exits with 1 when CODE raises, and "
        "urllib.request.urlopen raises when nothing answers. Write CMD in exec form, a JSON list.",
        'The line has the shape HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "..."], where '
        "the code imports urllib.request and opens 'http://127.0.0.1:8000/' with a timeout shorter than --timeout.",
    ),
)
def _05_2(ns: dict[str, Any]) -> str:
    from fastapi import FastAPI

    from course_api.notebook import serve_in_background

    if not isinstance(ns["healthcheck"], str):
        fail(f"`healthcheck` should be a string, the whole HEALTHCHECK line, not a {type(ns['healthcheck']).__name__}.")
    argv, command = _healthcheck_command(" ".join(ns["healthcheck"].replace("\\\n", " ").split()))
    _healthcheck_problems(command)
    app = FastAPI()

    @app.get("/")
    def root() -> dict:
        return {"message": "OK"}

    with serve_in_background(app, name="healthcheck") as server:
        code, said = _run_healthcheck(argv, command, server.port)
        if code != 0:
            fail(
                f"Your health check exits with {code} while the server is healthy (it answers GET / with 200)"
                + (f"; it said: {said}" if said else "")
                + ". Run the same command in a terminal next to a running server to see why."
            )
        port = server.port
    if _run_healthcheck(argv, command, port)[0] == 0:
        fail(
            "Your health check exits with 0 when no server answers: it must fail then (an exception in python -c "
            "exits with 1), or Docker calls a dead server healthy."
        )
    return "exit 0 when the server answers, non-zero when it does not: Docker marks the container (un)healthy."


# ------------------------------------------------------------------------------------------- 05.3 Dockerfile
def _hadolint(text: str) -> str:
    """What hadolint (installed next to this Python) says about the Dockerfile ``text``; empty when all is well."""
    import subprocess
    import tempfile

    exe = Path(sys.executable).parent / "hadolint"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Dockerfile"
        path.write_text(text, encoding="utf-8")
        out = subprocess.run(
            [str(exe), "--no-color", str(path)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=60,
            check=False,
        )
    return out.stdout.strip().replace(str(path), "Dockerfile")


def _steps(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) for each instruction of a Dockerfile, continuation lines joined."""
    steps = []
    for line in _lines(text.replace("\\\n", " ")):
        kind, *args = line.split(None, 1)
        steps.append((kind.upper(), args[0].strip() if args else ""))
    return steps


def _option(args: list[str], name: str) -> str | None:
    """The value of ``name`` in ``args`` (``--port 8000`` or ``--port=8000``); None when it is not there."""
    for index, arg in enumerate(args):
        if arg == name:
            return args[index + 1] if index + 1 < len(args) else ""
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def _layer_order(steps: list[tuple[str, str]]) -> None:
    """Fail unless requirements.txt is copied and installed before the code, and USER follows the installs."""
    kinds = [kind for kind, _ in steps]
    copies = [i for i, (kind, _) in enumerate(steps) if kind == "COPY"]
    installs = [i for i, (kind, args) in enumerate(steps) if kind == "RUN" and "pip install" in args]
    if not copies or "requirements.txt" not in steps[copies[0]][1]:
        fail(
            "Copy requirements.txt first (COPY requirements.txt .) and install it before copying the code: then a "
            "code change reuses the cached pip install layer instead of reinstalling every dependency."
        )
    if not installs:
        fail("Install the requirements: RUN pip install --no-cache-dir -r requirements.txt, after copying them.")
    if len(copies) < 2:
        fail("Copy the code too (COPY app ./app), after installing the requirements.")
    if installs[0] > copies[1]:
        fail(
            "RUN pip install comes after the code is copied: install the requirements before copying the code, so "
            "that a code change does not reinstall every dependency (layer caching)."
        )
    if "USER" not in kinds:
        fail("Add a non-root user (RUN useradd ...) and switch to it with USER: a server should never run as root.")
    user = kinds.index("USER")
    if steps[user][1] in ("root", "0"):
        fail("USER root runs the server as root: create a user with useradd and switch to its number, USER 10001.")
    if user < installs[0] or any(kind == "RUN" and "useradd" in args for kind, args in steps[user:]):
        fail(
            "USER comes before a RUN that needs root (pip install, useradd): the build would fail with "
            "'Permission denied'. Switch to the user after installing."
        )


def _command(steps: list[tuple[str, str]]) -> list[str]:
    """The CMD of ``steps`` as a list; fail unless it is in exec form and starts uvicorn with app.main:app."""
    cmd_args = next((args for kind, args in reversed(steps) if kind == "CMD"), None)
    if cmd_args is None:
        fail('Add CMD, the command a container runs: CMD ["uvicorn", "app.main:app", ...].')
    try:
        cmd = json.loads(cmd_args)
    except json.JSONDecodeError:
        cmd = None
    if not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
        fail('Write CMD in exec form, a JSON list with double quotes: CMD ["uvicorn", "app.main:app", ...].')
    if "app.main:app" not in cmd:
        fail(
            f"CMD {cmd} does not start app.main:app: the app is the object `app` in app/main.py (under WORKDIR), "
            "so uvicorn's import string is app.main:app."
        )
    return cmd


@exercise(
    "05.3",
    "a Dockerfile for a FastAPI app",
    needs=("dockerfile",),
    points=3,
    hints=(
        f"Read section 3 of {NOTEBOOK}, 'The Dockerfile': its table explains each instruction, and 'Layer caching' "
        "says in which order they go. Section 5 shows what hadolint complains about.",
        "The order: a slim Python base, create the user early (that layer never changes), WORKDIR, copy only "
        "requirements.txt and pip install it (without pip's cache), then copy the code and switch to the user by "
        "number, EXPOSE the port, your HEALTHCHECK, and CMD as a JSON list. Inside a container, uvicorn must listen "
        "on every interface.",
        "Key lines: RUN useradd --create-home --uid 10001 appuser right after FROM; COPY requirements.txt . then "
        "RUN pip install --no-cache-dir -r requirements.txt, then COPY app ./app and USER 10001; and "
        'CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]. Put {healthcheck} in an f-string.',
    ),
)
def _05_3(ns: dict[str, Any]) -> str:
    text = ns["dockerfile"]
    if not isinstance(text, str):
        fail(f"`dockerfile` should be the Dockerfile's text, a string, not a {type(text).__name__}.")
    steps = _steps(text)
    if not steps or steps[0][0] != "FROM":
        fail("A Dockerfile starts with FROM: e.g. FROM python:3.12-slim.")
    base = steps[0][1]
    if "slim" not in base or not base.startswith("python:3.1"):
        fail(f"The base is {base!r}: use a current slim Python image such as python:3.12-slim.")
    warnings = _hadolint(text)
    if warnings:
        fail(
            f"hadolint has remarks:\n{warnings}\nEach names the line (Dockerfile:N), the rule and what to do "
            f"instead; section 5 of {NOTEBOOK} explains the usual ones."
        )
    _layer_order(steps)
    kinds = [kind for kind, _ in steps]
    if "EXPOSE" not in kinds:
        fail("Add EXPOSE 8000: it documents the port the server listens on in the container.")
    exposed = steps[kinds.index("EXPOSE")][1]
    if "HEALTHCHECK" not in kinds:
        fail("Add your HEALTHCHECK line (exercise 05.2): put {healthcheck} into the f-string.")
    cmd = _command(steps)
    if _option(cmd, "--host") != "0.0.0.0":
        fail(
            "Inside a container the server must listen on 0.0.0.0 (--host 0.0.0.0), or `docker run -p` cannot "
            "reach it: 127.0.0.1 there is the container's own loopback."
        )
    port = _option(cmd, "--port")
    if port != "8000" or exposed != "8000":
        fail(
            f"CMD's --port is {port} and EXPOSE says {exposed}: both should be 8000, the port your HEALTHCHECK asks "
            "and `docker run -p 8080:8000` maps."
        )
    return "hadolint is happy, dependencies are cached, it runs as a user, and -p can reach it."


# --------------------------------------------------------------------------------------- 05.4 build and run
# docker options that take a value (the next argument); every other option is a flag.
_VALUE_OPTIONS = {
    "-t", "--tag", "-f", "--file", "--build-arg", "--platform", "--target", "-p", "--publish", "--name", "-e",
    "--env", "--env-file", "-v", "--volume", "--mount", "--gpus", "--network", "--restart", "-u", "--user", "-w",
    "--workdir", "-m", "--memory", "--cpus", "--entrypoint", "-h", "--hostname", "-l", "--label",
}  # fmt: skip


def _argv(value: Any, name: str, example: str) -> list[str]:
    """``value`` as a list of strings (Paths allowed); fail when it is a string or holds a word with a space."""
    if isinstance(value, str):
        fail(
            f"`{name}` is one string; write it as a list with one item per word: {example}. "
            "(shlex.split(text) turns a command line into such a list.)"
        )
    if not isinstance(value, list | tuple) or not all(isinstance(a, str | Path) for a in value):
        fail(f"`{name}` should be a list of strings like {example}.")
    argv = [str(a) for a in value]
    joined = next((a for a in argv if a.startswith("-") and " " in a), None)
    if joined:
        fail(
            f"{joined!r} in `{name}` is one item with a space inside: each word is its own item, e.g. '-p', "
            "'8080:8000'."
        )
    return argv


def _parse(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """(options -> value, "" for a flag; the positional arguments) of ``docker build/run ...``."""
    options: dict[str, str] = {}
    positional: list[str] = []
    rest = iter(argv[2:])
    for arg in rest:
        if positional and argv[1] == "run":  # after the image: the container's command
            positional.append(arg)
        elif arg.startswith("-") and "=" in arg:
            key, value = arg.split("=", 1)
            options[key] = value
        elif arg.startswith("-"):
            options[arg] = next(rest, "") if arg in _VALUE_OPTIONS else ""
        else:
            positional.append(arg)
    for short, long in (("-t", "--tag"), ("-p", "--publish"), ("-d", "--detach")):
        if long in options:
            options[short] = options.pop(long)
    return options, positional


def _check_build(argv: list[str]) -> tuple[str, str]:
    """(the image name, the build context) of ``docker build``; fail when one is missing."""
    if argv[:2] != ["docker", "build"]:
        fail("build_command should start with 'docker', 'build', like ['docker', 'build', '-t', NAME, FOLDER].")
    options, positional = _parse(argv)
    image = options.get("-t")
    if not image:
        fail("Name the image with -t: ['docker', 'build', '-t', 'notes-api', FOLDER].")
    if not positional:
        fail("docker build needs the build context as its last argument: the folder with the Dockerfile, str(work).")
    return image, positional[-1]


def _check_names(image: str, context: str, ns: dict[str, Any]) -> None:
    """Fail unless the image is notes-api and the build context is the folder ``work`` of the notebook."""
    if image.split(":")[0] != "notes-api":
        fail(f"You tag the image {image!r}; the exercise asks for the name 'notes-api'.")
    work = ns.get("work")
    if isinstance(work, str | Path) and Path(context).resolve() != Path(work).resolve():
        fail(
            f"The build context is {context!r}, but the Dockerfile and app/ are in {Path(work).as_posix()}/: "
            "end build_command with str(work)."
        )


def _check_run(argv: list[str], image: str) -> None:
    """Fail unless ``docker run`` starts ``image`` in the background, named, with -p 8080:8000."""
    if argv[:2] != ["docker", "run"]:
        fail("run_command should start with 'docker', 'run', like ['docker', 'run', OPTIONS..., IMAGE].")
    options, positional = _parse(argv)
    if not positional:
        fail("docker run needs the image's name as its last argument, after the options.")
    if len(positional) > 1:
        fail(
            f"Everything after the image name ({positional[0]!r}) is the command the container runs, so "
            f"{positional[1:]} never reach docker: put the options (-d, --name, -p) before the image name."
        )
    if positional[0] != image:
        fail(
            f"You build {image!r} but run {positional[0]!r}, a common mix-up: the last argument of docker run "
            "is the image to start, and must be the name you built."
        )
    if "-p" not in options:
        fail("Without -p the container's port is not reachable from your machine: add '-p', '8080:8000'.")
    if options["-p"].split(":")[-2:] != ["8080", "8000"]:
        fail(f"-p {options['-p']}: the format is HOST:CONTAINER, so 8080 on your machine to 8000 inside is 8080:8000.")
    if "-d" not in options:
        fail("Run it in the background with -d (detached): docker run would otherwise hold the terminal.")
    if options.get("--name") != "notes-api":
        fail("Name the container with '--name', 'notes-api', so that docker logs, stop and rm can find it.")


@exercise(
    "05.4",
    "build and run with matching names",
    needs=("build_command", "run_command"),
    points=1,
    hints=(
        f"Read section 6 of {NOTEBOOK}, 'Build the image and run a container': which argument of docker build "
        "names the image, which is the folder, and which argument of docker run is the image to start?",
        "docker build takes -t NAME and ends with the build context (the folder with the Dockerfile). docker run "
        "takes its options first (-d for the background, --name for the container, -p HOST:CONTAINER) and ends "
        "with the image's name: the same name you built. Each word is its own list item.",
        "The shapes: ['docker', 'build', '-t', NAME, str(work)] and ['docker', 'run', '-d', '--name', NAME, '-p', "
        "'8080:8000', NAME], with NAME = 'notes-api'.",
    ),
)
def _05_4(ns: dict[str, Any]) -> str:
    build = _argv(ns["build_command"], "build_command", "['docker', 'build', '-t', NAME, FOLDER]")
    run = _argv(ns["run_command"], "run_command", "['docker', 'run', '-d', ..., NAME]")
    image, context = _check_build(build)
    _check_run(run, image)
    _check_names(image, context, ns)
    return f"docker run starts the image {image!r} you built, reachable at http://127.0.0.1:8080."
