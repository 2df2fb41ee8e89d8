"""Run a real uvicorn server from a notebook cell, in the background, on a free loopback port.

``uvicorn.run()`` in a notebook cell fails with "asyncio.run() cannot be called from a running event loop"
(Jupyter already runs one) and, if it worked, would block the cell forever. :func:`serve_in_background`
runs uvicorn's ``Server`` in a daemon thread with its own event loop instead::

    server = serve_in_background()          # the course server, models loaded, on 127.0.0.1:<free port>
    requests.get(server.url + "/").json()
    server.stop()

    with serve_in_background("main:app") as server:   # your own app, by import string or object
        ...

``server.url`` is for code in the notebook: the kernel's machine reaches it. ``server.browser_url`` is for a
person: the same as ``url`` on a laptop, the address through the hub's proxy in a JupyterHub or on Binder
(``https://hub.example.org/user/ada/proxy/54321``, or just its path when the hub does not say its host) and the
forwarded port in GitHub Codespaces (:mod:`course_api.system.public_url` has the rules; ``COURSE_API_PUBLIC_URL`` or
``public_url=`` overrides them). Behind such a path prefix the server's pages (/docs, /redoc, /playground) and
/openapi.json carry it (:class:`course_api.server.middleware.PathPrefix`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import html
import logging
import os
import socket
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

import uvicorn

from course_api.system.ports import PortInUseError, bind_socket
from course_api.system.public_url import browser_url, path_prefix

if TYPE_CHECKING:
    from IPython.display import HTML

    from course_api.server.settings import Settings

__all__ = [
    "BackgroundServer",
    "ServerStartError",
    "running_servers",
    "serve_in_background",
    "stop_all",
]

_servers: dict[str, BackgroundServer] = {}
_lock = threading.Lock()


class ServerStartError(RuntimeError):
    """The server did not start; the message says why and what to do."""


class _Collector(logging.Handler):
    """Keeps the server's warning and error log lines, to explain a failed start."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage().strip()
        if line.startswith("Traceback"):  # keep the exception's own line, not the whole traceback
            line = line.splitlines()[-1]
        if record.exc_info and record.exc_info[1] is not None:
            line += "\n" + "".join(traceback.format_exception_only(record.exc_info[0], record.exc_info[1])).strip()
        self.lines.append(line)


