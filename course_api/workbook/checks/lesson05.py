"""Checks for notebook 05, Docker: the student's own model API, ``my_api/``, in a container image.

Nothing here needs a Docker engine. The checks read the project's files as ``docker build`` would (the build
context, ``.dockerignore``, the Dockerfile's instructions), lint the Dockerfile with hadolint, and run the image's
``CMD`` and ``HEALTHCHECK`` as local processes against the files the image would hold.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from course_api.workbook.checks.registry import ExerciseNotDone, exercise, fail
from course_api.workbook.checks.student_app import PROJECT, project_folder, require_sources

NOTEBOOK = "notebooks/05_docker.ipynb"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
IMAGE = "my-api"


def _lines(text: str) -> list[str]:
    """The non-empty lines of ``text`` that are not comments, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _project_file(folder: Path, name: str, exercise_id: str) -> Path:
    """``folder / name``; :class:`ExerciseNotDone` when it is missing or still holds only the stub's comments."""
    path = folder / name
    if not path.is_file():
        near = [
            p
            for p in (folder.parent / name, folder / name.lstrip("."), folder / name.replace("s.", "."))
            if p.is_file()
        ]
        if near:
            fail(
                f"The file is {near[0].as_posix()}, but docker build reads {folder.name}/{name}: the build context is "
                f"the folder {folder.name}/, and the name is exactly {name}"
                + (" (with an s)." if name == "requirements.txt" else ".")
            )
        raise ExerciseNotDone(
            f"There is no {folder.name}/{name} yet: run the cell of exercise {exercise_id} that writes it, then "
            "run the check."
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    if not _lines(text):
        raise ExerciseNotDone(
            f"Your cell wrote an empty {folder.name}/{name}: put the lines in the text you write, then run the cell "
            "and the check again."
        )
    return path


# ---------------------------------------------------------------------------------------- 05.1 requirements
def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _read_requirements(text: str) -> tuple[list[str], dict[str, Any]]:
    """(the option lines, requirement name -> parsed requirement) of a requirements file; fail on a line pip
    cannot read."""
    from packaging.requirements import InvalidRequirement, Requirement

    options: list[str] = []
    found: dict[str, Any] = {}
    for line in _lines(text):
        if line.startswith("-"):
            options.append(" ".join(line.split()))
            continue
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
        found[_canonical(requirement.name)] = requirement
    return options, found


def _imports(folder: Path) -> dict[str, str]:
    """Top-level module imported -> the first project file that imports it, for the files the image runs (not
    tests/), leaving out the standard library and the project's own modules."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        relative = path.relative_to(folder)
        if relative.parts[0] in ("tests", "test") or relative.name.startswith("test_") or "__pycache__" in str(path):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue  # require_sources reports it
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in (folder.name, "__future__"):
                    found.setdefault(top, f"{folder.name}/{relative.as_posix()}")
    return found


def _needed(folder: Path) -> dict[str, str]:
    """Distribution (canonical name) -> why the image needs it: what the project's files import, the server that
    runs them, and python-multipart where a route reads an upload."""
    from importlib.metadata import packages_distributions

    installed = packages_distributions()
    needed: dict[str, str] = {}
    for module, where in _imports(folder).items():
        if module == "course_api":
            fail(
                f"{where} imports course_api, the course's own package: the image installs from PyPI, which has "
                f"no course_api. Copy what your app needs into {folder.name}/ (as model.py and preprocess.py are)."
            )
        distributions = installed.get(module)
        if not distributions:
            fail(f"{where} imports {module}, which is not installed in this kernel: check the import's spelling.")
        needed.setdefault(_canonical(distributions[0]), f"{where} imports {module}")
    needed.setdefault("uvicorn", "uvicorn is the server that runs your app in the container (CMD)")
    sources = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in folder.glob("*.py"))
    if re.search(r"\b(UploadFile|File\(|Form\()", sources):
        needed.setdefault("python-multipart", "FastAPI reads an UploadFile with python-multipart")
    return needed


def _installs(found: dict[str, Any]) -> set[str]:
    """Every distribution that installing the requirements ``found`` brings, with their own requirements (those
    installed here), extras included."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import InvalidRequirement, Requirement

    brought: set[str] = set()
    todo = [(name, set(requirement.extras)) for name, requirement in found.items()]
    while todo:
        name, extras = todo.pop()
        if name in brought:
            continue
        brought.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for line in requires:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras or {""}):
                todo.append((_canonical(requirement.name), set(requirement.extras)))
    return brought


