"""The steps of ``POST /predict/image``, in one place: the route (:mod:`course_api.server.routes.predictions`) and
its fast path (:mod:`course_api.server.image_fast_path`) both call these, so they answer alike."""

from __future__ import annotations

from typing import Any

import anyio

from course_api.server.imaging import SMALL_IMAGE_PIXELS, open_image, preprocess
from course_api.server.inference import Predictor
from course_api.server.settings import Settings


def rounded(values: Any) -> list[float]:
    """Probabilities as the API writes them: plain floats, 6 decimals."""
    return [round(float(v), 6) for v in values]


def digit_result(probabilities: Any) -> dict[str, Any]:
    """The digit model's answer for one image: the likeliest digit, its score and all ten probabilities."""
    best = int(probabilities.argmax())
    return {"digit": best, "score": round(float(probabilities[best]), 6), "probabilities": rounded(probabilities)}


def too_large(data: bytes, settings: Settings) -> bool:
    """Is the uploaded file over ``max_upload_bytes``? (The route answers 413; the fast path leaves it to it.)"""
    return len(data) > settings.max_upload_bytes


async def answer_image(
    data: bytes,
    settings: Settings,
    predictor: Predictor,
    limiter: anyio.CapacityLimiter | None = None,
    *,
    small_only: bool = False,
) -> dict[str, Any] | None:
    """The answer for the image ``data``: its header read first (a decompression bomb is refused there), a small
    image preprocessed on the event loop, a large one in a worker thread (``limiter``: how many at once), then the
    digits model. Raises :class:`~course_api.server.imaging.ImageError` for an image it refuses. With
    ``small_only`` a large image gives None instead (the fast path leaves those to the route)."""
    image = open_image(data, max_pixels=settings.max_image_pixels)  # the header only: cheap
    if image.width * image.height <= SMALL_IMAGE_PIXELS:
        pixels = preprocess(image)
    elif small_only:
        return None
    else:
        pixels = await anyio.to_thread.run_sync(preprocess, image, limiter=limiter)
    probabilities = (await predictor.digits([pixels]))[0]
    return {
        **digit_result(probabilities),
        "pixels": pixels.tolist(),
        "width": image.width,
        "height": image.height,
        "device": str(predictor.device),
    }
