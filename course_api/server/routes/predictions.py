"""Routes that run the models: sentiment of a text, the digit in an image or in 8x8 pixel arrays.

Response descriptions name limits as ``{setting}``: :func:`course_api.server.openapi_limits.document_settings`
writes this server's values into ``/openapi.json``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile

from course_api.server.dependencies import Config, DecodeLimiter, Models
from course_api.server.image_prediction import answer_image, digit_result, rounded, too_large
from course_api.server.imaging import ImageError
from course_api.server.models.sentiment import SENTIMENT_LABELS
from course_api.server.problems import APIProblem, error_responses
from course_api.server.schemas import ImagePrediction, ModelInfo, PixelsIn, PixelsPrediction, TextIn, TextPrediction

router = APIRouter(tags=["models"])

BUSY = "The model's queue is full, or the server is shutting down: try again after `Retry-After` seconds."
UNREADABLE_BODY = "The body could not be read at all: broken multipart, JSON nested too deeply, or not UTF-8."
JSON_ERRORS: dict[int | str, str] = {
    400: UNREADABLE_BODY,
    413: "The body is larger than {json_body_limit} bytes (`max_json_bytes`).",
}


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
        "probabilities": dict(zip(SENTIMENT_LABELS, rounded(probabilities), strict=True)),
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
# The second way to send the image: the bytes themselves as the body. course_api.server.image_fast_path reads these (the
# route itself only knows multipart); the schema is what Swagger UI shows as a file picker.
RAW_IMAGE_BODY = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/predict/image",
    response_model=ImagePrediction,
    summary="Which digit is in an image",
    responses=error_responses(IMAGE_ERRORS),
    openapi_extra={"requestBody": {"content": {"image/png": RAW_IMAGE_BODY, "image/jpeg": RAW_IMAGE_BODY}}},
)
async def predict_image(file: ImageFile, models: Models, config: Config, limiter: DecodeLimiter) -> dict[str, Any]:
    """Send the image in one of two ways:

    - as a `multipart/form-data` field named `file`, as a web form does (requests: `files={"file": ...}`;
      curl: `-F "file=@digit.png"`);
    - as the whole body, with `Content-Type: image/png` or `image/jpeg` (requests: `data=png_bytes` and that
      header; curl: `--data-binary @digit.png -H "Content-Type: image/png"`).

    Both get the same answer and the same errors.
    """
    name = (file.filename or "upload")[:100]
    data = await file.read(config.max_upload_bytes + 1)
    if too_large(data, config):
        raise APIProblem(
            "upload-too-large",
            f"{name}: the file is larger than {config.max_upload_bytes} bytes: send a smaller image.",
            loc=("body", "file"),
            error_type="upload_too_large",
        )
    try:
        result = await answer_image(data, config, models, limiter)
    except ImageError as exc:
        kind = exc.kind
        raise APIProblem(kind, f"{name}: {exc}", loc=("body", "file"), error_type=kind.replace("-", "_")) from None
    assert result is not None  # small_only is off: every image gets an answer
    return result


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
    return {"predictions": [digit_result(p) for p in probabilities], "device": str(models.device)}


@router.get("/model", response_model=ModelInfo, summary="Describe the loaded models")
async def model_info(models: Models) -> dict[str, Any]:
    return models.describe()