def _torch_index(options: list[str], found: dict[str, Any]) -> None:
    """Fail unless torch comes from PyTorch's CPU-only index, and PyPI stays on for the rest."""
    indexes = {opt.split(None, 1)[0].split("=", 1)[0]: opt for opt in options}
    for flag in ("--index-url", "-i"):
        if flag in indexes:
            fail(
                f"{indexes[flag]!r} replaces PyPI: pip would look for fastapi and the rest on PyTorch's index only, "
                f"and stop. Write --extra-index-url {CPU_INDEX}: PyPI, plus PyTorch's CPU-only builds."
            )
    local = found["torch"].specifier and str(found["torch"].specifier).split("+")[1:]
    if local and local[0] != "cpu":
        fail(f"torch{found['torch'].specifier} is a CUDA build: the image has no GPU to use it. Pin the plain version.")
    extra = [opt for opt in options if opt.startswith("--extra-index-url")]
    if not any(CPU_INDEX in opt.replace("/cpu/", "/cpu") for opt in extra):
        fail(
            "torch comes from PyPI, whose Linux build bundles CUDA: 2.7 GB of downloads, and an image of several "
            "GB that cannot use a GPU anyway. Add a first line --extra-index-url "
            f"{CPU_INDEX}: pip then takes the CPU-only build (192 MB)."
        )


def _pins(found: dict[str, Any]) -> None:
    """Fail unless each requirement is pinned with == to the version this kernel runs."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    for name, requirement in found.items():
        try:
            here = version(name)
        except PackageNotFoundError:
            if name == "unicorn":
                fail("'unicorn' is not the server (it is a CPU emulator on PyPI): the package is uvicorn.")
            fail(
                f"{requirement.name} is not installed in this kernel, so your app was never tested with it: "
                "leave it out."
            )
        spec = list(requirement.specifier)
        if len(spec) != 1 or spec[0].operator != "==" or Version(spec[0].version).public != Version(here).public:
            fail(
                f"{requirement.name} is {requirement.specifier or 'not pinned'}: pin it exactly, with ==, to the "
                f"version this kernel runs (version({requirement.name!r}) says {here}), so the image installs what "
                "you tested."
            )


@exercise(
    "05.1",
    "requirements.txt with the CPU-only PyTorch",
    needs=(),
    files=(f"{PROJECT}/requirements.txt",),
    points=2,
    hints=(
        f"Read section 1 of {NOTEBOOK} (pins) and section 8 (a model in the image): which packages do your "
        "files import, which server runs them, and where does the CPU-only torch come from?",
        "List what my_api's files import (e.g. fastapi, pydantic, torch, safetensors, numpy, and PIL, which pip "
        "calls pillow), "
        "plus uvicorn[standard] and python-multipart, each NAME==VERSION with the version from "
        "importlib.metadata.version(...). Add PyTorch's CPU index for torch, without taking PyPI away.",
        f"The first line is --extra-index-url {CPU_INDEX}; then f-strings such as "
        f"f\"torch=={{version('torch').split('+')[0]}}\\n\"; "
        'write the text with (project / "requirements.txt").write_text(requirements).',
    ),
)
def _05_1(ns: dict[str, Any]) -> str:
    folder = project_folder(ns)
    require_sources(folder, "main.py")
    path = _project_file(folder, "requirements.txt", "05.1")
    options, found = _read_requirements(path.read_text(encoding="utf-8", errors="replace"))
    if "pytest" in found:
        fail(
            "pytest runs your tests on your machine; the image only serves the app. Leave test tools out of "
            "requirements.txt: each package makes the image bigger."
        )
    _pins(found)
    brought = _installs(found)
    for name, why in _needed(folder).items():
        if name not in brought:
            shown = "uvicorn[standard]" if name == "uvicorn" else name
            fail(f"requirements.txt misses {name}: {why}. Add {shown}==<its version>, or the container stops at start.")
    if "torch" in found:
        _torch_index(options, found)
    return f"{len(found)} pinned packages, torch from the CPU-only index: the image installs exactly what you tested."


# -------------------------------------------------------------------------------------------- 05.2 .dockerignore
def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression over a path in the build context (``/`` between parts).
    As in Docker: ``*`` and ``?`` stay within one folder, ``**`` spans any number of folders, and a pattern is
    matched from the context's root (``__pycache__`` is the root's one only)."""
    pattern = pattern.strip().lstrip("/").rstrip("/")
    if pattern.startswith("./"):
        pattern = pattern[2:]
    out, index = "", 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        elif pattern[index] == "[" and "]" in pattern[index:]:
            end = pattern.index("]", index)
            out, index = out + "[" + pattern[index + 1 : end].replace("!", "^", 1) + "]", end + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(out)


