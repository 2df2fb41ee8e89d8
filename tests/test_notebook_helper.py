"""serve_in_background(): a real uvicorn in a thread, on a free loopback port, that never hangs a cell."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import asynccontextmanager

import httpx2
import pytest
from fastapi import FastAPI

from course_api.notebook import ServerStartError, running_servers, serve_in_background
from course_api.ports import is_listening as listening


def small_app(lifespan=None) -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    def root() -> dict:
        return {"hello": "world"}

    return app


def server_threads() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith("course-api-server-") and t.name != "course-api-server-pytest-live"
    ]


def test_url_stop_and_context_manager():
    with serve_in_background(small_app(), name="t1") as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.running
        assert httpx2.get(server.url + "/").json() == {"hello": "world"}
        port = server.port
    assert not server.running
    assert not listening(port)
    assert not server_threads()


def test_binds_loopback_on_a_free_port_each_time():
    with serve_in_background(small_app(), name="a") as a, serve_in_background(small_app(), name="b") as b:
        assert a.port != b.port
        assert a.host == b.host == "127.0.0.1"


def test_running_the_cell_again_replaces_the_earlier_server():
    first = serve_in_background(small_app(), name="again")
    second = serve_in_background(small_app(), name="again")
    try:
        assert not first.running
        assert not listening(first.port)
        assert second.running
        assert [s for s in running_servers() if s.name == "again"] == [second]
    finally:
        second.stop()


def test_the_course_server_by_default(settings):
    with serve_in_background(settings=settings, name="course-default") as server:
        assert httpx2.get(server.url + "/").json()["data"]["models"] == ["digits", "sentiment"]


def test_failed_start_raises_with_the_reason():
    @asynccontextmanager
    async def broken(app):
        raise RuntimeError("the weights are missing")
        yield

    started = time.monotonic()
    with pytest.raises(ServerStartError, match="the weights are missing"):
        serve_in_background(small_app(broken), name="broken", timeout=20)
    assert time.monotonic() - started < 10
    assert not server_threads()


def test_slow_start_times_out_instead_of_hanging():
    @asynccontextmanager
    async def stuck(app):
        await asyncio.sleep(60)
        yield

    started = time.monotonic()
    with pytest.raises(ServerStartError, match="did not start within"):
        serve_in_background(small_app(stuck), name="stuck", timeout=0.5)
    assert time.monotonic() - started < 10
    time.sleep(0.2)
    assert not server_threads()


def test_port_in_use_is_a_clear_error():
    with (
        serve_in_background(small_app(), name="holder") as holder,
        pytest.raises(ServerStartError, match=f"Port {holder.port} on 127.0.0.1 is already in use"),
    ):
        serve_in_background(small_app(), name="clash", port=holder.port)


def test_no_access_log_lines(capfd, caplog):
    caplog.set_level(logging.DEBUG)
    with serve_in_background(small_app(), name="quiet") as server:
        for _ in range(3):
            httpx2.get(server.url + "/")
    out, err = capfd.readouterr()
    assert "GET /" not in out + err
    assert not [r for r in caplog.records if r.name == "uvicorn.access"]


def test_import_string(tmp_path, monkeypatch):
    (tmp_path / "main.py").write_text(
        textwrap.dedent("""
        from fastapi import FastAPI
        app = FastAPI()

        @app.get("/")
        def root():
            return "ok"
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with serve_in_background("main:app", name="import-string") as server:
        assert httpx2.get(server.url + "/").json() == "ok"


@pytest.mark.subprocess
def test_stopped_when_python_exits():
    code = textwrap.dedent("""
        from fastapi import FastAPI
        from course_api import serve_in_background
        server = serve_in_background(FastAPI(), name="exit")
        print(server.port, flush=True)
    """)
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 30
    assert not listening(int(out.stdout.strip()))


def test_accepted_connections_get_tcp_nodelay():
    """asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; a socket made with proto 0 made every
    keep-alive request wait ~40 ms for Nagle's algorithm and the client's delayed ACK."""
    with serve_in_background(small_app(), name="nodelay") as server:
        assert server._socket.proto == socket.IPPROTO_TCP
        accepted = []
        original = asyncio.selector_events.BaseSelectorEventLoop._accept_connection2  # type: ignore[attr-defined]

        async def spy(self, protocol_factory, conn, *args, **kwargs):
            accepted.append(conn)
            return await original(self, protocol_factory, conn, *args, **kwargs)

        asyncio.selector_events.BaseSelectorEventLoop._accept_connection2 = spy  # type: ignore[attr-defined]
        try:
            with httpx2.Client(base_url=server.url) as client:
                assert client.get("/").status_code == 200
                assert client.get("/").status_code == 200
                assert accepted, "no connection was accepted"
                assert accepted[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        finally:
            asyncio.selector_events.BaseSelectorEventLoop._accept_connection2 = original  # type: ignore[attr-defined]
