"""The playground: a page of plain HTML and JavaScript, served by the course server at ``/playground``.

It is a client that is not Python: type a sentence or drop a digit image, and the page calls
``POST /predict/text`` or ``POST /predict/image`` with ``fetch``, shows the prediction, the raw JSON and the
HTTP status, and the same request as a ``curl`` command. The files live in ``course_api/static/`` and ship
inside the package; there is no build step and nothing comes from another site, so it works offline.

``SameOriginPages`` makes the browser hold the pages a student opens (``/docs``, ``/redoc``, ``/playground``)
to that promise: it sends them with a Content-Security-Policy that allows nothing from another site. ReDoc's
bundle, for one, shows its maker's logo from their CDN; with the policy the browser does not even try.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = resources.files("course_api") / "static"

# The files the page may load, and their types: anything else under /playground/static/ is a 404.
ASSETS = {
    "playground.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}
# The page is small and changes with the package: let the browser check for a new one each time.
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/playground", response_class=HTMLResponse)
def playground() -> HTMLResponse:
    """The playground page."""
    return HTMLResponse((STATIC / "playground.html").read_text(encoding="utf-8"), headers=NO_CACHE)


@router.get("/playground/static/{name}")
def playground_asset(name: str) -> Response:
    """The page's script and style sheet."""
    if name not in ASSETS:
        raise HTTPException(404, f"No playground file {name!r}; there are: {', '.join(sorted(ASSETS))}.")
    return Response((STATIC / name).read_bytes(), media_type=ASSETS[name], headers=NO_CACHE)


# Scripts and styles inline or from this server, images also as data: URLs, workers from blob: URLs (ReDoc's
# search), requests to this server only. Swagger UI and ReDoc need the inline parts; the playground does not.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'self'"
)


class SameOriginPages:
    """ASGI middleware: the Content-Security-Policy above on the answers of ``paths``, nothing elsewhere.

    Plain ASGI rather than ``BaseHTTPMiddleware``: the API's own requests pass straight through.
    """

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


__all__ = ["CONTENT_SECURITY_POLICY", "SameOriginPages", "router"]