class Context:
    """The build context of ``docker build``: the files of ``folder`` that its ``.dockerignore`` lets through."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        ignore = folder / ".dockerignore"
        text = ignore.read_text(encoding="utf-8", errors="replace") if ignore.is_file() else ""
        self.rules = [(line.startswith("!"), _pattern(line.lstrip("!"))) for line in _lines(text)]

    def ignores(self, path: str) -> bool:
        """Whether ``path`` (relative, with /) stays out: the last rule that matches it or a folder above it."""
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        ignored = False
        for negated, rule in self.rules:
            if any(rule.fullmatch(prefix) for prefix in prefixes):
                ignored = not negated
        return ignored

    def files(self) -> list[str]:
        """The files sent to the engine, relative to the context's root."""
        every = (p.relative_to(self.folder).as_posix() for p in sorted(self.folder.rglob("*")) if p.is_file())
        return [path for path in every if not self.ignores(path)]


MUST_SEND = ("main.py", "serving.py", "model.py", "preprocess.py", "requirements.txt", "digits.safetensors")
MUST_KEEP_OUT = {
    "__pycache__/main.cpython-312.pyc": "__pycache__ folders, at any depth (**/__pycache__/)",
    "utils/__pycache__/helpers.cpython-312.pyc": "__pycache__ folders, at any depth (**/__pycache__/)",
    "tests/__pycache__/test_main.cpython-312.pyc": "__pycache__ folders, at any depth (**/__pycache__/)",
    ".pytest_cache/README.md": ".pytest_cache/, pytest's own notes",
    "tests/test_main.py": "tests/: the image serves the app, your tests run on your machine",
    ".env": ".env, where secrets live: whoever pulls an image can read every file in it",
    ".ipynb_checkpoints/main-checkpoint.py": ".ipynb_checkpoints/, JupyterLab's copies",
}


@exercise(
    "05.2",
    "a .dockerignore that lets the weights through",
    needs=(),
    files=(f"{PROJECT}/.dockerignore",),
    points=1,
    hints=(
        f"Read section 4 of {NOTEBOOK} ('Keep the build context small') and section 8: what must the image "
        "hold, and what never belongs in it?",
        "One pattern per line, matched from the context's root (my_api/): a bare name matches there only, **/ "
        "matches at any depth, a trailing / means a folder. Keep out caches, tests and secrets; keep the code, "
        "requirements.txt and the weights in.",
        "The lines **/__pycache__/, **/*.py[cod], .pytest_cache/, **/.ipynb_checkpoints/, tests/ and .env; "
        "nothing that matches *.safetensors.",
    ),
)
def _05_2(ns: dict[str, Any]) -> str:
    folder = project_folder(ns)
    _project_file(folder, ".dockerignore", "05.2")
    context = Context(folder)
    for name in MUST_SEND:
        if context.ignores(name):
            why = "the image would have no model: the app stops at start" if name.endswith(".safetensors") else ""
            fail(
                f"Your .dockerignore leaves {folder.name}/{name} out of the build context, so COPY cannot put it "
                f"in the image{': ' + why if why else ''}. Remove the pattern that matches it (or add !{name})."
            )
    for path, what in MUST_KEEP_OUT.items():
        if not context.ignores(path):
            fail(f"A file such as {folder.name}/{path} would reach the image: keep out {what}.")
    return "the build context sends the code, requirements.txt and the weights, and no caches, tests or secrets."


# ------------------------------------------------------------------------------------------ 05.3 HEALTHCHECK
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
    """Fail for a command that cannot work in a python:3.x-slim image, or asks the wrong route or port."""
    tool = re.search(r"\b(curl|wget)\b", command)
    if tool:
        fail(f"python:3.x-slim images have no {tool[1]}: use python -c with urllib.request instead.")
    library = re.search(r"\b(requests|httpx)\b", command)
    if library:
        fail(
            f"The image has only what requirements.txt installs, and {library[1]} is not in it: use urllib.request, "
            "which comes with Python."
        )
    if "/health" not in command:
        fail("Ask your API's health check, GET /health: it is the one that says whether the model is loaded.")
    if "PORT" not in command:
        fail(
            "The server listens on $PORT when the platform sets it (8000 otherwise): read the port with "
            "os.environ.get('PORT', '8000'), as CMD does."
        )


