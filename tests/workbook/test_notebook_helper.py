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
from fastapi import FastAPI, Request

from course_api.system.ports import is_listening as listening
from course_api.workbook.background import ServerStartError, running_servers, serve_in_background


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
        assert httpx2.get(server.url + "/").json()["data"]["models"] == ["digits", "generator", "sentiment"]


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


# ------------------------------------------------------------------------------ browser_url: links that open
HUB_VARIABLES = (
    "JUPYTERHUB_SERVICE_PREFIX",
    "JUPYTERHUB_PUBLIC_URL",
    "JUPYTERHUB_PUBLIC_HUB_URL",
    "CODESPACES",
    "CODESPACE_NAME",
    "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN",
    "COURSE_API_PUBLIC_URL",
)


@pytest.fixture
def laptop(monkeypatch):
    """No hub, no codespace, no COURSE_API_PUBLIC_URL, whatever machine runs the tests."""
    for name in HUB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def where_app() -> FastAPI:
    """An app that answers with the root_path and path it received."""
    app = FastAPI()

    @app.get("/where")
    def where(request: Request) -> dict:
        return {"root_path": request.scope.get("root_path", ""), "path": request.url.path}

    return app


def test_on_a_laptop_the_browser_url_is_the_url(laptop):
    with serve_in_background(small_app(), name="laptop") as server:
        assert server.browser_url == server.url
        assert str(server) == f"Server 'laptop' running at {server.url}"  # as before: no stored output changes


def test_in_a_jupyterhub_the_browser_url_goes_through_its_proxy(laptop):
    laptop.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    laptop.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/user/ada/")
    with serve_in_background(where_app(), name="hub") as server:
        prefix = f"/user/ada/proxy/{server.port}"
        assert server.browser_url == f"https://hub.example.org{prefix}"
        assert server.url == f"http://127.0.0.1:{server.port}"  # code in the notebook keeps the loopback
        assert str(server) == f"Server 'hub' running at {server.url} (in a browser: {server.browser_url})"
        assert server.browser_url in repr(server)
        address = f"{server.browser_url}/playground"
        link = server.link("/playground")._repr_html_()
        assert link == f'<a href="{address}" target="_blank" rel="noopener">{address}</a>'
        # The notebook's code: the server sees no prefix.
        assert httpx2.get(server.url + "/where").json() == {"root_path": "", "path": "/where"}
        # jupyter-server-proxy's /proxy/<port>: the path after the prefix, the prefix in a header.
        proxied = httpx2.get(server.url + "/where", headers={"X-Forwarded-Prefix": prefix}).json()
        assert proxied == {"root_path": prefix, "path": prefix + "/where"}
        # /proxy/absolute/<port>, or a proxy that keeps the whole path; and one that strips it silently.
        assert httpx2.get(server.url + prefix + "/where").json() == proxied
        assert httpx2.get(server.url + "/where", headers={"X-Forwarded-For": "203.0.113.7"}).json() == proxied


def test_public_url_argument_and_variable(laptop):
    laptop.setenv("COURSE_API_PUBLIC_URL", "https://lab.example.org/apis/{port}")
    with serve_in_background(small_app(), name="variable") as server:
        assert server.browser_url == f"https://lab.example.org/apis/{server.port}"
    with serve_in_background(small_app(), name="argument", public_url="https://x-{port}.example.org/") as server:
        assert server.browser_url == f"https://x-{server.port}.example.org"
        assert httpx2.get(server.url + "/").json() == {"hello": "world"}


def test_in_a_codespace_the_browser_url_is_the_forwarded_port(laptop):
    laptop.setenv("CODESPACES", "true")
    laptop.setenv("CODESPACE_NAME", "fluffy-space-guide-7v9x")
    laptop.setenv("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN", "app.github.dev")
    with serve_in_background(where_app(), name="codespace") as server:
        assert server.browser_url == f"https://fluffy-space-guide-7v9x-{server.port}.app.github.dev"
        forwarded = httpx2.get(server.url + "/where", headers={"X-Forwarded-For": "203.0.113.7"}).json()
        assert forwarded == {"root_path": "", "path": "/where"}  # no prefix to add


def test_a_public_url_a_browser_cannot_open_stops_the_start(laptop):
    with pytest.raises(ServerStartError, match="not an address a browser can open"):
        serve_in_background(small_app(), name="bad-url", public_url="hub.example.org/user/ada")
    assert not server_threads()


def test_the_course_server_under_a_jupyterhub(laptop, settings):
    """The course server's pages and /openapi.json carry the proxy's prefix; its answers to code do not."""
    laptop.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    with serve_in_background(settings=settings, name="course-hub") as server:
        prefix = f"/user/ada/proxy/{server.port}"
        assert server.browser_url == prefix  # no public host known: a path, resolved against the Jupyter page
        assert f'href="{prefix}/docs"' in server.link()._repr_html_()  # a link resolves it, printed text cannot
        assert server.link("/docs", "<Swagger UI>")._repr_html_().endswith(">&lt;Swagger UI&gt;</a>")
        assert "servers" not in httpx2.get(server.url + "/openapi.json").json()
        through = httpx2.get(server.url + prefix + "/openapi.json").json()  # as /proxy/absolute/<port> asks
        assert through["servers"] == [{"url": prefix}]
        docs = httpx2.get(server.url + "/docs", headers={"X-Forwarded-Prefix": prefix}).text
        assert f"url: '{prefix}/openapi.json'" in docs
        assert f'src="{prefix}/static-offline-docs/swagger-ui-bundle.js"' in docs
