"""Shared fixtures. Models load once per session; no test may open a connection beyond loopback."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- loopback-only guard
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(address: object) -> None:
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise RuntimeError(f"Tests may only talk to 127.0.0.1, not {host!r}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_address(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_address(address)
    return _real_connect_ex(self, address)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def settings():
    from course_api.settings import Settings

    return Settings.from_env(environ={}, device="cpu")


@pytest.fixture(scope="session")
def app(settings):
    from course_api.server import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def test_client(app) -> Iterator:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:  # runs the lifespan: models load once for the session
        yield client


@pytest.fixture(scope="session")
def live_server(settings):
    from course_api.notebook import serve_in_background

    with serve_in_background(settings=settings, name="pytest-live") as server:
        yield server


@pytest.fixture(scope="session")
def http_client(live_server) -> Iterator:
    import httpx2

    with httpx2.Client(base_url=live_server.url, timeout=10) as client:
        yield client


@pytest.fixture(params=["testclient", "uvicorn"])
def client(request):
    """Each endpoint test runs twice: in process (TestClient) and over loopback (real uvicorn)."""
    return request.getfixturevalue("test_client" if request.param == "testclient" else "http_client")


@pytest.fixture(scope="session")
def models(settings):
    from course_api.inference import ModelService

    return ModelService.load(settings.weights_dir, "cpu")


@pytest.fixture(scope="session")
def digits_test_split():
    from course_api.training import digits_split

    _, x_test, _, y_test = digits_split()
    return x_test, y_test


def digit_png(pixels: np.ndarray, *, scale: int = 10, mode: str = "L", dark_on_light: bool = True, fmt: str = "PNG") -> bytes:
    """Draw 8x8 digit pixels (0..16) as an image file, the way a student's drawing would arrive."""
    from course_api.samples import draw, encode

    return encode(draw(pixels, size=8 * scale, dark_on_light=dark_on_light, mode=mode), fmt)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
