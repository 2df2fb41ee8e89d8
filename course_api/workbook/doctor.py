"""Environment checks for ``course-api doctor`` and notebook 00: the first thing to run when something is off.

By default they show what a student can act on (Python, packages, the device, the weights in the course folder, the
Jupyter kernel, the port) and every problem with its fix; the technical lines (CPU cores and threads, how servers
are tied to the kernel, the offline docs' assets) appear with ``details=True`` (``course-api doctor --details``),
or by default as soon as they report a problem. Every check runs either way.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from course_api.system.commands import course_py, suggest

KERNEL_NAME = "course-api"
PACKAGES = ("torch", "fastapi", "uvicorn", "starlette", "pydantic", "python-multipart", "pillow", "requests")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    technical: bool = False  # shown only with details, unless it reports a problem

    def shown(self, details: bool = False) -> bool:
        return details or not self.ok or not self.technical


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


SUPPORTED_PYTHON = ((3, 11), (3, 14))  # the course is tested on each of these and the versions between


def check_python() -> Check:
    (low, high), version = SUPPORTED_PYTHON, sys.version_info[:2]
    supported = f"{low[0]}.{low[1]} to {high[0]}.{high[1]}"
    where = "the course's .venv" if ".venv" in sys.prefix else sys.prefix
    detail = f"{platform.python_version()} ({where}; the course supports Python {supported})"
    if version < low:
        return Check(
            "python", False, detail, f"Use Python {supported} (the pinned numpy, IPython and JupyterLab need it)."
        )
    if version > high:
        return Check("python", False, detail, f"This Python is newer than the course was tested on: use {supported}.")
    return Check("python", True, detail)


def check_packages() -> list[Check]:
    install = f"Run '{suggest('setup', 'setup', course_api=False)}' in the course folder."
    return [
        Check(name, version is not None, version or "not installed", "" if version else install)
        for name, version in package_versions().items()
    ]


def check_device() -> Check:
    from course_api.server.device import ENV_VAR, DeviceUnavailableError, available_devices, resolve_device

    try:
        choice = resolve_device()
    except (DeviceUnavailableError, ValueError) as exc:
        fix = f"Unset {ENV_VAR} or set it to one of: {', '.join(available_devices())}."
        return Check("device", False, str(exc), fix)
    return Check("device", True, f"{choice.device}: {choice.reason}; available: {', '.join(available_devices())}")


CUDA_PACKAGES = ("nvidia-", "triton", "cuda-")  # what PyPI's Linux torch pulls in for CUDA


def cuda_libraries_bytes() -> int:
    """Disk space of the CUDA libraries installed with torch (nvidia-*, triton, cuda-*), from pip's records."""
    total = 0
    for dist in metadata.distributions():
        if (dist.metadata["Name"] or "").lower().startswith(CUDA_PACKAGES):
            total += sum(file.size or 0 for file in dist.files or [])
    return total


def describe_torch_build(version: str, cuda: str | None, gpu: bool, system: str, cuda_bytes: int) -> Check:
    """Which torch build is installed; a CUDA build on a machine without an NVIDIA GPU is worth replacing."""
    if cuda is None:
        build = "CPU and Apple's GPU (mps)" if system == "Darwin" else "CPU-only"
        return Check("torch build", True, f"{version}: {build}")
    detail = f"{version}: CUDA {cuda}"
    if gpu:
        return Check("torch build", True, f"{detail}, and an NVIDIA GPU to use it")
    size = f"{cuda_bytes / 1e9:.1f} GB of " if cuda_bytes else ""
    command = suggest("--torch cpu setup", "setup TORCH=cpu", course_api=False)
    fix = f"This machine has no NVIDIA GPU: the CPU-only build does the same without {size}CUDA libraries. {command}"
    return Check("torch build", False, f"{detail}, but no NVIDIA GPU here", fix)


def check_torch_build() -> Check:
    import torch

    cuda = torch.version.cuda
    gpu = bool(cuda) and torch.cuda.is_available()
    sizes = cuda_libraries_bytes() if cuda and not gpu else 0
    return describe_torch_build(torch.__version__, cuda, gpu, platform.system(), sizes)


def check_cpu() -> Check:
    """The cores this process may use (CPU quota, affinity, OMP_NUM_THREADS) and the threads torch uses in them."""
    from course_api.system.cpu import preview_thread_limit

    limit = preview_thread_limit()
    cores, threads = limit.usable.cores, limit.threads
    detail = (
        f"{cores} usable core{'s' if cores != 1 else ''} ({limit.usable.reason}); "
        f"torch uses {threads} thread{'s' if threads != 1 else ''}" + (f" ({limit.note})" if limit.note else "")
    )
    if limit.oversubscribed:
        fix = f"Set OMP_NUM_THREADS={cores} (or unset it): more threads than cores only take turns on them."
        return Check("cpu", False, detail, fix, technical=True)
    return Check("cpu", True, detail, technical=True)


