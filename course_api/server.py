"""The course server: a real FastAPI app with the endpoints every notebook uses.

Run it with ``course-api serve`` (or ``uvicorn course_api.server:app``), or from a notebook with
``course_api.serve_in_background()``. ``create_app(settings)`` builds a fresh app; ``app`` is the one
built from the environment (``COURSE_API_*`` variables).
"""

from __future__ import annotations

import logging
import math
from contextlib import asynccontextmanager
from functools import lru_cache
from http import HTTPStatus
from importlib import resources
from typing import Annotated, Any, AsyncIterator

from fastapi import Depends, FastAPI, File, HTTPException, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline

from course_api import __version__
from course_api.batching import BatcherClosed, QueueFull
from course_api.imaging import ImageError, digit_pixels, load_image, open_image
from course_api.inference import ModelService, Predictor
from course_api.models.sentiment import SENTIMENT_LABELS
from course_api.playground import SameOriginPages, router as playground_router
from course_api.schemas import (
    Astros,

    ErrorMessage,
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
from course_api.settings import Settings

logger = logging.getLogger("course_api.server")

DESCRIPTION = """
The server of the **Creating APIs** course: HTTP basics, JSON, FastAPI and a PyTorch model behind an API.

* `GET /` is a health check; `GET /items/{item_id}?q=` and `GET /status/{code}` are for practising requests.
* `GET /astros.json` is an offline copy of the public "people in space" document.
* `POST /predict/text`, `/predict/image` and `/predict/pixels` run the models; `GET /model` describes them.

Every mistake a client can make gets a 4xx answer whose JSON body says what to fix.
"""

TAGS = [
    {"name": "basics", "description": "Health check and routes for practising HTTP requests."},
    {"name": "models", "description": "Predictions from the course's PyTorch models."},
]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorMessage, "description": HTTPStatus(code).phrase} for code in codes}


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
        app.state.predictor = Predictor(
            service,
            batching=settings.batching,
            max_batch_size=settings.batch_max_size,
            max_wait_s=settings.batch_wait_ms / 1000,
            queue_limit=settings.queue_limit,
        )
        yield
        await app.state.predictor.aclose()
        app.state.models = app.state.predictor = None

    app = FastAPIOffline(
        title="Creating APIs: course server",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_public_error(error) for error in exc.errors()]
        hints = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg', '')}" for e in errors)
        return JSONResponse(status_code=422, content={"detail": errors, "message": f"Invalid request: {hints}"})

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(BatcherClosed)
    async def shutting_down(request: Request, exc: BatcherClosed) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": f"{exc} Try again shortly."}, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("Unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "Internal server error: the server logged the details."})

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

    @app.get("/items/{item_id}", response_model=Item, tags=["basics"], summary="Read an item")
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
            **{c: {"model": StatusEcho, "description": HTTPStatus(c).phrase} for c in (404, 418, 500, 503)},
            204: {"description": "No Content (empty body)"},
        },
    )
    async def status_echo(code: Annotated[int, Path(ge=200, le=599, description="An HTTP status code, 200 to 599.")]) -> Response:
        """Answers with the status code you ask for, so you can see every class of status happen.

        5xx answers here are on purpose: a real server gives a 5xx only when *it* fails, never
        because of what a client sent.
        """
        try:
            status = HTTPStatus(code)
        except ValueError:
            raise HTTPException(422, f"{code} is not a registered HTTP status code; try 200, 404, 418 or 503.") from None
        if code in (204, 205, 304):  # these statuses must not carry a body
            return Response(status_code=code)
        body = {
            "status-code": code,
            "phrase": status.phrase,
            "description": status.description,
            "class": _status_class(code),
        }
        headers = {"Retry-After": "1"} if code in (429, 503) else None
        return JSONResponse(status_code=code, content=body, headers=headers)

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
        responses=_errors(422, 503),
    )
    async def predict_text(body: TextIn, models: Models, config: Config) -> dict[str, Any]:
        text = body.text
        if not text.strip():
            raise HTTPException(422, "The text is only whitespace: send a sentence, e.g. {\"text\": \"I love this course\"}.")
        if len(text) > config.max_text_chars:
            raise HTTPException(422, f"The text has {len(text)} characters; the limit is {config.max_text_chars}.")
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
        responses=_errors(413, 415, 422, 503),
    )
    async def predict_image(
        file: Annotated[UploadFile, File(description="A PNG or JPEG of one handwritten digit, any size or colour.")],
        models: Models,
        config: Config,
    ) -> dict[str, Any]:
        data = await file.read(config.max_upload_bytes + 1)
        if len(data) > config.max_upload_bytes:
            raise HTTPException(413, f"The upload is larger than {config.max_upload_bytes} bytes: send a smaller image.")
        try:
            image = open_image(data, max_pixels=config.max_image_pixels)  # the header only: cheap
            # A small image is decoded right here; a large one in a worker thread, so that the event loop
            # (every other request) never waits for it.
            if image.width * image.height <= INLINE_DECODE_PIXELS:
                pixels = digit_pixels(load_image(image))
            else:
                pixels = await run_in_threadpool(lambda: digit_pixels(load_image(image)))
        except ImageError as exc:
            raise HTTPException(exc.status, f"{file.filename or 'upload'}: {exc}") from None
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
        responses=_errors(422, 503),
    )
    async def predict_pixels(body: PixelsIn, models: Models, config: Config) -> dict[str, Any]:
        if len(body.images) > config.max_batch_size:
            raise HTTPException(
                422, f"The batch has {len(body.images)} images; the limit is {config.max_batch_size}: split it up."
            )
        probabilities = await models.digits(body.images)
        return {"predictions": [_digit(p) for p in probabilities], "device": str(models.device)}

    @app.get("/model", response_model=ModelInfo, tags=["models"], summary="Describe the loaded models")
    async def model_info(models: Models) -> dict[str, Any]:
        return models.describe()

    app.include_router(playground_router)  # GET /playground: a client in plain HTML and JavaScript
    app.add_middleware(SameOriginPages)  # /docs, /redoc, /playground may load nothing from another site
    return app


_MAX_ECHO = 100
INLINE_DECODE_PIXELS = 512 * 512  # larger images are decoded in a worker thread


def _public_error(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error as the client sees it: where, what, and the offending value if it is short.

    The value is echoed only when it is a scalar that is safe to put in JSON: a NaN or a 10 MB string sent
    by the client must not turn the error answer itself into a 500 or a 10 MB reply.
    """
    public: dict[str, Any] = {"type": error.get("type"), "loc": list(error.get("loc", ())), "msg": error.get("msg")}
    value = error.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        public["input"] = str(value)
    elif isinstance(value, (bool, int, float)) or value is None:
        public["input"] = value
    elif isinstance(value, str):
        public["input"] = value if len(value) <= _MAX_ECHO else value[:_MAX_ECHO] + "…"
    elif isinstance(value, bytes):
        public["input"] = value[:_MAX_ECHO].decode("utf-8", "replace")
    return public


def _status_class(code: int) -> str:
    return {
        2: "2xx success",
        3: "3xx redirection",
        4: "4xx client error",
        5: "5xx server error",
    }[code // 100]


app = create_app()

__all__ = ["app", "create_app"]