def _shell_words(command: str) -> list[str]:
    """The shell form's command as a program and its arguments, where there is no /bin/sh to run it (Windows):
    split as a shell would, a final ``|| exit 1`` dropped (it only turns any failure into 1)."""
    command = re.sub(r"\s*\|\|\s*exit\s+1\s*;?\s*$", "", command)
    try:
        words = shlex.split(command)
    except ValueError as exc:
        fail(f"Your HEALTHCHECK command cannot be split into words ({exc}): check its quotes.")
    if not words or any(word in ("|", "||", "&&", ";", ">", "<", "&") for word in words) or "$" in command:
        fail(
            "This computer has no /bin/sh to run the shell form of your HEALTHCHECK command (a CMD that is not "
            'a JSON list): write it in exec form, CMD ["python", "-c", "..."], which needs no shell.'
        )
    return words


def _healthcheck_args(argv: list[str] | None, command: str, folder: str) -> list[str]:
    """The HEALTHCHECK command as a program and its arguments, with ``python`` and ``python3`` this Python: through
    symbolic links in ``folder``, put first on PATH; on Windows, which makes such links only for administrators,
    by naming this Python instead."""
    if os.name == "posix":
        for name in ("python", "python3"):
            os.symlink(sys.executable, Path(folder) / name)
        return argv if argv is not None else ["/bin/sh", "-c", command]
    args = argv if argv is not None else _shell_words(command)
    return [sys.executable, *args[1:]] if args and args[0] in ("python", "python3") else args


def _run_healthcheck(argv: list[str] | None, command: str, port: int, cwd: Path | None = None) -> tuple[int, str]:
    """Run the HEALTHCHECK command here, in ``cwd``, with $PORT set to ``port`` and this Python as `python`: (exit code,
    the last line it printed)."""
    with tempfile.TemporaryDirectory() as folder:
        args = _healthcheck_args(argv, command, folder)
        env = {
            **os.environ,
            "PATH": folder + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONIOENCODING": "utf-8",
            "PORT": str(port),
        }
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
                cwd=cwd,
            )
        except subprocess.TimeoutExpired:
            fail("Your HEALTHCHECK command ran for more than 30 s: give urlopen a timeout=, below --timeout.")
        except OSError as exc:
            fail(f"Your HEALTHCHECK command cannot start: {exc}.")
    said = (done.stderr or done.stdout).strip().splitlines()
    return done.returncode, said[-1] if said else ""