def check_weights() -> Check:
    from course_api.server.models.store import DIGITS_FILE, GENERATOR_FILE, SENTIMENT_FILE, read_card
    from course_api.server.settings import Settings, SettingsError

    try:
        folder = Settings.from_env().weights_dir
    except SettingsError as exc:
        return Check("weights", False, str(exc), "Fix or unset the variable it names.")
    try:
        cards = [read_card(folder / f) for f in (DIGITS_FILE, SENTIMENT_FILE)]
        text = read_card(folder / GENERATOR_FILE)
    except Exception as exc:  # report any failure to read the weights
        return Check("weights", False, str(exc), f"Run '{suggest('train', 'train')}' to create them.")
    accuracy = ", ".join(f"{c['name']} {c['test_accuracy']:.1%}" for c in cards)
    bits = f"{text['name']} {text['test_bits_per_char']:.2f} bits per character"
    return Check("weights", True, f"{folder} ({accuracy} test accuracy; {bits})")


def check_kernel() -> Check:
    try:
        from jupyter_client.kernelspec import KernelSpecManager
    except ImportError:
        fix = f"Run '{suggest('setup', 'setup', course_api=False)}' to install JupyterLab."
        return Check("jupyter kernel", False, "jupyter_client is not installed", fix)
    specs = KernelSpecManager().find_kernel_specs()
    if KERNEL_NAME not in specs:
        return Check(
            "jupyter kernel",
            False,
            f"no kernel named '{KERNEL_NAME}' (notebooks would say 'No such kernel')",
            f"Run '{suggest('kernel', 'kernel', course_api=False)}' or: "
            f"{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL_NAME}",
        )
    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    python = Path(spec.argv[0])
    ok = python.exists()
    return Check(
        "jupyter kernel",
        ok,
        f"'{KERNEL_NAME}' -> {python}",
        "" if ok else f"The kernel points at a Python that is gone: '{suggest('kernel', 'kernel', course_api=False)}'.",
    )


def course_server_version(port: int, host: str = "127.0.0.1") -> str | None:
    """The course_api version of the course server answering on ``port``, or None when what answers is not it."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=2) as response:
            body = json.loads(response.read(64 * 1024))
    except (OSError, ValueError):
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if body.get("message") != "OK" or not isinstance(data, dict) or "models" not in data:
        return None
    return str(data.get("version", "?"))


def check_port(port: int = 8000) -> Check:
    from course_api.system.ports import is_listening

    name = f"port {port}"
    if not is_listening(port):
        return Check(name, True, "free for 'course-api serve'")
    version = course_server_version(port)
    if version is not None:
        return Check(name, True, f"the course server (version {version}) already answers on 127.0.0.1:{port}")
    return Check(
        name,
        False,
        f"another program (not the course server) is listening on 127.0.0.1:{port}",
        f"Stop that program, or start the course server on another port: "
        f"{suggest(f'serve --port {port + 1}', f'serve PORT={port + 1}')}. "
        "Notebooks use a free port of their own either way.",
    )


def check_offline_docs() -> Check:
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    needed = ["swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"]
    missing = [n for n in needed if not (static / n).is_file()]
    if missing:
        return Check(
            "offline docs", False, f"missing {', '.join(missing)}", "Reinstall fastapi-offline.", technical=True
        )
    return Check(
        "offline docs", True, "Swagger UI and ReDoc assets are served by the course server itself", technical=True
    )


def check_processes() -> Check:
    """Whether servers that notebooks start in processes of their own stop when the kernel ends (per OS)."""
    from course_api.system.processes import process_tie

    tie = process_tie()
    ok = not tie.startswith("stopped when this Python exits normally")
    fix = "" if ok else "Stop servers a notebook started (server.stop()) before you restart or close its kernel."
    return Check("server processes", ok, tie, fix, technical=True)


def _configured_port() -> int:
    from course_api.server.settings import Settings, SettingsError

    try:
        return Settings.from_env().port
    except SettingsError:  # check_weights reports the wrong variable
        return 8000


def all_checks() -> list[Check]:
    """Every check, technical ones included."""
    checks = [check_python(), *check_packages()]
    checks += [check_torch_build(), check_device(), check_cpu(), check_weights(), check_kernel()]
    checks += [check_processes(), check_port(_configured_port()), check_offline_docs()]
    return checks  # check_device names COURSE_API_DEVICE when it is set (settings are read only there)


def run_checks(details: bool = False) -> list[Check]:
    """Run every check; return what a student can act on and every problem, or with ``details`` all of them."""
    return [check for check in all_checks() if check.shown(details)]


def details_command() -> str:
    """The command that shows every line, as typed from where the user is (make has no variable for it)."""
    command = suggest("doctor --details", "doctor")
    if os.environ.get("MAKELEVEL") or "--details" not in command:
        return course_py("doctor --details")
    return command
