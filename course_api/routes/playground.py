"""The playground: a page of plain HTML and JavaScript, served by the course server at ``/playground``.

It is a client that is not Python: type a sentence or drop a digit image, and the page calls
``POST /predict/text`` or ``POST /predict/image`` with ``fetch``, shows the prediction, the raw JSON and the
HTTP status, and the same request as a ``curl`` command. The files live in ``course_api/static/`` and ship
inside the package; there is no build step and nothing comes from another site, so it works offline
(:class:`course_api.middleware.SameOriginPages` makes the browser hold the page to that).
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

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
