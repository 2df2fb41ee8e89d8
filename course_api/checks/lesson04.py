"""Checks for notebook 04, serving a model: uploads, a top-3 endpoint, size limits, latency percentiles."""

from __future__ import annotations

import math
from typing import Any

from course_api.checks.common import app_client, error_detail, expect_status, require_response
from course_api.checks.registry import exercise, fail


@exercise("04.1", "uploading an image", needs=("upload_response",))
def _04_1(ns: dict[str, Any]) -> str:
    response = require_response(ns["upload_response"], "upload_response")
    content_type = response.request.headers.get("Content-Type", "")
    if not response.url.endswith("/predict/image"):
        fail(f"Send the image to /predict/image; your request went to {response.url}.")
    if not content_type.startswith("multipart/form-data"):
        fail(
            f"The request's Content-Type is {content_type!r}: pass the file with files={{'file': (name, data, "
            "'image/png')}} so requests sends multipart/form-data."
        )
    if response.status_code == 422:
        fail(f"The server answered 422: the multipart field must be called 'file'. It said: {error_detail(response)}")
    if response.status_code != 200:
        fail(f"Expected 200, got {response.status_code}: {response.text[:200]}")
    digit = response.json()["digit"]
    if digit != 7:
        fail(f"The server read a {digit}: upload course_api.samples.digit_png(7), a handwritten 7.")
    return f"the server read your PNG as a {digit} ({response.json()['score']:.0%} sure)."


@exercise("04.2", "an endpoint for the top 3 digits", needs=("top3", "service"))
def _04_2(ns: dict[str, Any]) -> str:
    import numpy as np

    from course_api.imaging import decode_image, digit_pixels
    from course_api.samples import digit_png

    client = app_client(ns)
    data = digit_png(3)
    response = client.post("/top3", files={"file": ("three.png", data, "image/png")})
    expect_status(response, 200, "POST /top3 with a PNG")
    top = response.json().get("top3")
    if not isinstance(top, list) or len(top) != 3:
        fail(f"POST /top3 returned {response.json()!r}; expected {{'top3': [three entries]}}.")
    if not all(isinstance(e, dict) and {"digit", "probability"} <= set(e) for e in top):
        fail(f"Each entry should be {{'digit': d, 'probability': p}}; got {top[0]!r}.")
    probabilities = [e["probability"] for e in top]
    if probabilities != sorted(probabilities, reverse=True):
        fail(f"The top 3 should be sorted from most to least likely; got probabilities {probabilities}.")
    expected = ns["service"].digit_probabilities(digit_pixels(decode_image(data, max_pixels=10**8))[None])[0]
    best = [int(d) for d in np.argsort(expected)[::-1][:3]]
    if [e["digit"] for e in top] != best:
        fail(f"The digits are {[e['digit'] for e in top]}; the model's three most likely are {best}.")
    if not np.allclose(probabilities, expected[best], atol=1e-4):
        fail("The probabilities do not match the model's: use softmax probabilities, not logits.")
    bad = client.post("/top3", files={"file": ("notes.txt", b"not an image", "text/plain")})
    if bad.status_code == 500:
        fail("A text file crashed /top3 with a 500: catch the decoding error and answer 415.")
    if bad.status_code != 415:
        fail(f"A text file got {bad.status_code}; answer 415 Unsupported Media Type for files that are not images.")
    return f"the top 3 for a handwritten 3 are {best}, and a text file gets a 415."


def _png(size: tuple[int, int], noise: bool = False) -> bytes:
    """A white PNG of ``size`` (width, height), or random RGB noise that barely compresses."""
    import numpy as np
    from PIL import Image

    from course_api.samples import encode

    if noise:
        pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        return encode(Image.fromarray(pixels, mode="RGB"))
    return encode(Image.new("L", size, 255))


@exercise("04.3", "refusing images that are too large", needs=("thumbnail",))
def _04_3(ns: dict[str, Any]) -> str:
    import io

    from PIL import Image

    client = app_client(ns)
    small = client.post("/thumbnail", files={"file": ("small.png", _png((200, 120)), "image/png")})
    expect_status(small, 200, "POST /thumbnail with a small PNG")
    if small.headers.get("content-type") != "image/png":
        fail(
            f"The thumbnail's Content-Type is {small.headers.get('content-type')!r}: "
            "return Response(content=png_bytes, media_type='image/png')."
        )
    try:
        image = Image.open(io.BytesIO(small.content))
    except Exception:
        fail("The answer is not a PNG image that Pillow can open.")
    if image.size != (32, 32):
        fail(f"The thumbnail is {image.size[0]}x{image.size[1]}; it should be 32x32.")
    big = _png((400, 400), noise=True)
    assert len(big) > 100_000
    too_big = client.post("/thumbnail", files={"file": ("big.png", big, "image/png")})
    if too_big.status_code in (200, 422):
        fail(
            f"An upload of {len(big)} bytes got {too_big.status_code}; refuse uploads over 100,000 bytes "
            "with 413 Content Too Large."
        )
    expect_status(too_big, 413, f"POST /thumbnail with {len(big)} bytes")
    text = client.post("/thumbnail", files={"file": ("notes.txt", b"hello", "text/plain")})
    expect_status(text, 415, "POST /thumbnail with a text file")
    return "small images get a 32x32 PNG, large uploads a 413, and text a 415."


@exercise("04.4", "p50 and p99", needs=("latency_summary",))
def _04_4(ns: dict[str, Any]) -> str:
    import numpy as np

    summary = ns["latency_summary"]
    samples = [float(x) for x in np.random.default_rng(1).gamma(2.0, 3.0, 1000)]
    got = summary(samples)
    if not isinstance(got, dict) or not {"p50", "p99", "max"} <= set(got):
        fail(f"latency_summary should return a dict with 'p50', 'p99' and 'max'; got {got!r}.")
    expected = {"p50": np.percentile(samples, 50), "p99": np.percentile(samples, 99), "max": max(samples)}
    for key, value in expected.items():
        if not math.isclose(got[key], value, rel_tol=0.02):
            fail(
                f"{key} is {got[key]:.3f}; expected about {value:.3f}. "
                "np.percentile(samples, 99) gives the 99th percentile."
            )
    if summary([5.0])["p99"] != 5.0:
        fail("latency_summary([5.0]) should give 5.0 for every statistic.")
    return "half the requests are faster than p50, and 99 in 100 faster than p99."