def _health_app(status: int, body: dict[str, Any]) -> Any:
    """A stand-in for the student's API whose GET /health answers ``status`` with ``body``."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse(body, status_code=status)

    return app


# (what the stand-in is, its response to GET /health, the exit code the HEALTHCHECK command must give: 0 or not 0)
HEALTH_CASES = [
    ("your API with its model loaded", 200, {"status": "ok", "model_loaded": True}, True),
    ("an API still loading its model", 200, {"status": "ok", "model_loaded": False}, False),
    ("an API whose model failed to load", 503, {"status": "error", "model_loaded": False}, False),
]


def judge_healthcheck(line: str) -> None:
    """Fail unless the HEALTHCHECK ``line`` exits with 0 exactly when GET /health says the model is loaded."""
    from course_api.workbook.background import serve_in_background

    argv, command = _healthcheck_command(" ".join(line.replace("\\\n", " ").split()))
    _healthcheck_problems(command)
    port = 0
    for what, status, body, healthy in HEALTH_CASES:
        with serve_in_background(_health_app(status, body), name="healthcheck") as server:
            code, said = _run_healthcheck(argv, command, server.port)
            port = server.port
        if healthy and code != 0:
            fail(
                f"Your HEALTHCHECK command exits with {code} against {what} (GET /health answers {status} "
                f"{json.dumps(body)})" + (f"; it said: {said}" if said else "") + ". Docker would call it unhealthy."
            )
        if not healthy and code == 0:
            fail(
                f"Your HEALTHCHECK command exits with 0 against {what} (GET /health answers {status} "
                f"{json.dumps(body)}): Docker would send it clients. Read the JSON and exit with 1 unless "
                "model_loaded is true."
            )
    if _run_healthcheck(argv, command, port)[0] == 0:
        fail(
            "Your HEALTHCHECK command exits with 0 when no server answers: it must fail then (an exception in "
            "python -c exits with 1), or Docker calls a dead server healthy."
        )


@exercise(
    "05.3",
    "a HEALTHCHECK that says the model is loaded",
    needs=("healthcheck",),
    points=2,
    hints=(
        f"Read section 3 of {NOTEBOOK} (the HEALTHCHECK row of the table) and section 8, which runs a model-aware "
        "HEALTHCHECK against two small APIs. What does Docker do with the command's exit code?",
        "Docker calls the container healthy when the command exits with 0. In python -c, read the port from "
        "$PORT (8000 when unset), open /health with urllib.request and a timeout, read the JSON with json.load, "
        "and exit with 1 unless model_loaded is true. Write CMD in exec form, a JSON list.",
        'The shape: HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["python", "-c", "import json, '
        "os, sys, urllib.request; port = os.environ.get('PORT', '8000'); health = json.load(urllib.request.urlopen("
        "f'http://127.0.0.1:{port}/health', timeout=4)); sys.exit(0 if health['model_loaded'] else 1)\"]",
    ),
)
def _05_3(ns: dict[str, Any]) -> str:
    if not isinstance(ns["healthcheck"], str):
        fail(f"`healthcheck` should be a string, the whole HEALTHCHECK line, not a {type(ns['healthcheck']).__name__}.")
    judge_healthcheck(ns["healthcheck"])
    return "exit 0 only when the model is loaded: Docker sends clients to a container that can answer them."


# ------------------------------------------------------------------------------------------- 05.4 Dockerfile
def _hadolint(text: str) -> str:
    """What hadolint (installed next to this Python) says about the Dockerfile ``text``; empty when all is well."""
    exe = Path(sys.executable).parent / ("hadolint.exe" if os.name == "nt" else "hadolint")
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
    copies = [i for i, (kind, _) in enumerate(steps) if kind in ("COPY", "ADD")]
    installs = [i for i, (kind, args) in enumerate(steps) if kind == "RUN" and "pip install" in args]
    if not copies or "requirements.txt" not in steps[copies[0]][1] or steps[copies[0]][1].split()[0] == ".":
        fail(
            "Copy requirements.txt first (COPY requirements.txt .) and install it before copying the code: then a "
            "code change reuses the cached pip install layer instead of reinstalling torch."
        )
    if not installs:
        fail("Install the requirements: RUN pip install --no-cache-dir -r requirements.txt, after copying them.")
    for index in installs:
        for args in (part.strip() for part in re.split(r"&&|;", steps[index][1])):
            if "pip install" not in args or "-r" in args.split() or "whl/cpu" in args:
                continue
            if re.search(r"\btorch\b", args):
                fail(
                    f"RUN {args} installs PyPI's torch, which bundles CUDA (GBs) on Linux: install everything from "
                    "requirements.txt, whose first line takes torch from the CPU-only index."
                )
    if len(copies) < 2:
        fail("Copy the code too (COPY . ./my_api), after installing the requirements.")
    if installs[0] > copies[1]:
        fail(
            "RUN pip install comes after the code is copied: install the requirements before copying the code, so "
            "that a code change does not reinstall every dependency (layer caching)."
        )
    if "USER" not in kinds:
        fail("Add a non-root user (RUN useradd ...) and switch to it with USER: a server should never run as root.")
    user = len(kinds) - 1 - kinds[::-1].index("USER")
    if steps[user][1] in ("root", "0"):
        fail("USER root runs the server as root: create a user with useradd and switch to its number, USER 10001.")
    if user < installs[0] or any(kind == "RUN" and "useradd" in args for kind, args in steps[user:]):
        fail(
            "USER comes before a RUN that needs root (pip install, useradd): the build would fail with "
            "'Permission denied'. Switch to the user after installing."
        )


def _expand(text: str, env: dict[str, str]) -> str:
    """What a shell makes of $NAME, ${NAME} and ${NAME:-default} in ``text``."""

    def value(found: re.Match[str]) -> str:
        name = found["name"] or found["bare"]
        return env.get(name) or (found["default"] or "")

    return re.sub(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}|\$(?P<bare>\w+)", value, text)


def _cmd_argv(steps: list[tuple[str, str]], port: int | None) -> list[str]:
    """The CMD as the program and arguments the container runs, with PORT set to ``port`` (None: not set); fail
    on a CMD that a shell cannot read, or whose variables stay unexpanded."""
    if any(kind == "ENTRYPOINT" for kind, _ in steps):
        fail("Write the command in CMD alone, without ENTRYPOINT: the check (and notebook 05) runs CMD.")
    cmd_args = next((args for kind, args in reversed(steps) if kind == "CMD"), None)
    if cmd_args is None:
        fail('Add CMD, the command a container runs: CMD ["sh", "-c", "exec uvicorn ..."].')
    try:
        cmd = json.loads(cmd_args)
    except json.JSONDecodeError:
        cmd = None
    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        fail('Write CMD in exec form, a JSON list with double quotes: CMD ["sh", "-c", "exec uvicorn ..."].')
    if cmd[:2] == ["sh", "-c"] or cmd[:2] == ["/bin/sh", "-c"]:
        script = " ".join(cmd[2:]).strip()
        if not script.startswith("exec "):
            fail(
                'Start the shell\'s command with exec (sh -c "exec uvicorn ..."): uvicorn then replaces the shell, '
                "and gets docker stop's signal to shut down cleanly."
            )
        try:
            argv = shlex.split(_expand(script[5:], {"PORT": str(port)} if port else {}))
        except ValueError as exc:
            fail(f"The shell cannot split your CMD's command into words ({exc}): check its quotes.")
    else:
        if any("$" in a for a in cmd):
            fail(
                "The exec form expands no variables: uvicorn would get the text $PORT. Make a shell the program "
                f"(sh -c), which expands it: {NOTEBOOK}, section 8, 'The platform's port'."
            )
        argv = cmd
    return argv


def _server_argv(argv: list[str], port: int) -> list[str]:
    """The CMD's server command as this machine runs it: this Python's uvicorn or fastapi, on 127.0.0.1."""
    program = Path(argv[0]).name
    if program in ("python", "python3") and argv[1:3] == ["-m", "uvicorn"]:
        program, argv = "uvicorn", ["uvicorn", *argv[3:]]
    if program == "fastapi":
        if argv[1:2] != ["run"]:
            fail(f"CMD runs `fastapi {' '.join(argv[1:2])}`: in an image, use `fastapi run` (dev is for your machine).")
        host = _option(argv, "--host") or "0.0.0.0"
    elif program == "uvicorn":
        host = _option(argv, "--host") or "127.0.0.1"
    else:
        fail(f"CMD starts {argv[0]!r}: start the server, uvicorn my_api.main:app (or fastapi run).")
    if host != "0.0.0.0":
        fail(
            f"Your CMD's server listens on {host}: inside a container that is the container's own loopback, so "
            "docker run -p (and every platform) cannot reach it. Use --host 0.0.0.0."
        )
    if "--reload" in argv:
        fail("--reload restarts the server when a file changes: for your machine, not an image. Leave it out.")
    if _option(argv, "--port") != str(port):
        fail(
            "The server should listen on the port the platform gives in $PORT (Cloud Run sets 8080), else 8000: "
            f"a shell can expand ${{PORT:-8000}} ({NOTEBOOK}, section 8, 'The platform's port')."
        )
    local = [a if a != "0.0.0.0" else "127.0.0.1" for a in argv[1:]]  # the check listens on this machine only
    if program == "fastapi" and "--host" not in argv:
        local += ["--host", "127.0.0.1"]
    return [sys.executable, "-m", program, *local]


def _target(argv: list[str]) -> str:
    """The module the server imports: my_api.main for uvicorn my_api.main:app or fastapi run my_api/main.py."""
    word = next((a for a in argv[1:] if (":" in a and not a.startswith("-")) or a.endswith(".py")), "")
    return word.split(":")[0].removesuffix(".py").replace("/", ".")


def _image_files(steps: list[tuple[str, str]], context: Context, root: Path) -> Path:
    """Copy what the Dockerfile's COPY instructions take from the build context to ``root``, which stands for
    the image's /; return the WORKDIR the CMD runs in."""
    workdir = Path("/")
    last_from = max(i for i, (kind, _) in enumerate(steps) if kind == "FROM")
    sent = context.files()
    for kind, args in steps[last_from:]:
        if kind == "WORKDIR":
            workdir = workdir / args.strip().strip('"')
        if kind not in ("COPY", "ADD"):
            continue
        words = json.loads(args) if args.startswith("[") else shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue  # from another stage: built, not taken from the context
        *sources, dest = [w for w in words if not w.startswith("--")]
        target = workdir / dest if not dest.startswith("/") else Path(dest)
        into_folder = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
        for named in sources:
            source = named.strip("/").removeprefix("./") or "."
            for path in sent:
                if source in (".", "") or path == source:
                    relative = path if source in (".", "") else Path(path).name
                elif path.startswith(source + "/"):
                    relative = path[len(source) + 1 :]
                elif "/" not in path and _pattern(source).fullmatch(path):
                    relative = path
                else:
                    continue
                single_file = path == source and not into_folder
                place = root / str(target).lstrip("/") / ("" if single_file else relative)
                place.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(context.folder / path, place)
    cwd = root / str(workdir).lstrip("/")
    cwd.mkdir(parents=True, exist_ok=True)
    return cwd


