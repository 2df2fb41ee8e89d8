#!/usr/bin/env python3
"""Set up and run the Creating APIs course on Linux, macOS and Windows, with nothing but Python.

    python3 course.py lab            # macOS, Linux          py -3.12 course.py lab     # Windows (PowerShell)
    python3 course.py test                                   py -3.12 course.py test

Every command first creates or updates ``.venv`` (the pinned versions in constraints.txt, the right PyTorch build
for this machine, the ``course-api`` Jupyter kernel) when it is missing or out of date. ``python3 course.py help``
lists the commands; the Makefile's targets call this file, so both do the same thing.

PyTorch: ``--torch auto`` (the default; also the TORCH variable) installs the CPU-only build on Linux without an
NVIDIA driver (about 190 MB instead of about 2.7 GB with CUDA), the CUDA build on Linux with one, and PyPI's build
on macOS (with Apple's GPU, "mps") and Windows. ``--torch cpu`` and ``--torch cuda`` choose for you. The version is
the one pinned in constraints.txt, whichever build it is.

This file uses the standard library only, and runs on any Python 3 to say what is needed when it is too old.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".course-api-installed"
KERNEL = "course-api"
EXTRAS = "lab,site,test"
SUPPORTED = ((3, 11), (3, 14))
TORCH_CHOICES = ("auto", "cpu", "cuda")
PYTORCH_INDEX = "https://download.pytorch.org/whl/"
CUDA_TAG = "cu130"  # the CUDA 13.0 build of torch 2.13, as on PyPI for Linux and in the Dockerfile
# Checks that need a system tool, a kernel, a browser or seconds of load; `test-fast` leaves them out.
SYSTEM_TESTS = "browser or kernel or docker or load or wrk or subprocess or slow"


class CourseError(Exception):
    """Something the person at the keyboard can fix; the message says how."""


# ------------------------------------------------------------------------------------------------ the machine
def venv_python(venv: Path = VENV, windows: bool = os.name == "nt") -> Path:
    """The virtual environment's Python: Scripts\\python.exe on Windows, bin/python elsewhere."""
    if windows:
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def has_nvidia_driver(system: str | None = None, exists=os.path.exists, which=shutil.which) -> bool:
    """Whether this Linux machine has an NVIDIA driver (a native one, or WSL 2's) for the CUDA build to use."""
    if (system or platform.system()) != "Linux":
        return False
    if exists("/proc/driver/nvidia/version") or exists("/usr/lib/wsl/lib/libcuda.so"):
        return True
    return which("nvidia-smi") is not None


def python_tag(version: tuple[int, int]) -> str:
    return f"cp{version[0]}{version[1]}"


def find_links() -> list[Path]:
    """Folders pip searches for wheels besides the index (PIP_FIND_LINKS, or pip's config), that exist."""
    found = os.environ.get("PIP_FIND_LINKS", "").split()
    if not found:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=False
            )
            for line in done.stdout.splitlines():
                if line.split("=", 1)[0].endswith(".find-links"):
                    found += line.split("=", 1)[1].strip().strip("'\"").split()
        except (OSError, subprocess.SubprocessError):
            pass
    folders = [Path(f[len("file://") :] if f.startswith("file://") else f) for f in found]
    return [f for f in folders if f.is_dir()]


def local_torch_wheel(version: str, local: str, tag: str, machine: str, folders: list[Path]) -> Path | None:
    """A wheel of torch ``version+local`` for this Python (``tag``, e.g. cp311) and CPU in ``folders``."""
    pattern = re.compile(rf"^torch-{re.escape(version)}\+{re.escape(local)}-{tag}-{tag}-\w*{re.escape(machine)}\.whl$")
    for folder in folders:
        for wheel in sorted(folder.glob("torch-*.whl")):
            if pattern.match(wheel.name):
                return wheel
    return None


# ------------------------------------------------------------------------------------------------ PyTorch
class TorchPlan:
    """Which build of torch to install, and the pip arguments that install it."""

    def __init__(self, build: str, requirement: str, pip_args: list[str], why: str) -> None:
        self.build, self.requirement, self.pip_args, self.why = build, requirement, pip_args, why

    def command(self, python: Path | str) -> list[str]:
        return [str(python), "-m", "pip", "install", "--quiet", self.requirement, *self.pip_args]

    def __repr__(self) -> str:
        return f"TorchPlan({self.build!r}, {self.requirement!r}, {self.pip_args!r})"


