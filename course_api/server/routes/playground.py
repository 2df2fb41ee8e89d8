"""The playground: a page of plain HTML and JavaScript, served by the course server at ``/playground``.

It is a client that is not Python: type a sentence or drop a digit image, and the page calls
``POST /predict/text`` or ``POST /predict/image`` with ``fetch``, shows the prediction, the raw JSON and the
HTTP status, and the same request as a ``curl`` command. The files live in ``course_api/static/`` and ship
inside the package; there is no build step and nothing comes from another site, so it works offline
(:class:`course_api.server.middleware.SameOriginPages` makes the browser hold the page to that).

Behind a proxy's path prefix (a JupyterHub's ``/user/<name>/proxy/<port>``, the request's ``root_path``), the
page's links to its files and to /docs start with that prefix, and its script calls addresses relative to the page.
"""

from __future__ import annotations

import html
import re
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

STATIC = resources.files("course_api") / "static"

# The files the page may load, and their types: anything else under /playground/static/ is a 404.
ASSETS = {
    "playground.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}
# The page is small and changes with the package: let the browser check for a new one each time.
NO_CACHE = {"Cache-Control": "no-cache"}
# The page's links on this server: href="/..." and src="/...", not "//" (another site).
ROOTED_LINK = re.compile(r'\b(href|src)="/(?!/)')

router = APIRouter(include_in_schema=False)


@router.get("/playground", response_class=HTMLResponse)
def playground(request: Request) -> HTMLResponse:
    """The playground page, its links under the request's path prefix (``root_path``) if it has one."""
    page = (STATIC / "playground.html").read_text(encoding="utf-8")
    root = html.escape(str(request.scope.get("root_path", "")).rstrip("/"))
    if root:
        page = ROOTED_LINK.sub(lambda link: f'{link[1]}="{root}/', page)
    return HTMLResponse(page, headers=NO_CACHE)


@router.get("/playground/static/{name}")
def playground_asset(name: str) -> Response:
    """The page's script and style sheet."""
    if name not in ASSETS:
        raise HTTPException(404, f"No playground file {name!r}; there are: {', '.join(sorted(ASSETS))}.")
    return Response((STATIC / name).read_bytes(), media_type=ASSETS[name], headers=NO_CACHE)