@contextlib.contextmanager
def image_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="course-api-image-", ignore_cleanup_errors=True) as place:
        yield Path(place)


def _judge_image(folder: Path, steps: list[tuple[str, str]]) -> None:
    """Run the image's CMD as a local process in a folder that holds what the image would, and judge it: the
    model loaded, a prediction, the HEALTHCHECK."""
    from course_api.system.ports import free_port
    from course_api.workbook.checks.project import judge_predictions, no_crash
    from course_api.workbook.checks.student_app import running_command

    port = free_port()
    argv = _server_argv(_cmd_argv(steps, port), port)
    if _option(_cmd_argv(steps, None), "--port") != "8000":
        fail(
            "Without a PORT variable (docker run on your machine sets none) your CMD gives no port: uvicorn would "
            'get --port "" and stop. Give the variable a default, "${PORT:-8000}", 8000 as EXPOSE says.'
        )
    module = _target(argv)
    healthcheck = next((args for kind, args in steps if kind == "HEALTHCHECK"), None)
    if healthcheck is None:
        fail("Add your HEALTHCHECK line (exercise 05.3): put {healthcheck} into the f-string.")
    with image_folder() as root:
        cwd = _image_files(steps, Context(folder), root)
        where = "/" + cwd.relative_to(root).as_posix().strip(".")
        held = sorted(p.relative_to(cwd).as_posix() for p in cwd.rglob("*") if p.is_file())
        if not any(name.endswith(".safetensors") for name in held):
            fail(
                f"The image would hold no weights (in {where}: {', '.join(held[:8]) or 'nothing'}): COPY the project "
                "with its digits.safetensors, and keep .dockerignore from leaving it out."
            )
        if module and not (cwd / (module.replace(".", "/") + ".py")).is_file():
            fail(
                f"CMD imports {module}, but in the image {where} holds {', '.join(held[:8]) or 'nothing'}: no "
                f"{module.replace('.', '/')}.py. Copy the project into a folder named {folder.name} under WORKDIR "
                f"(COPY . ./{folder.name}), so that {module} is importable."
            )
        project = cwd / folder.name
        with running_command(argv, cwd, project if project.is_dir() else cwd, port, env={"PORT": str(port)}) as app:
            health = app.get("/health")
            no_crash(app, health, project, "GET /health")
            if health.status_code != 200 or '"model_loaded":true' not in health.text.replace(" ", ""):
                fail(f"In the image's files, GET /health answered {health.status_code} {health.text[:200]}.")
            judge_predictions(app, project)
            code, said = _run_healthcheck(*_healthcheck_command(f"HEALTHCHECK {healthcheck}"), port, cwd=cwd)
            if code != 0:
                fail(
                    f"The Dockerfile's HEALTHCHECK exits with {code} while the container's app is healthy"
                    + (f"; it said: {said}" if said else "")
                    + ". Put the HEALTHCHECK line of exercise 05.3 in the Dockerfile ({healthcheck} in the f-string)."
                )


