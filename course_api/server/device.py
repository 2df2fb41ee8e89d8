"""Choosing the torch device: explicit argument > ``COURSE_API_DEVICE`` > auto (cuda, then mps, then cpu).

Nothing here runs at import time, so importing the package never initialises CUDA; availability is only
asked for when :func:`resolve_device` is called.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

ENV_VAR = "COURSE_API_DEVICE"
_VALID = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class DeviceUnavailableError(RuntimeError):
    """The requested device is not present on this machine."""


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    reason: str

    def __str__(self) -> str:
        return f"{self.device} ({self.reason})"


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Every device string this machine can use, best first (``cpu`` is always last)."""
    found: list[str] = []
    if cuda_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if mps_available():
        found.append("mps")
    found.append("cpu")
    return found


def resolve_device(requested: str | torch.device | None = None) -> DeviceChoice:
    """Pick the device to run on, and say why.

    ``requested`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``) wins; when it is None or
    ``"auto"`` the ``COURSE_API_DEVICE`` variable is used; when that is unset or ``"auto"`` the first of
    cuda, mps and cpu that is available. Raises :class:`DeviceUnavailableError` naming what is available.
    """
    source = "argument"
    if isinstance(requested, torch.device):
        requested = str(requested)
    if requested is None or requested.strip().lower() == "auto":
        from course_api.server.settings import Settings  # the one reader of COURSE_API_* variables

        configured = Settings.from_env().device
        if configured.lower() == "auto":
            return _auto()
        requested, source = configured, f"{ENV_VAR}={configured}"
    text = requested.strip().lower()
    if not _VALID.match(text):
        raise ValueError(
            f"Unknown device {requested!r} (from the {source}): use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        )
    if text == "auto":
        return _auto()
    if text == "cpu":
        return DeviceChoice(torch.device("cpu"), f"asked for by the {source}")
    if text == "mps":
        if not mps_available():
            raise DeviceUnavailableError(_unavailable("mps", source))
        return DeviceChoice(torch.device("mps"), f"asked for by the {source}")
    # cuda or cuda:N
    if not cuda_available():
        raise DeviceUnavailableError(_unavailable(text, source))
    index = int(text.split(":")[1]) if ":" in text else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceUnavailableError(_unavailable(text, source))
    return DeviceChoice(torch.device("cuda", index), f"asked for by the {source} ({torch.cuda.get_device_name(index)})")


def _auto() -> DeviceChoice:
    if cuda_available():
        return DeviceChoice(torch.device("cuda", 0), f"auto: CUDA is available ({torch.cuda.get_device_name(0)})")
    if mps_available():
        return DeviceChoice(torch.device("mps"), "auto: no CUDA GPU, Apple MPS is available")
    return DeviceChoice(torch.device("cpu"), "auto: no CUDA or MPS device found")


def _unavailable(name: str, source: str) -> str:
    return (
        f"Device {name!r} (from the {source}) is not available on this machine. "
        f"Available: {', '.join(available_devices())}. "
        f"Use one of those, or 'auto' (unset {ENV_VAR}) to pick the best one."
    )
