"""The course server's ASGI middleware: the request-body cap and the same-origin policy of its pages.

Both are plain ASGI rather than ``BaseHTTPMiddleware``: a request they do not concern passes straight through.

:class:`BodyLimit`: no request body larger than the server's limit is read, on any route. Two layers:

* a body that *declares* its size (``Content-Length``) above the limit is refused at once with a 413
  (problem details), before a byte of it is read;
* a body that does not (``Transfer-Encoding: chunked``) is counted as it arrives by Starlette's
  ``RequestBodyLimitMiddleware``; the moment it passes the limit, reading it raises a 413 that the server's
  error handler answers with problem details.

Each path may have its own, lower limit (``limits``): a JSON route needs far less than an upload, and JSON
costs memory when it is parsed (a megabyte of numbers becomes tens of megabytes of Python objects).

Why not ``FastAPI(max_body_size=...)``? It wraps the same Starlette middleware *outside* the app's own
middleware and exception handlers, and answers a declared oversize body with a ``text/plain`` 413; the
course answers every error with problem details.

:class:`SameOriginPages`: the pages a student opens (``/docs``, ``/redoc``, ``/playground``) get a
Content-Security-Policy that allows nothing from another site (ReDoc's bundle, for one, asks its maker's CDN for
a logo: with the policy the browser does not even try), so they keep working offline and leak nothing.

:class:`PathPrefix`: the server behind a reverse proxy's path prefix, as in a JupyterHub, where
jupyter-server-proxy serves it at ``/user/<name>/proxy/<port>/``. The prefix becomes the request's ASGI
``root_path``, so the pages' links, ``/docs``' ``openapi.json`` and the server listed in ``/openapi.json`` (what
Swagger UI's "Try it out" calls) carry it, whether the proxy strips the prefix from the path (it then says so in
``X-Forwarded-Prefix``, as jupyter-server-proxy does) or passes it on. Routes still see the path after the prefix:
every middleware here reads :func:`route_path`, not ``scope["path"]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from course_api.server.problems import body_too_large
from course_api.system.public_url import is_safe_prefix


def route_path(scope: Scope) -> str:
    """The request's path after its ``root_path`` (the path the app routes on), as Starlette's router reads it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :]
    return path


class BodyLimit:
    """Refuse request bodies over ``max_body_bytes`` (or over ``limits[path]`` for the paths listed)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, limits: Mapping[str, int] | None = None) -> None:
        if max_body_bytes < 0 or any(v < 0 for v in (limits or {}).values()):
            raise ValueError("Body limits must be 0 or more bytes.")
        self.max_body_bytes = max_body_bytes
        self.limits = dict(limits or {})
        self._counted = {
            limit: RequestBodyLimitMiddleware(app, max_body_size=limit)
            for limit in {max_body_bytes, *self.limits.values()}
        }
        self.app = app

    def limit_for(self, path: str) -> int:
        return self.limits.get(path, self.max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(route_path(scope))
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            # Answer without reading the body; the server discards what the client still sends.
            response = body_too_large(Request(scope), limit)
            await response(scope, receive, send)
            return
        await self._counted[limit](scope, receive, send)


# Scripts and styles inline or from this server, images also as data: URLs, workers from blob: URLs (ReDoc's
# search), requests to this server only. Swagger UI and ReDoc need the inline parts; the playground does not.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'self'"
)


class SameOriginPages:
    """The Content-Security-Policy above on the answers of ``paths``, nothing elsewhere."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = ("/docs", "/redoc", "/playground")) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) not in self.paths:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_policy)


# Headers that only a proxy adds: a request with one came through a proxy, not straight from the notebook's code.
FORWARDED = ("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class PathPrefix:
    """Serve ``app`` under a reverse proxy's path prefix: the prefix becomes the ASGI ``root_path``.

    The prefix of a request is, first, its ``X-Forwarded-Prefix`` header (jupyter-server-proxy sends it when it
    strips the prefix); else ``prefix``, where ``{port}`` stands for the port the server listens on, if the path
    starts with it (a proxy that keeps the prefix) or if a proxy forwarded the request (``X-Forwarded-For`` and
    the like: a proxy that strips it without saying so). A request with none of these, such as the notebook's
    own code calling ``server.url``, passes unchanged. A header that is not a plain path is ignored; a prefix that
    an outer layer (or ``uvicorn --root-path``) already applied is not applied twice. Any client may send the
    header, as with ``X-Forwarded-For``: it changes only the links in the answer to that client's own request.
    """

    def __init__(self, app: ASGIApp, prefix: str = "") -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")
        if not is_safe_prefix(self.prefix.replace("{port}", "0")):
            raise ValueError(f"The path prefix {prefix!r} is not a plain URL path such as /user/ada/proxy/8000.")

    def prefix_of(self, scope: Scope) -> str:
        """The prefix of this request, "" for none."""
        headers = Headers(scope=scope)
        forwarded = headers.get("x-forwarded-prefix", "").strip().rstrip("/")
        if forwarded and is_safe_prefix(forwarded):
            return forwarded
        prefix = self.prefix
        if "{port}" in prefix:
            server = scope.get("server")
            prefix = prefix.replace("{port}", str(server[1])) if server else ""
        if prefix and (_under(route_path(scope), prefix) or any(name in headers for name in FORWARDED)):
            return prefix
        return ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix = self.prefix_of(scope) if scope["type"] in ("http", "websocket") else ""
        root: str = scope.get("root_path", "")
        if not prefix or root.endswith(prefix):
            await self.app(scope, receive, send)
            return
        rest = route_path(scope)
        scope = {**scope, "root_path": root + prefix}
        if not _under(rest, prefix):  # stripped by the proxy: put it back, as uvicorn --root-path does
            scope["path"] = root + prefix + rest
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                raw_rest = raw[len(root.encode()) :] if raw.startswith(root.encode()) else raw
                scope["raw_path"] = (root + prefix).encode() + raw_rest
        await self.app(scope, receive, send)