@exercise(
    "05.4",
    "a Dockerfile for your model API",
    needs=(),
    files=(f"{PROJECT}/Dockerfile",),
    points=3,
    hints=(
        f"Read sections 3 and 8 of {NOTEBOOK}: the table of instructions, layer caching, and what changes for a "
        "model (torch, the weights, the HEALTHCHECK, $PORT). Section 7 runs an image's CMD without Docker, as "
        "this check does.",
        "The order: a slim Python base; the user, early; WORKDIR /code; COPY requirements.txt and pip install it "
        "(no cache); then the project into /code/my_api, so that my_api.main:app imports; USER by number; EXPOSE "
        "8000; your HEALTHCHECK; CMD through sh -c, so that ${PORT:-8000} is expanded.",
        "Key lines: COPY requirements.txt . / RUN pip install --no-cache-dir -r requirements.txt / COPY . ./my_api "
        '/ USER 10001 / CMD ["sh", "-c", "exec uvicorn my_api.main:app --host 0.0.0.0 --port ${PORT:-8000}"] (in an '
        "f-string, ${{PORT:-8000}}: {{ and }} stand for { and }).",
    ),
)
def _05_4(ns: dict[str, Any]) -> str:
    folder = project_folder(ns)
    require_sources(folder, "main.py")
    text = _project_file(folder, "Dockerfile", "05.4").read_text(encoding="utf-8", errors="replace")
    steps = _steps(text)
    if not steps or steps[0][0] not in ("FROM", "ARG"):
        fail("A Dockerfile starts with FROM: e.g. FROM python:3.12-slim.")
    base = next(args for kind, args in steps if kind == "FROM").split()[0]
    if "slim" not in base or not base.startswith("python:3.1"):
        fail(f"The base is {base!r}: use a current slim Python image such as python:3.12-slim (a tenth the size).")
    warnings = _hadolint(text)
    if warnings:
        fail(
            f"hadolint has remarks:\n{warnings}\nEach names the line (Dockerfile:N), the rule and what to do "
            f"instead; section 5 of {NOTEBOOK} explains the usual ones."
        )
    _layer_order(steps)
    if not any(kind == "EXPOSE" and args.split()[0].split("/")[0] == "8000" for kind, args in steps):
        fail("Add EXPOSE 8000: it documents the port the server listens on when no $PORT is set.")
    _judge_image(folder, steps)
    return "from the files the image would hold, its CMD serves your model on $PORT and its HEALTHCHECK says healthy."