def torch_version(constraints: Path = ROOT / "constraints.txt") -> str:
    """The pinned torch version: the one line ``torch==X`` of constraints.txt."""
    for line in constraints.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^torch==([0-9][0-9.]*)\s*$", line.strip())
        if match:
            return match.group(1)
    raise CourseError(f"{constraints.name} pins no torch version (a line torch==X.Y.Z); restore it from git.")


def plan_torch(
    choice: str,
    version: str,
    system: str,
    nvidia: bool,
    tag: str = "",
    machine: str = "",
    folders: list[Path] | None = None,
) -> TorchPlan:
    """The torch build for ``choice`` (auto, cpu, cuda) on ``system`` (platform.system()), and how to install it.

    A wheel of that build already on disk (pip's find-links: a classroom mirror, a USB stick) is used without
    asking PyTorch's index, which a mirror may not reach.
    """
    if choice not in TORCH_CHOICES:
        raise CourseError(f"--torch {choice}: choose one of {', '.join(TORCH_CHOICES)} (auto picks for this machine).")
    pypi = TorchPlan("pypi", f"torch=={version}", [], "")
    if system == "Darwin":
        if machine == "x86_64":
            raise CourseError(
                f"PyTorch {version} has no build for Intel Macs (only Apple silicon). Use GitHub Codespaces or "
                "Binder (README, Quickstart), or a Linux or Windows machine."
            )
        if choice == "cuda":
            raise CourseError("--torch cuda: macOS has no CUDA; PyPI's build uses Apple's GPU (mps). Use --torch auto.")
        pypi.why = "macOS: PyPI's build (CPU and Apple's GPU, mps)"
        return pypi
    if system == "Windows":
        if choice == "cuda":
            index = PYTORCH_INDEX + CUDA_TAG
            return TorchPlan("cuda", f"torch=={version}+{CUDA_TAG}", ["--extra-index-url", index], "Windows, CUDA")
        pypi.why = "Windows: PyPI's build is the CPU-only one"
        return pypi
    if choice == "cuda" or (choice == "auto" and nvidia):
        pypi.build, pypi.why = "cuda", "Linux with an NVIDIA driver: PyPI's build, with CUDA"
        if choice == "cuda":
            pypi.why = "asked for with --torch cuda: PyPI's build, with CUDA"
        return pypi
    why = "Linux without an NVIDIA driver: the CPU-only build" if choice == "auto" else "asked for with --torch cpu"
    wheel = local_torch_wheel(version, "cpu", tag, machine, folders or []) if tag else None
    if wheel is not None:
        return TorchPlan("cpu", f"torch=={version}+cpu", ["--find-links", str(wheel.parent)], why + " (wheel on disk)")
    return TorchPlan("cpu", f"torch=={version}+cpu", ["--extra-index-url", PYTORCH_INDEX + "cpu"], why)


def machine_torch_plan(choice: str, python: Path) -> TorchPlan:
    version = venv_version(python)
    return plan_torch(
        choice,
        torch_version(),
        platform.system(),
        has_nvidia_driver(),
        python_tag(version),
        platform.machine().lower().replace("amd64", "x86_64"),
        find_links(),
    )


# ------------------------------------------------------------------------------------------------ the venv
def check_python(version: tuple[int, int], executable: str, system: str = "") -> None:
    """Stop with what to install when ``version`` is outside the supported range."""
    low, high = SUPPORTED
    if low <= version <= high:
        return
    have = f"{version[0]}.{version[1]}"
    system = system or platform.system()
    if system == "Windows":
        fix = "install Python 3.12 from python.org, then run: py -3.12 course.py <command>"
    elif system == "Darwin":
        fix = "brew install python@3.12, then run: python3.12 course.py <command>"
    else:
        fix = "install python3.12 (and python3.12-venv), then run: python3.12 course.py <command>"
    raise CourseError(
        f"The course needs Python {low[0]}.{low[1]} to {high[0]}.{high[1]}; {executable} is {have}. {fix}"
    )


def venv_version(python: Path) -> tuple[int, int]:
    done = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
        capture_output=True,
        text=True,
        check=False,
    )
    major, minor = done.stdout.split()
    return int(major), int(minor)


def inputs_digest(torch_build: str) -> str:
    """What the environment was built from: pyproject.toml, constraints.txt and the torch build."""
    digest = hashlib.sha256(torch_build.encode())
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes().replace(b"\r\n", b"\n"))  # a Windows checkout counts the same
    return digest.hexdigest()


def read_stamp() -> dict:
    try:
        data = json.loads(STAMP.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


LIST_TORCH = """
import importlib.metadata as m
for d in m.distributions():
    name = d.metadata["Name"] or ""
    if name.lower() == "torch" or name.lower().startswith(("nvidia-", "triton", "cuda-")):
        print(name, d.version)
"""


def installed_torch_to_replace(python: Path, plan: TorchPlan) -> list[str]:
    done = subprocess.run([str(python), "-c", LIST_TORCH], capture_output=True, text=True, check=False)
    return torch_to_replace(dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line), plan)


