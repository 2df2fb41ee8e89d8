"""The request-body cap: no request body larger than the server's limit is read, on any route.

:class:`BodyLimit` is plain ASGI middleware with two layers:

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
"""

from __future__ import annotations

from typing import Mapping

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

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