# --------------------------------------------------------------------------------------- 05.5 build and run
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
        fail("Name the image with -t: ['docker', 'build', '-t', 'my-api', FOLDER].")
    if not positional:
        fail("docker build needs the build context as its last argument: the folder with the Dockerfile, str(project).")
    return image, positional[-1]


def _check_names(image: str, context: str, ns: dict[str, Any]) -> None:
    """Fail unless the image is my-api and the build context is the project's folder."""
    if image.split(":")[0] != IMAGE:
        fail(f"You tag the image {image!r}; the exercise asks for the name {IMAGE!r}.")
    folder = project_folder(ns)
    if Path(context).resolve() != folder.resolve():
        fail(
            f"The build context is {context!r}, but your Dockerfile, code and weights are in {folder.name}/: end "
            f"build_command with str(project), the folder {folder.name}."
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
    if options.get("--name") != "my-api":
        fail("Name the container with '--name', 'my-api', so that docker logs, stop and rm can find it.")


@exercise(
    "05.5",
    "build and run with matching names",
    needs=("build_command", "run_command"),
    points=1,
    hints=(
        f"Read section 6 of {NOTEBOOK}, 'Build the image and run a container': which argument of docker build "
        "names the image, which is the folder, and which argument of docker run is the image to start?",
        "docker build takes -t NAME and ends with the build context (the folder with the Dockerfile). docker run "
        "takes its options first (-d for the background, --name for the container, -p HOST:CONTAINER) and ends "
        "with the image's name: the same name you built. Each word is its own list item.",
        "The shapes: ['docker', 'build', '-t', NAME, str(project)] and ['docker', 'run', '-d', '--name', NAME, '-p', "
        "'8080:8000', NAME], with NAME = 'my-api'.",
    ),
)
def _05_5(ns: dict[str, Any]) -> str:
    build = _argv(ns["build_command"], "build_command", "['docker', 'build', '-t', NAME, FOLDER]")
    run = _argv(ns["run_command"], "run_command", "['docker', 'run', '-d', ..., NAME]")
    image, context = _check_build(build)
    _check_run(run, image)
    _check_names(image, context, ns)
    return f"docker run starts the image {image!r} you built, reachable at http://127.0.0.1:8080."