def torch_to_replace(installed: dict, plan: TorchPlan) -> list[str]:
    """[installed torch version, packages to uninstall] when the installed build is not the planned one; else [].

    ``installed`` maps the names of torch and of the CUDA libraries PyPI's Linux build brings to their versions.
    Going to the CPU-only build removes those libraries too (gigabytes); the other way, pip installs them.
    """
    version = next((v for name, v in installed.items() if name.lower() == "torch"), None)
    if version is None:
        return []
    wrong_kind = (plan.build == "cpu") != version.endswith("+cpu")
    wants_local_cuda = "+cu" in plan.requirement and "+cu" not in version  # Windows: PyTorch's CUDA build
    if not (wrong_kind or wants_local_cuda):
        return []
    cuda_libraries = [name for name in installed if name.lower() != "torch"] if plan.build == "cpu" else []
    return [version, "torch", *cuda_libraries]


def run(command: list[str], **kwargs) -> None:
    """Run ``command``; a failure is a :class:`CourseError` that names it."""
    print("+", " ".join(_quote(part) for part in command), flush=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUTF8": "1", "COURSE_PY": "1"}
    env.update(kwargs.pop("env", {}))
    code = subprocess.call(command, cwd=kwargs.pop("cwd", ROOT), env=env, **kwargs)
    if code != 0:
        raise CourseError(f"This command failed (exit status {code}); the lines above say why.", code)


def _quote(part: str) -> str:
    return f'"{part}"' if " " in part else part


def create_venv(base_python: str) -> Path:
    python = venv_python()
    if python.exists():
        try:
            check_python(venv_version(python), str(python))
            return python
        except (CourseError, OSError, ValueError):
            print(f"Recreating {VENV.name}: its Python is missing, broken or too old.")
            shutil.rmtree(VENV, ignore_errors=True)
    run([base_python, "-m", "venv", str(VENV)])
    if not python.exists():
        raise CourseError(f"python -m venv made no {python}. On Debian or Ubuntu: sudo apt install python3-venv")
    return python


def setup(options: dict) -> Path:
    """Create or update .venv when needed; its Python."""
    base = options["python"]
    try:
        version = sys.version_info[:2] if base == sys.executable else venv_version(Path(base))
    except (OSError, ValueError) as exc:
        raise CourseError(f"--python {base}: cannot run it ({exc}). Give the path of a Python 3.11 to 3.14.") from None
    check_python(version, base)
    python = create_venv(base)
    plan = machine_torch_plan(options["torch"], python)
    digest = inputs_digest(plan.build)
    activate = r".venv\Scripts\Activate.ps1" if os.name == "nt" else "source .venv/bin/activate"
    if read_stamp().get("digest") == digest and not options.get("force"):
        if options.get("announce"):  # `make setup` on a ready environment still says how to use it
            print(f"Environment {VENV.name} is ready and up to date (PyTorch build: {plan.build}).")
            print(f"To type course-api commands yourself, activate it first: {activate}")
        return python
    print(f"Setting up {VENV.name} (PyTorch: {plan.why}).")
    replace = installed_torch_to_replace(python, plan)
    if replace:
        print(f"Replacing the installed PyTorch build ({replace[0]}) with the {plan.build} build.")
        run([str(python), "-m", "pip", "uninstall", "--yes", "--quiet", *replace[1:]])
    run([*plan.command(python), "-c", str(ROOT / "constraints.txt")])
    run([str(python), "-m", "pip", "install", "--quiet", "-c", "constraints.txt", "-e", f".[{EXTRAS}]"])
    register = ["-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL, "--display-name", "Python (course-api)"]
    run([str(python), *register], stdout=subprocess.DEVNULL)
    run([str(python), "-m", "course_api.workbook.lab"], stdout=subprocess.DEVNULL)
    STAMP.write_text(json.dumps({"digest": digest, "torch": plan.build}) + "\n", encoding="utf-8")
    print(f"Environment ready in {VENV.name} (Jupyter kernel '{KERNEL}', PyTorch build: {plan.build}).")
    print(f"To type course-api commands yourself, activate it first: {activate}")
    return python


# ------------------------------------------------------------------------------------------------ commands
def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def cmd_lab(python: Path, args: list[str]) -> None:
    folders = ["notebooks", "exercises", "solutions"]
    run([str(python), "-m", "course_api.workbook.lab", "trust", *folders])
    extra = ["--allow-root"] if is_root() else []  # containers and CI machines often run as root
    lab = [str(python), "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT}", "notebooks/00_setup.ipynb"]
    run(lab + extra + args)


def cmd_lint(python: Path, args: list[str]) -> None:
    run([str(python), "-m", "ruff", "check", "."])
    run([str(python), "-m", "ruff", "format", "--check", "."])
    run([str(python), "-m", "mypy", *args])


def cmd_bench(python: Path, args: list[str]) -> None:
    run([str(python), "-m", "benchmarks.run", *args])
    device = [a for i, a in enumerate(args) if i and args[i - 1] == "--device"]
    run([str(python), "-m", "benchmarks.nothing_lost", *(["--device", device[0]] if device else [])])


def cmd_screenshots(python: Path, args: list[str]) -> None:
    tests = [
        "tests/server/test_browser.py",
        "tests/workbook/test_lab.py",
        "-k",
        "swagger_ui_renders or playground_predicts or failed_check",
    ]
    run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, *args],
        env={"COURSE_API_SCREENSHOTS": "docs/images"},
    )


