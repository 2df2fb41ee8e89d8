"""The course server: a real FastAPI app with the endpoints every notebook uses.

Run it with ``course-api serve`` (or ``uvicorn course_api.server:app``), or from a notebook with
``course_api.serve_in_background()``. ``create_app(settings)`` builds a fresh app; ``app`` is the one
built from the environment (``COURSE_API_*`` variables).
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from functools import lru_cache
from http import HTTPStatus
from importlib import resources
from typing import Annotated, Any, AsyncIterator

import anyio
from fastapi import Depends, FastAPI, File, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline

from course_api import __version__
from course_api import problems
from course_api.imaging import ImageError, digit_pixels, load_image, open_image
from course_api.inference import ModelService, Predictor
from course_api.limits import BodyLimit
from course_api.models.sentiment import SENTIMENT_LABELS
from course_api.playground import SameOriginPages, router as playground_router
from course_api.schemas import (
    Astros,
    Health,
    HealthData,
    ImagePrediction,
    Item,
    ModelInfo,
    PixelsIn,
    PixelsPrediction,
    StatusEcho,
    TextIn,
    TextPrediction,
)
from course_api.problems import APIProblem, error_responses
from course_api.settings import Settings

logger = logging.getLogger("course_api.server")
# python-multipart logs a warning for every malformed part header: a client could fill the log with them.
# The client already gets a 4xx that says what is wrong, so keep only its errors.
logging.getLogger("python_multipart").setLevel(logging.ERROR)

DESCRIPTION = """
The server of the **Creating APIs** course: HTTP basics, JSON, FastAPI and a PyTorch model behind an API.

* `GET /` is a health check; `GET /items/{item_id}?q=` and `GET /status/{code}` are for practising requests.
* `GET /astros.json` is an offline copy of the public "people in space" document.
* `POST /predict/text`, `/predict/image` and `/predict/pixels` run the models; `GET /model` describes them.

