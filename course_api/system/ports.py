"""Ports on this machine: find a free one, bind one for a server, say why one cannot be used.

The notebook helper, ``course-api serve``, ``course-api doctor``, the benchmarks and the tests all use these,
so that "port in use" reads the same everywhere.
"""

from __future__ import annotations

import errno
import socket

LOOPBACK = "127.0.0.1"


class PortInUseError(OSError):
    """Something else already listens on the port."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = LOOPBACK) -> int:
    """A port that nothing listens on right now (the OS picks it)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``port=0``: any free port), ready for a server to listen on.

    Raises :class:`PortInUseError` when the port is taken, and ``OSError`` for any other reason.
    """
    # IPPROTO_TCP (not the default 0) lets asyncio recognise the socket as TCP and set TCP_NODELAY on every
    # accepted connection; without it, keep-alive requests stall ~40 ms (docs/ARCHITECTURE.md, "Sockets").
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if hasattr(socket, "SO_REUSEADDR"):  # as uvicorn does: a port in TIME_WAIT is no obstacle
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE or (port and getattr(exc, "winerror", None) == 10048):
            raise PortInUseError(exc.errno, f"port {port} on {host} is already in use") from None
        raise
    sock.set_inheritable(False)
    return sock


def is_listening(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether a server accepts connections on ``host:port``."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0
