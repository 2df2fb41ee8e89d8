"""The course server: a real FastAPI app with the endpoints every notebook uses.

Run it with ``course-api serve``, or ``uvicorn --factory course_api.server.app:create_app``, or from a notebook with
``course_api.serve_in_background()``. ``create_app(settings)`` assembles a fresh app (lifespan, error handlers,
middleware, routers) from the settings it is given; without any, from the environment (``COURSE_API_*``
variables), when it is called. Importing this module builds nothing. The routes live in
:mod:`course_api.server.routes`; docs/ARCHITECTURE.md draws the map.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from urllib.parse import urlsplit

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from course_api.server import VERSION, problems
from course_api.server.batching import BatcherClosed, QueueFull
from course_api.server.image_fast_path import ImageUploadFastPath
from course_api.server.inference import ModelService, Predictor
from course_api.server.middleware import BodyLimit, PathPrefix, SameOriginPages
from course_api.server.openapi_limits import document_settings
from course_api.server.routes import basics, generation, playground, predictions
from course_api.server.settings import Settings

logger = logging.getLogger("course_api.server")
# python-multipart logs a warning for every malformed part header: a client could fill the log with them.
# The client already gets a 4xx that says what is wrong, so keep only its errors.
logging.getLogger("python_multipart").setLevel(logging.ERROR)

DESCRIPTION = """
The server of the **Creating APIs** course: HTTP basics, JSON, FastAPI and a PyTorch model behind an API.

* `GET /` is a health check; `GET /items/{item_id}?q=` and `GET /status/{code}` are for practising requests.
* `GET /astros.json` is an offline copy of the public "people in space" document.
* `POST /predict/text`, `/predict/image` and `/predict/pixels` run the models; `GET /model` describes them.
* `POST /generate` writes text with a small character-level model, streamed as it is written (server-sent
  events; `POST /generate/jsonl`: JSON Lines).

Every mistake a client can make gets a 4xx answer, and every error (4xx or 5xx) has the same body:
RFC 9457 *problem details* (`application/problem+json`) with `type`, `title`, `status`, `instance` and a
`detail` sentence that says what to fix; a 422 adds `errors`, one entry per offending field. Limits: request
bodies, uploads, image pixels, text length and batch size (413 or 422, see each route); a full queue is a 503
with `Retry-After`.
"""

TAGS = [
    {"name": "basics", "description": "Health check and routes for practising HTTP requests."},
    {"name": "models", "description": "Predictions from the course's PyTorch models."},
    {"name": "generation", "description": "Text from a small generative model, streamed as it is written."},
]
# bodies capped at settings.json_body_limit
JSON_ROUTES = ("/predict/text", "/predict/pixels", "/generate", "/generate/jsonl")
DECODE_THREADS = 2  # at most this many large images are decoded at once (memory)


def lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Load the models once, before the first request; close their batchers at shutdown."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        service = ModelService.load(settings.weights_dir, settings.device)
        logger.info("Models loaded on %s in %.2f s", service.device, service.load_seconds)
        app.state.models = service
        gc.freeze()  # the collector skips start-up's ~200,000 objects (docs/ARCHITECTURE.md, "Start-up")
        app.state.predictor = Predictor(service, settings)
        app.state.decode_limiter = anyio.CapacityLimiter(DECODE_THREADS)
        yield
        await app.state.predictor.aclose()
        app.state.models = app.state.predictor = None

    return run


def install_error_handlers(app: FastAPI) -> None:
    """Every 4xx and 5xx answer is RFC 9457 problem details, documented so in /openapi.json."""
    problems.install_handlers(app)
    busy = problems.service_unavailable("server-busy", lambda exc: getattr(exc, "retry_after", 1))
    closing = problems.service_unavailable("shutting-down", lambda exc: 5, advice=" Try again shortly.")
    app.add_exception_handler(QueueFull, busy)
    app.add_exception_handler(BatcherClosed, closing)
    problems.problem_media_type(app)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new course app. Models load when the server starts (lifespan), not when the app is created."""
    settings = settings or Settings.from_env()
    app = FastAPIOffline(
        title="Creating APIs: course server",
        version=VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan(settings),
        debug=False,  # never a traceback in an answer: problem details, and the traceback in the log
    )
    app.state.settings = settings
    accessible_docs(app)
    install_error_handlers(app)
    document_settings(app, settings)
    json_limits = dict.fromkeys(JSON_ROUTES, settings.json_body_limit)
    # Inside BodyLimit: the usual image upload without FastAPI's form machinery; anything else goes to the route.
    app.add_middleware(ImageUploadFastPath)
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes, limits=json_limits)
    app.include_router(basics.router)
    app.include_router(predictions.router)
    app.include_router(generation.router)
    app.include_router(playground.router)
    app.add_middleware(SameOriginPages)  # /docs, /redoc, /playground may load nothing from another site
    # Outermost: behind a proxy's path prefix (a JupyterHub's /user/<name>/proxy/<port>), links carry it.
    app.add_middleware(PathPrefix, prefix=public_prefix(settings))
    return app


# /docs is fastapi_offline's Swagger UI page, served from the package (no CDN), with two fixes of the course's:
# the page's language (its <html> has no lang, which screen readers need) and docs.css, inlined, which darkens the
# colours that Swagger UI's own style sheet gives too little contrast (WCAG 2.1 AA). What Swagger UI's markup
# itself fails is left as it is and reported in the README ("Accessibility"); tests/course/test_accessibility.py checks.
DOCS_CSS = resources.files("course_api") / "static" / "docs.css"


def accessible_docs(app: FastAPI) -> None:
    """Serve fastapi_offline's /docs page with ``lang="en"`` and the course's contrast fixes (docs.css)."""
    (route,) = [r for r in app.router.routes if isinstance(r, APIRoute) and r.path == "/docs"]
    upstream = route.endpoint
    app.router.routes.remove(route)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui_html(request: Request) -> HTMLResponse:
        page = bytes((await upstream(request)).body).decode("utf-8")
        style = f"<style>\n{DOCS_CSS.read_text(encoding='utf-8')}</style>\n</head>"
        page = page.replace("<html>", '<html lang="en">', 1).replace("</head>", style, 1)
        return HTMLResponse(page)


def public_prefix(settings: Settings) -> str:
    """The path of the ``public_url`` setting ("" without one), ``{port}`` still in it: the prefix under which a
    proxy shows the server (PathPrefix also takes it from each proxied request's ``X-Forwarded-Prefix``)."""
    return urlsplit(settings.public_url).path.rstrip("/") if settings.public_url else ""


# `course-api serve` with --workers or --reload: uvicorn starts the app in other processes, from an import string.
# serve hands each of them the settings it validated, whole, as JSON in this variable; app_from_serve reads them.
SERVE_SETTINGS = "COURSE_API_SERVE_SETTINGS"


def app_from_serve() -> FastAPI:
    """The app of one process that ``course-api serve`` started (uvicorn's ``--factory``), with serve's settings."""
    handed = os.environ.get(SERVE_SETTINGS)
    if handed is None:
        raise RuntimeError(f"{SERVE_SETTINGS} is not set: start the server with course-api serve")
    return create_app(Settings.model_validate_json(handed))


__all__ = ["SERVE_SETTINGS", "app_from_serve", "create_app"]