Every mistake a client can make gets a 4xx answer, and every error (4xx or 5xx) has the same body:
RFC 9457 *problem details* (`application/problem+json`) with `type`, `title`, `status`, `instance` and a
`detail` sentence that says what to fix; a 422 adds `errors`, one entry per offending field. Limits: request
bodies, uploads, image pixels, text length and batch size (413 or 422, see each route); a full queue is a 503
with `Retry-After`.
"""

TAGS = [
    {"name": "basics", "description": "Health check and routes for practising HTTP requests."},
    {"name": "models", "description": "Predictions from the course's PyTorch models."},
]


# What the error answers of the routes mean (all problem details: course_api.problems).
BUSY = "The model's queue is full, or the server is shutting down: try again after `Retry-After` seconds."
UNREADABLE_BODY = "The body could not be read at all: broken multipart, JSON nested too deeply, or not UTF-8."


@lru_cache(maxsize=1)
def astros_document() -> dict[str, Any]:
    """The offline "people in space" document that ships in ``course_api/data/astros.json``."""
    text = (resources.files("course_api") / "data" / "astros.json").read_text(encoding="utf-8")
    return Astros.model_validate_json(text).model_dump()


async def get_predictor(request: Request) -> Predictor:
    return request.app.state.predictor


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


Models = Annotated[Predictor, Depends(get_predictor)]
Config = Annotated[Settings, Depends(get_settings)]


def _round(values: Any) -> list[float]:
    return [round(float(v), 6) for v in values]


def _digit(probabilities: Any) -> dict[str, Any]:
    best = int(probabilities.argmax())
    return {"digit": best, "score": round(float(probabilities[best]), 6), "probabilities": _round(probabilities)}


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new course app. Models load when the server starts (lifespan), not when the app is created."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load once, before the first request: loading per request would cost a second each time.
        service = ModelService.load(settings.weights_dir, settings.device)
        logger.info("Models loaded on %s in %.2f s", service.device, service.load_seconds)
        app.state.models = service
        # Python's cycle collector now and then walks every object of the process, and torch brings hundreds
        # of thousands: under load those full collections stalled requests for ~80 ms (text's p99 at
        # concurrency 16: 84 ms, 10 ms after this). Freeze what start-up made (~200,000 objects, instantly; a
        # gc.collect() first would cost ~110 ms of cold start to free a few dozen), so that the collector only
        # looks at what requests create.
        gc.freeze()
        app.state.predictor = Predictor(
            service,
            batching=settings.batching,
            max_batch_size=settings.batch_max_size,
            max_wait_s=settings.batch_wait_ms / 1000,
            queue_limit=settings.queue_limit,
        )
        # Large images are decoded in worker threads, at most this many at once: memory stays bounded
        # however many large uploads arrive together.
        app.state.decode_limiter = anyio.CapacityLimiter(DECODE_THREADS)
        yield
        await app.state.predictor.aclose()
        app.state.models = app.state.predictor = None

    app = FastAPIOffline(
        title="Creating APIs: course server",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        debug=False,  # never a traceback in an answer: problem details, and the traceback in the log
    )
    app.state.settings = settings
    problems.install(app)  # every 4xx and 5xx answer is RFC 9457 problem details
    _document_limits(app, settings)
    # No request body over the limits is read (413); the JSON routes need far less than an upload.
    json_routes = ("/predict/text", "/predict/pixels")
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        limits={path: min(settings.max_json_bytes, settings.max_body_bytes) for path in json_routes},
    )
    json_errors = {
        400: UNREADABLE_BODY,
        413: f"The body is larger than {min(settings.max_json_bytes, settings.max_body_bytes)} bytes (`max_json_bytes`).",
    }

    # ------------------------------------------------------------------------------------- basics
    @app.get("/", response_model=Health, tags=["basics"], summary="Health check")
    async def root(request: Request) -> dict[str, Any]:
        """The draft course's health check, with the device and models in `data`."""
        models: Predictor = request.app.state.predictor
        return {
            "message": HTTPStatus.OK.phrase,
            "status-code": HTTPStatus.OK,
            "data": HealthData(device=str(models.device), models=sorted(models.service.cards), version=__version__),
        }

    @app.get(
        "/items/{item_id}",
        response_model=Item,
        tags=["basics"],
        summary="Read an item",
        responses=error_responses({422: "`item_id` is not a whole number, or `q` is longer than 200 characters."}),
    )
    async def read_item(
        item_id: Annotated[int, Path(description="Any whole number; `/items/foo` is a 422.")],
        q: Annotated[str | None, Query(max_length=200, description="An optional query string.")] = None,
    ) -> Item:
        return Item(item_id=item_id, q=q)

    @app.get(
        "/status/{code}",
        response_model=StatusEcho,
        tags=["basics"],
        summary="Answer with any status code",
        responses={
            "2XX": {"model": StatusEcho, "description": "The 2xx you asked for, described."},
            "3XX": {"model": StatusEcho, "description": "The 3xx you asked for, described (no `Location`: nothing to follow)."},
            **{c: {"description": f"{HTTPStatus(c).phrase} (no body)"} for c in NO_BODY_STATUSES},
            **error_responses({
                "4XX": "The 4xx you asked for, as problem details with the status described in extension members "
                "(`status-code`, `phrase`, `description`, `class`); a 422 with `errors` for a code that HTTP does "
                "not define.",
                "5XX": "The 5xx you asked for, on purpose (the only route that answers 5xx when nothing is wrong), "
                "as problem details like the 4xx ones.",
            }),
        },
    )
    async def status_echo(
        code: Annotated[
            int,
            Path(
                ge=200,
                le=599,
                description="An HTTP status code from 200 to 599 that HTTP defines (another number is a 422).",
                json_schema_extra={"enum": [s.value for s in HTTPStatus if 200 <= s.value <= 599]},
            ),
        ],
        request: Request,
    ) -> Response:
        """Answers with the status code you ask for, so you can see every class of status happen.

        4xx and 5xx answers are problem details, like every error of this server. 5xx answers here are on
        purpose: a real server gives a 5xx only when *it* fails, never because of what a client sent.
        """
        try:
            status = HTTPStatus(code)
        except ValueError:
            raise APIProblem(
                "validation-error",
                f"{code} is not a registered HTTP status code; try 200, 404, 418 or 503.",
                loc=("path", "code"),
                error_type="status_unknown",
            ) from None
        if code in NO_BODY_STATUSES:  # these statuses must not carry a body
            return Response(status_code=code)
        body = {
            "status-code": code,
            "phrase": status.phrase,
            "description": status.description,
            "class": _status_class(code),
        }
        headers = {"Retry-After": "1"} if code in (429, 503) else None
        if code < 400:
            return JSONResponse(status_code=code, content=body, headers=headers)
        about = f": {status.description.rstrip('.')}" if status.description else ""
        detail = f"You asked for {code} {status.phrase}{about}. This route answers with any status on purpose."
        return problems.problem(request, code, detail, headers=headers, **body)

    @app.get("/astros.json", response_model=Astros, tags=["basics"], summary="People in space (offline copy)")
    async def astros() -> dict[str, Any]:
        """A snapshot in the shape of the public open-notify `astros.json`, served from the package."""
        return astros_document()

    # ------------------------------------------------------------------------------------- models
    @app.post(
        "/predict/text",
        response_model=TextPrediction,
        tags=["models"],
        summary="Sentiment of a sentence",
        responses=error_responses({
            **json_errors,
            422: f"Invalid JSON, no `text`, a text that is empty or only whitespace, or longer than "
            f"{settings.max_text_chars} characters (`max_text_chars`).",
            503: BUSY,
        }),
    )
    async def predict_text(body: TextIn, models: Models, config: Config) -> dict[str, Any]:
        text = body.text
        if not text.strip():
            raise APIProblem(
                "validation-error",
                "The text is only whitespace: send a sentence, e.g. {\"text\": \"I love this course\"}.",
                loc=("body", "text"),
                error_type="text_blank",
            )
        if len(text) > config.max_text_chars:
            raise APIProblem(
                "validation-error",
                f"The text has {len(text)} characters; the limit is {config.max_text_chars}: send a shorter text.",
                loc=("body", "text"),
                error_type="text_too_long",
            )
        probabilities = (await models.sentiment([text]))[0]
        best = int(probabilities.argmax())
        return {
            "label": SENTIMENT_LABELS[best],
            "score": round(float(probabilities[best]), 6),
            "probabilities": dict(zip(SENTIMENT_LABELS, _round(probabilities))),
            "device": str(models.device),
        }

    @app.post(
        "/predict/image",
        response_model=ImagePrediction,
        tags=["models"],
        summary="Which digit is in an image",
        responses=error_responses({
            400: UNREADABLE_BODY,
            413: f"Too large: the body over {settings.max_body_bytes} bytes (`max_body_bytes`), the file over "
            f"{settings.max_upload_bytes} bytes (`max_upload_bytes`), or the image over {settings.max_image_pixels} "
            "pixels (`max_image_pixels`, read from its header before anything is decoded).",
            415: "The file is not a PNG or JPEG (GIF, BMP, TIFF, WebP and others are refused without being decoded).",
            422: "No `file` field, an empty file, or an image that is truncated or corrupt.",
            503: BUSY,
        }),
    )
    async def predict_image(
        file: Annotated[UploadFile, File(description="A PNG or JPEG of one handwritten digit, any size or colour.")],
        models: Models,
        config: Config,
        request: Request,
    ) -> dict[str, Any]:
        name = (file.filename or "upload")[:100]
        data = await file.read(config.max_upload_bytes + 1)
        if len(data) > config.max_upload_bytes:
            raise APIProblem(
                "upload-too-large",
                f"{name}: the file is larger than {config.max_upload_bytes} bytes: send a smaller image.",
                loc=("body", "file"),
                error_type="upload_too_large",
            )
        try:
            image = open_image(data, max_pixels=config.max_image_pixels)  # the header only: cheap
            # A small image is decoded right here; a large one in a worker thread (a few at a time), so that
            # the event loop (every other request) never waits for it.
            if image.width * image.height <= INLINE_DECODE_PIXELS:
                pixels = _preprocess(image)
            else:
                pixels = await anyio.to_thread.run_sync(_preprocess, image, limiter=request.app.state.decode_limiter)
        except ImageError as exc:
            raise APIProblem(
                exc.kind, f"{name}: {exc}", loc=("body", "file"), error_type=exc.kind.replace("-", "_")
            ) from None
        probabilities = (await models.digits([pixels]))[0]
        return {
            **_digit(probabilities),
            "pixels": pixels.tolist(),
            "width": image.width,
            "height": image.height,
            "device": str(models.device),
        }

    @app.post(
        "/predict/pixels",
        response_model=PixelsPrediction,
        tags=["models"],
        summary="Digits for a batch of 8x8 pixel arrays",
        responses=error_responses({
            **json_errors,
            422: "Invalid JSON, or an image that is not 8 rows of 8 finite numbers from 0 to 16 (NaN and Infinity "
            f"are refused), or more than {settings.max_batch_size} images (`max_batch_size`).",
            503: BUSY,
        }),
    )
    async def predict_pixels(body: PixelsIn, models: Models, config: Config) -> dict[str, Any]:
        if len(body.images) > config.max_batch_size:
            raise APIProblem(
                "validation-error",
                f"The batch has {len(body.images)} images; the limit is {config.max_batch_size}: split it up.",
                loc=("body", "images"),
                error_type="too_long",
            )
        probabilities = await models.digits(body.images)
        return {"predictions": [_digit(p) for p in probabilities], "device": str(models.device)}

    @app.get("/model", response_model=ModelInfo, tags=["models"], summary="Describe the loaded models")
    async def model_info(models: Models) -> dict[str, Any]:
        return models.describe()

    app.include_router(playground_router)  # GET /playground: a client in plain HTML and JavaScript
    app.add_middleware(SameOriginPages)  # /docs, /redoc, /playground may load nothing from another site
    return app