# What `clean` removes: everything the course generates, with the files the notebooks write (a work/ folder per
# lesson) and solutions/my_api/ (written by running the worked answers). Never anything in exercises/ but
# exercises/work/: the student's worksheets and my_api/ are their work. Nor the instructors' submissions/ and grades/.
GENERATED = (
    ".venv", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis", "test-artifacts", "runs", "build", "site",
    "benchmarks/results", "notebooks/work", "exercises/work", "solutions/work", "solutions/my_api",
)  # fmt: skip
KEPT = ("exercises", "submissions", "grades")


def cmd_clean(args: list[str]) -> None:
    removed = [name for name in GENERATED if (ROOT / name).exists()]
    for name in removed:
        shutil.rmtree(ROOT / name, ignore_errors=True)
    for path in [*ROOT.glob("*.egg-info"), *ROOT.rglob("__pycache__")]:
        if path.relative_to(ROOT).parts[0] not in KEPT:
            shutil.rmtree(path, ignore_errors=True)
    print("Removed", ", ".join(f"{name}/" for name in removed) or "no folder", "and the Python caches (__pycache__).")
    print("Kept: the weights, the notebooks, exercises/ (your worksheets and my_api/), submissions/ and grades/.")


def cmd_lock(options: dict, args: list[str]) -> None:
    """Re-resolve the newest versions pyproject.toml allows into constraints.txt (torch stays one version).

    PyTorch comes first, with the same build choice as setup (``--torch``; on Linux without an NVIDIA driver, the
    CPU-only build): the project's ``torch==X`` is then already met, so pip never pulls the multi-GB CUDA build.
    """
    lock = ROOT / ".lock-venv"
    shutil.rmtree(lock, ignore_errors=True)
    run([options["python"], "-m", "venv", str(lock)])
    python = venv_python(lock)
    plan = machine_torch_plan(options["torch"], python)
    print(f"Locking with PyTorch's {plan.build} build ({plan.why}).")
    run(plan.command(python))
    run([str(python), "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS}]"])
    frozen = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True, check=False
    )
    header = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()[:3]
    pins = [re.sub(r"^torch==([0-9.]+)\+\w+$", r"torch==\1", line) for line in frozen.stdout.splitlines()]
    pins = [line for line in pins if line and not line.startswith("course-api")]
    (ROOT / "constraints.txt").write_text("\n".join(header + pins) + "\n", encoding="utf-8", newline="\n")
    shutil.rmtree(lock, ignore_errors=True)


def _module(*module: str):
    def command(python: Path, args: list[str]) -> None:
        run([str(python), "-m", *module, *args])

    return command