class _Config(uvicorn.Config):
    """uvicorn's configuration, with the app served under ``prefix`` (a proxy's path prefix) when there is one."""

    def __init__(self, app: Any, *, prefix: str, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.prefix = prefix

    def load(self) -> None:
        super().load()
        if self.prefix:
            from course_api.server.middleware import PathPrefix

            self.loaded_app = PathPrefix(self.loaded_app, prefix=self.prefix)


class BackgroundServer:
    """A uvicorn server running in a daemon thread. Use :func:`serve_in_background` to make one."""

    def __init__(
        self, app: Any, *, name: str, host: str, port: int, log_level: str, public_url: str | None = None
    ) -> None:
        self.name = name
        self.host = host
        self._socket = _bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        try:
            self._browser_url = browser_url(self.port, self.url, os.environ, public_url)
        except ValueError as exc:
            self._close_socket()
            raise ServerStartError(f"The server '{name}' was not started: {exc}") from None
        config = _Config(
            app,
            prefix=path_prefix(self._browser_url),
            log_config=None,  # leave the notebook's logging alone
            log_level=log_level,
            access_log=False,  # no "GET / 200 OK" lines leaking into other cells
            lifespan="on",
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._thread = threading.Thread(target=self._run, name=f"course-api-server-{name}", daemon=True)

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def browser_url(self) -> str:
        """The address a person opens in a browser (no trailing slash): ``url`` on a laptop; through the hub's
        proxy in a JupyterHub or on Binder (a path alone when the hub does not say its host: a link in the
        notebook resolves it); the forwarded port in GitHub Codespaces. Rules: :mod:`course_api.system.public_url`."""
        return self._browser_url

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self._server.started and not self._server.should_exit

    @property
    def app(self) -> Any:
        return self._server.config.loaded_app if self._server.config.loaded else self._server.config.app

    def _run(self) -> None:
        # The thread's own event loop (Jupyter's loop stays untouched), kept so that stop() can cancel a
        # start-up that never finishes.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._task = loop.create_task(self._server.serve(sockets=[self._socket]))
            loop.run_until_complete(self._task)
        except BaseException as exc:  # SystemExit on a failed lifespan start, CancelledError, anything else
            self._error = exc
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _cancel(self) -> None:
        """Cancel the server's task from another thread (for a start-up that hangs)."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(task.cancel)

    def start(self, timeout: float) -> BackgroundServer:
        collector = _Collector()
        # "uvicorn.error" reports start-up failures and propagates to "uvicorn": watching the parent
        # also keeps Python's last-resort handler from printing the same traceback to stderr.
        watched = [logging.getLogger("uvicorn")]
        for logger in watched:
            logger.addHandler(collector)
        try:
            self._thread.start()
            deadline = time.monotonic() + timeout
            while not self._server.started:
                if not self._thread.is_alive():
                    self._close_socket()
                    reason = "\n".join(collector.lines) or repr(self._error) or "the server thread ended"
                    raise ServerStartError(
                        f"The server '{self.name}' did not start:\n{reason}\n"
                        "Fix the error above (often: the app fails while loading its models) and run the cell again."
                    )
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerStartError(
                        f"The server '{self.name}' did not start within {timeout:.0f} s and was stopped. "
                        "Its start-up (lifespan) may be stuck; pass a larger timeout= if loading is just slow."
                    )
                time.sleep(0.01)
        finally:
            for logger in watched:
                logger.removeHandler(collector)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and wait for its thread to end (at most ``timeout`` seconds)."""
        self._server.should_exit = True
        if not self._server.started:
            self._cancel()  # still starting: a lifespan that waits forever would never see should_exit
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout / 2)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._cancel()
                self._thread.join(timeout / 2)
        self._close_socket()
        with _lock:
            if _servers.get(self.name) is self:
                del _servers[self.name]

    def _close_socket(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def link(self, path: str = "/docs", text: str | None = None) -> HTML:
        """A link to ``browser_url + path`` for a cell to show, e.g. ``server.link("/playground")``. A link also
        opens when ``browser_url`` is a path alone (a JupyterHub that does not say its host): the browser resolves
        it against the notebook's page, which printed text cannot do."""
        from IPython.display import HTML

        address = self.browser_url + path
        label = html.escape(text if text is not None else address)
        return HTML(f'<a href="{html.escape(address)}" target="_blank" rel="noopener">{label}</a>')

    def _opened_at(self) -> str:
        """What ``str()`` adds when a person opens another address than ``url``: that address."""
        return "" if self.browser_url == self.url else f" (in a browser: {self.browser_url})"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BackgroundServer {self.name!r} {state} at {self.url}{self._opened_at()}>"

    def __str__(self) -> str:
        return f"Server '{self.name}' {'running' if self.running else 'stopped'} at {self.url}{self._opened_at()}"


def _bind(host: str, port: int) -> socket.socket:
    try:
        return bind_socket(host, port)
    except PortInUseError as exc:
        raise ServerStartError(
            f"Port {port} on {host} is already in use. Stop the other server (another notebook, or "
            "'course-api serve' in a terminal), or pass port=0 to use any free port."
        ) from exc
    except OSError as exc:
        raise ServerStartError(f"Could not open a socket on {host}: {exc.strerror or exc}.") from None


def serve_in_background(
    app: Any = None,
    *,
    name: str = "course",
    host: str = "127.0.0.1",
    port: int = 0,
    device: str | None = None,
    settings: Settings | None = None,
    timeout: float = 60.0,
    log_level: str = "warning",
    public_url: str | None = None,
) -> BackgroundServer:
    """Start ``app`` (default: the course server) with uvicorn in a background thread; return once it answers.

    * ``app``: an ASGI app object, an import string such as ``"main:app"``, or None for the course server
      (built from ``settings`` or the environment, with ``device`` if given).
    * ``port=0`` (the default) takes any free port, so notebooks running side by side never clash.
    * Running the cell again stops the earlier server of the same ``name`` first.
    * The server stops at :meth:`BackgroundServer.stop`, at the end of a ``with`` block, or when Python exits.
    * ``.url`` is for code; ``.browser_url`` is what a person opens (through a JupyterHub's proxy, Binder's or
      Codespaces' forwarding). ``public_url`` sets that address (``{port}`` stands for the port), else the
      ``public_url`` of ``settings``, else ``COURSE_API_PUBLIC_URL``, else it is found from the environment.

    Raises :class:`ServerStartError` with the reason when the server cannot start within ``timeout`` seconds.
    """
    with _lock:
        previous = _servers.pop(name, None)
    if previous is not None:
        previous.stop()
    if app is None:
        from course_api.server.app import create_app
        from course_api.server.settings import Settings

        settings = settings if settings is not None else Settings.from_env()
        given = {k: v for k, v in {"device": device, "public_url": public_url}.items() if v}
        app = create_app(settings.with_changes(**given) if given else settings)
    if not public_url and settings is not None:
        public_url = settings.public_url
    server = BackgroundServer(app, name=name, host=host, port=port, log_level=log_level, public_url=public_url)
    server.start(timeout)
    with _lock:
        _servers[name] = server
    return server


def running_servers() -> list[BackgroundServer]:
    with _lock:
        return list(_servers.values())


def stop_all() -> None:
    """Stop every server started by :func:`serve_in_background` in this Python process."""
    for server in running_servers():
        server.stop()


atexit.register(stop_all)
