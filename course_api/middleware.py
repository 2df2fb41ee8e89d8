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
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from course_api.problems import body_too_large


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
        limit = self.limit_for(scope["path"])
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
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_policy)
