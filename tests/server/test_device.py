"""Device choice: explicit argument > COURSE_API_DEVICE > auto (cuda, mps, cpu)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from course_api.server import device as dev


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a machine with the given accelerators."""

    def configure(cuda: int = 0, mps: bool = False) -> None:
        monkeypatch.setattr(dev, "cuda_available", lambda: cuda > 0)
        monkeypatch.setattr(dev, "mps_available", lambda: mps)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: f"Fake GPU {i}")

    monkeypatch.delenv(dev.ENV_VAR, raising=False)
    return configure


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(2, True, "cuda:0"), (1, False, "cuda:0"), (0, True, "mps"), (0, False, "cpu")],
)
def test_auto_order_is_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    choice = dev.resolve_device()
    assert str(choice.device) == expected
    assert choice.reason.startswith("auto")


def test_environment_variable_overrides_auto(machine, monkeypatch):
    machine(cuda=1)
    monkeypatch.setenv(dev.ENV_VAR, "cpu")
    choice = dev.resolve_device()
    assert choice.device == torch.device("cpu")
    assert "COURSE_API_DEVICE=cpu" in choice.reason


def test_explicit_argument_beats_environment(machine, monkeypatch):
    machine(cuda=2)
    monkeypatch.setenv(dev.ENV_VAR, "cpu")
    assert dev.resolve_device("cuda:1").device == torch.device("cuda", 1)
    assert dev.resolve_device("auto").device == torch.device("cpu")  # "auto" defers to the variable


def test_env_auto_means_auto(machine, monkeypatch):
    machine(mps=True)
    monkeypatch.setenv(dev.ENV_VAR, "auto")
    assert dev.resolve_device().device == torch.device("mps")


@pytest.mark.parametrize("requested", ["cuda", "cuda:0", "mps"])
def test_unavailable_device_names_what_is_available(machine, requested):
    machine(cuda=0, mps=False)
    with pytest.raises(dev.DeviceUnavailableError) as info:
        dev.resolve_device(requested)
    assert requested in str(info.value)
    assert "Available: cpu" in str(info.value)


def test_cuda_index_out_of_range(machine):
    machine(cuda=1)
    with pytest.raises(dev.DeviceUnavailableError, match="Available: cuda:0, cpu"):
        dev.resolve_device("cuda:3")


def test_unavailable_device_from_environment_says_so(machine, monkeypatch):
    machine()
    monkeypatch.setenv(dev.ENV_VAR, "cuda")
    with pytest.raises(dev.DeviceUnavailableError, match="COURSE_API_DEVICE=cuda"):
        dev.resolve_device()


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", "cpu0"])
def test_unknown_device_string_is_a_clear_error(machine, bad):
    machine()
    with pytest.raises(ValueError, match="use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
        dev.resolve_device(bad)


def test_available_devices_lists_cpu_last(machine):
    machine(cuda=2, mps=False)
    assert dev.available_devices() == ["cuda:0", "cuda:1", "cpu"]


@pytest.mark.subprocess
def test_importing_the_package_and_server_does_not_initialise_cuda():
    code = (
        "import torch, course_api, course_api.server.app, course_api.workbook.background, course_api.server.device\n"
        "from course_api.server.app import create_app\n"
        "create_app()\n"
        "print(torch.cuda.is_initialized())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


@pytest.mark.subprocess
def test_importing_course_api_is_light():
    code = "import sys, course_api; print('torch' in sys.modules, 'fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]