# name -> (what it does, function(python, args) or None for the two that need no venv)
COMMANDS = {
    "setup": ("create or update .venv with the pinned versions and register the Jupyter kernel", None),
    "lab": ("set up if needed, open the course in JupyterLab at notebook 00 (e.g. lab --no-browser)", cmd_lab),
    "test": ("set up if needed, run every test, notebooks included (arguments go to pytest)", _module("pytest")),
    "test-fast": ("the quick loop: every test but browser, kernel, docker, load, wrk, subprocess, slow", None),
    "lint": ("ruff check, ruff format --check and mypy, as CI runs them", cmd_lint),
    "serve": ("run the course server on http://127.0.0.1:8000 (serve --port 8001 --device cuda --workers 2)", None),
    "doctor": ("check versions, device, PyTorch build, weights and the Jupyter kernel", None),
    "train": ("retrain both models, rewrite the shipped weights and model card (e.g. train --device cuda)", None),
    "kernel": ("re-register the Jupyter kernel 'course-api' for this .venv", None),
    "exercises": ("regenerate exercises/ from solutions/ (commit both)", None),
    "run-notebooks": ("run every walkthrough and solution, write a summary (course-api run-notebooks)", None),
    "grade": ("grade a class's worksheets: grade SUBMISSIONS [--output grades] [--jobs N] [--timeout 120]", None),
    "site": ("build the course website into site/ (site --solutions collapsed)", None),
    "bench": ("load-test the server with wrk on 127.0.0.1 (bench --quick, bench --device cuda)", cmd_bench),
    "screenshots": (
        "retake the README's screenshots: /docs, /playground, a failed check (needs Chromium)",
        cmd_screenshots,
    ),
    "lock": ("re-resolve constraints.txt from pyproject.toml, with the PyTorch build setup chooses", None),
    "clean": ("remove .venv, caches, test artifacts, runs/, site/ and the notebooks' work/ folders", None),
}
COURSE_API = {  # commands that are `course-api <name>` in the environment
    "serve": ["serve"],
    "doctor": ["doctor"],
    "train": ["train"],
    "exercises": ["build-exercises"],
    "run-notebooks": ["run-notebooks"],
    "grade": ["grade"],
    "site": ["build-site"],
}


def usage() -> str:
    lines = [
        "usage: python3 course.py [--torch auto|cpu|cuda] [--python PYTHON] COMMAND [ARGUMENTS...]",
        "       (Windows: py course.py COMMAND; py -3.12 course.py COMMAND picks Python 3.12)",
        "",
        "commands:",
    ]
    lines += [f"  {name:<14} {text}" for name, (text, _) in COMMANDS.items()]
    lines += [
        "",
        "--torch   which PyTorch build .venv gets: auto (default; also the TORCH variable), cpu or cuda",
        "--python  the Python that creates .venv (default: the one running this file)",
        "",
        "Every command but help, clean and lock first sets up .venv when it is missing or out of date",
        "(the first time that downloads several hundred MB to 3 GB, depending on the PyTorch build).",
    ]
    return "\n".join(lines)


def parse(argv: list[str]) -> tuple[dict, str, list[str]]:
    options = {"torch": os.environ.get("TORCH") or "auto", "python": sys.executable, "force": False}
    rest = list(argv)
    while rest and rest[0].startswith("--") and rest[0] not in ("--help",):
        flag = rest.pop(0)
        name, _, value = flag[2:].partition("=")
        if name == "force":
            options["force"] = True
            continue
        if name not in ("torch", "python"):
            raise CourseError(f"Unknown option {flag}.\n\n{usage()}")
        if not value:
            if not rest:
                raise CourseError(f"{flag} needs a value, e.g. {flag} cpu")
            value = rest.pop(0)
        options[name] = value
    if not rest or rest[0] in ("help", "-h", "--help"):
        return options, "help", []
    if rest[0] not in COMMANDS:
        import difflib

        near = difflib.get_close_matches(rest[0], list(COMMANDS), n=1, cutoff=0.5)
        if near:
            raise CourseError(
                f"There is no command {rest[0]!r}. Did you mean {near[0]!r}? ({Path(__file__).name} help)"
            )
        raise CourseError(f"There is no command {rest[0]!r}.\n\n{usage()}")
    return options, rest[0], rest[1:]


def dispatch(command: str, python: Path, args: list[str]) -> None:
    if command in COURSE_API:
        run([str(python), "-m", "course_api", *COURSE_API[command], *args])
    elif command == "test-fast":
        run([str(python), "-m", "pytest", "-m", f"not ({SYSTEM_TESTS})", *args])
    elif command == "kernel":
        run(
            [
                str(python),
                "-m",
                "ipykernel",
                "install",
                "--sys-prefix",
                "--name",
                KERNEL,
                "--display-name",
                "Python (course-api)",
            ]
        )
    elif command != "setup":
        COMMANDS[command][1](python, args)


def main(argv: list[str] | None = None) -> int:
    try:
        options, command, args = parse(sys.argv[1:] if argv is None else argv)
        if command == "help":
            print(usage())
            return 0
        if command == "clean":
            cmd_clean(args)
            return 0
        if command == "lock":
            cmd_lock(options, args)
            return 0
        force = options["force"] or (command == "setup" and "--force" in args)
        python = setup({**options, "force": force, "announce": command == "setup"})
        dispatch(command, python, args)
    except CourseError as exc:
        print(f"course.py: {exc.args[0]}", file=sys.stderr)
        return exc.args[1] if len(exc.args) > 1 else 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
