"""Routes that run the models: sentiment of a text, the digit in an image or in 8x8 pixel arrays.

Response descriptions name limits as ``{setting}``: :func:`course_api.openapi.document_settings` writes this
server's values into ``/openapi.json``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio
import numpy as np
from fastapi import APIRouter, File, UploadFile
from PIL import Image

from course_api.dependencies import Config, DecodeLimiter, Models
from course_api.imaging import ImageError, digit_pixels, load_image, open_image
from course_api.models.sentiment import SENTIMENT_LABELS
from course_api.problems import APIProblem, error_responses
from course_api.schemas import ImagePrediction, ModelInfo, PixelsIn, PixelsPrediction, TextIn, TextPrediction

logger = logging.getLogger("course_api.server")
router = APIRouter(tags=["models"])

INLINE_DECODE_PIXELS = 512 * 512  # larger images are decoded in a worker thread, off the event loop

BUSY = "The model's queue is full, or the server is shutting down: try again after `Retry-After` seconds."
UNREADABLE_BODY = "The body could not be read at all: broken multipart, JSON nested too deeply, or not UTF-8."
JSON_ERRORS: dict[int | str, str] = {
    400: UNREADABLE_BODY,
    413: "The body is larger than {json_body_limit} bytes (`max_json_bytes`).",
}


def _round(values: Any) -> list[float]:
    return [round(float(v), 6) for v in values]


def _digit(probabilities: Any) -> dict[str, Any]:
    best = int(probabilities.argmax())
    return {"digit": best, "score": round(float(probabilities[best]), 6), "probabilities": _round(probabilities)}


def _validation_problem(detail: str, field: str, error_type: str) -> APIProblem:
    return APIProblem("validation-error", detail, loc=("body", field), error_type=error_type)


TEXT_ERRORS: dict[int | str, str] = {
    **JSON_ERRORS,
    422: "Invalid JSON, no `text`, a text that is empty or only whitespace, or longer than {max_text_chars} "
    "characters (`max_text_chars`).",
    503: BUSY,
}


@router.post(
    "/predict/text",
    response_model=TextPrediction,
    summary="Sentiment of a sentence",
    responses=error_responses(TEXT_ERRORS),
)
async def predict_text(body: TextIn, models: Models, config: Config) -> dict[str, Any]:
    text = body.text
    if not text.strip():
        example = '{"text": "I love this course"}'
        raise _validation_problem(
            f"The text is only whitespace: send a sentence, e.g. {example}.", "text", "text_blank"
        )
    if len(text) > config.max_text_chars:
        raise _validation_problem(
            f"The text has {len(text)} characters; the limit is {config.max_text_chars}: send a shorter text.",
            "text",
            "text_too_long",
        )
    probabilities = (await models.sentiment([text]))[0]
    best = int(probabilities.argmax())
    return {
        "label": SENTIMENT_LABELS[best],
        "score": round(float(probabilities[best]), 6),
        "probabilities": dict(zip(SENTIMENT_LABELS, _round(probabilities), strict=True)),
        "device": str(models.device),
    }


IMAGE_ERRORS: dict[int | str, str] = {
    400: UNREADABLE_BODY,
    413: "Too large: the body over {max_body_bytes} bytes (`max_body_bytes`), the file over {max_upload_bytes} bytes "
    "(`max_upload_bytes`), or the image over {max_image_pixels} pixels (`max_image_pixels`, read from its header "
    "before anything is decoded).",
    415: "The file is not a PNG or JPEG (GIF, BMP, TIFF, WebP and others are refused without being decoded).",
    422: "No `file` field, an empty file, or an image that is truncated or corrupt.",
    503: BUSY,
}
ImageFile = Annotated[UploadFile, File(description="A PNG or JPEG of one handwritten digit, any size or colour.")]


@router.post(
    "/predict/image",
    response_model=ImagePrediction,
    summary="Which digit is in an image",
    responses=error_responses(IMAGE_ERRORS),
)
async def predict_image(file: ImageFile, models: Models, config: Config, limiter: DecodeLimiter) -> dict[str, Any]:
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
        if image.width * image.height <= INLINE_DECODE_PIXELS:
            pixels = _preprocess(image)
        else:
            pixels = await anyio.to_thread.run_sync(_preprocess, image, limiter=limiter)
    except ImageError as exc:
        kind = exc.kind
        raise APIProblem(kind, f"{name}: {exc}", loc=("body", "file"), error_type=kind.replace("-", "_")) from None
    probabilities = (await models.digits([pixels]))[0]
    return {
        **_digit(probabilities),
        "pixels": pixels.tolist(),
        "width": image.width,
        "height": image.height,
        "device": str(models.device),
    }


def _preprocess(image: Image.Image) -> np.ndarray:
    """The model's 8x8 input for an opened image. Whatever fails on the way is the upload's problem (422), never
    a 500: a client can send any PNG or JPEG that Pillow opens, in any of its modes."""
    try:
        return digit_pixels(load_image(image))
    except ImageError:
        raise
    except Exception as exc:
        size = "x".join(map(str, image.size))
        logger.warning("Could not preprocess a %s %s image of %s", image.format, image.mode, size, exc_info=exc)
        raise ImageError(
            f"The image could not be processed ({type(exc).__name__}); send an ordinary PNG or JPEG."
        ) from None


PIXELS_ERRORS: dict[int | str, str] = {
    **JSON_ERRORS,
    422: "Invalid JSON, or an image that is not 8 rows of 8 finite numbers from 0 to 16 (NaN and Infinity are "
    "refused), or more than {max_images_per_request} images (`max_images_per_request`).",
    503: BUSY,
}


@router.post(
    "/predict/pixels",
    response_model=PixelsPrediction,
    summary="Digits for a batch of 8x8 pixel arrays",
    responses=error_responses(PIXELS_ERRORS),
)
async def predict_pixels(body: PixelsIn, models: Models, config: Config) -> dict[str, Any]:
    count, limit = len(body.images), config.max_images_per_request
    if count > limit:
        raise _validation_problem(
            f"The batch has {count} images; the limit is {limit}: split it up.", "images", "too_long"
        )
    probabilities = await models.digits(body.images)
    return {"predictions": [_digit(p) for p in probabilities], "device": str(models.device)}


@router.get("/model", response_model=ModelInfo, summary="Describe the loaded models")
async def model_info(models: Models) -> dict[str, Any]:
    return models.describe()