INLINE_DECODE_PIXELS = 512 * 512  # larger images are decoded in a worker thread
DECODE_THREADS = 2  # at most this many large images are decoded at once (memory)
NO_BODY_STATUSES = (204, 205, 304)


def _preprocess(image: Any) -> Any:
    """The model's 8x8 input for an opened image; anything that fails on the way is the upload's problem (422),
    never a 500: a client can send any PNG or JPEG Pillow opens, in any of its modes."""
    try:
        return digit_pixels(load_image(image))
    except ImageError:
        raise
    except Exception as exc:
        logger.warning("Could not preprocess a %s %s image of %sx%s", image.format, image.mode, *image.size, exc_info=exc)
        raise ImageError(f"The image could not be processed ({type(exc).__name__}); send an ordinary PNG or JPEG.") from None


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """Put this server's text and batch limits into /openapi.json (the handlers check them, with answers
    that say more than pydantic's would), so that the schema tells clients the truth."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        models = schema.get("components", {}).get("schemas", {})
        if "TextIn" in models:
            models["TextIn"]["properties"]["text"]["maxLength"] = settings.max_text_chars
        if "PixelsIn" in models:
            models["PixelsIn"]["properties"]["images"]["maxItems"] = settings.max_batch_size
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _status_class(code: int) -> str:
    return {
        2: "2xx success",
        3: "3xx redirection",
        4: "4xx client error",
        5: "5xx server error",
    }[code // 100]


app = create_app()

__all__ = ["app", "create_app"]
