"""Checks for notebook 04, serving a model: uploads, a top-3 route, size limits, latency percentiles."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from unittest import mock

from course_api.workbook.checks.common import app_client, error_detail, expect_status
from course_api.workbook.checks.errors import StudentCodeError, explain
from course_api.workbook.checks.registry import exercise, fail

if TYPE_CHECKING:
    import requests
    from fastapi.testclient import TestClient

MAX_BYTES = 100_000  # exercise 04.3's limit on an upload
NOT_AN_IMAGE = b"Hello, I am a text file, not a picture.\n"


# ---------------------------------------------------------------------------------------------------- 04.1


@exercise(
    "04.1",
    "uploading an image",
    needs=("upload_response",),
    points=1,
    hints=(
        'Read notebook 04, section 4 ("Uploading a file: multipart form data and UploadFile") and section 6 '
        '("A digit to the course server"). Which function of requests sends data to a server, and which of its '
        "arguments turns bytes into a multipart upload?",
        "A multipart upload is a form, and each form field has a name: the course server reads the field named "
        "`file`. With requests you give files= a dict: its key is the field's name, its value a tuple (file name, "
        "the bytes, their content type). The bytes are digit_png(7); the URL is base_url followed by the route's "
        "path. Keep the Response itself in upload_response (not its .json()), and pass timeout= as always.",
        'The call has this shape: requests.post(f"{base_url}/predict/image", files={"file": ("seven.png", '
        'png_bytes, "image/png")}, timeout=10), where png_bytes = digit_png(7).',
    ),
)
def _04_1(ns: dict[str, Any]) -> str:
    from course_api.samples import digit_png

    response = _the_response(ns["upload_response"])
    request = response.request
    if not str(request.path_url).split("?")[0].endswith("/predict/image"):
        fail(f'Send the image to POST /predict/image (f"{{base_url}}/predict/image"); it went to {response.url}.')
    if request.method != "POST":
        fail(
            f"Your request was a {request.method}, and the server answered {response.status_code}: an upload "
            "sends data, so use requests.post(...), with the file in files=."
        )
    content_type = str(request.headers.get("Content-Type") or "")
    if not content_type.startswith("multipart/form-data"):
        fail(
            f"The request's Content-Type is {content_type or 'missing'!r}, not multipart/form-data: pass the file "
            "with files={'file': (file_name, png_bytes, 'image/png')}, not data= or json=, so that requests builds "
            "a multipart body."
        )
    body = request.body if isinstance(request.body, bytes) else b""
    fields = sorted({name.decode(errors="replace") for name in re.findall(rb'\bname="([^"]*)"', body)})
    if response.status_code == 422 and "file" not in fields:
        fail(
            f"The server answered 422: it found no form field named 'file' (your upload's fields: {fields}). "
            "The key of the files= dict is the form field's name: use 'file'."
        )
    if response.status_code != 200:
        fail(f"The server answered {response.status_code}, not 200. It said: {error_detail(response)}")
    if digit_png(7) not in body:
        fail(
            f"The server read a {response.json().get('digit')}, but your upload is not digit_png(7): "
            "send the PNG bytes of the handwritten 7."
        )
    answer = response.json()
    return f"the server read your PNG as a {answer['digit']} ({answer['score']:.0%} sure)."


def _the_response(value: Any) -> requests.Response:
    """``value`` if it is a requests Response; otherwise fail, saying what ``upload_response`` holds instead."""
    import requests

    if isinstance(value, dict | list):
        fail(
            f"`upload_response` is a {type(value).__name__}: the decoded body (what .json() gives), not the "
            "Response. Store what requests.post(...) returns, without .json(): the check reads its status code "
            "and its request."
        )
    if not isinstance(value, requests.Response):
        fail(
            "`upload_response` should be the Response that requests.post(...) returns, but it is a "
            f"{type(value).__name__}."
        )
    return value


# ---------------------------------------------------------------------------------------------------- shared


def _post(client: TestClient, path: str, name: str, data: bytes, content_type: str = "image/png") -> Any:
    """POST ``data`` to ``path`` in the form field ``file``, as a browser or requests would."""
    return client.post(path, files={"file": (name, data, content_type)})


def _expect_image_accepted(response: Any, what: str) -> None:
    """Fail, naming the usual cause, unless a real image got 200."""
    detail = error_detail(response)
    if response.status_code == 422 and re.search(r"missing|Field required", detail):
        fail(
            f"{what} got 422: FastAPI could not fill your function's arguments from the request. The check sends "
            "the image in the form field `file`, so the function's argument must be named file (file: UploadFile). "
            f"It said: {detail}"
        )
    if response.status_code in (413, 415) and "coroutine" in detail:
        fail(
            f"{what} got {response.status_code}: decode_image got a coroutine, not bytes. In an async def route, "
            "file.read() must be awaited: data = await file.read(). (In a def route: data = file.file.read().)"
        )
    if response.status_code in (413, 415) and re.search(r"UploadFile|SpooledTemporaryFile|not 'str'", detail):
        fail(
            f"{what} got {response.status_code}: decode_image needs the upload's bytes, not the UploadFile or its "
            f"name. Read them first: data = file.file.read() (or await file.read() in an async def). It said: {detail}"
        )
    if response.status_code in (413, 415):
        fail(f"{what} got {response.status_code}, but it is a real PNG image. Your route said: {detail}")
    expect_status(response, 200, what)


def _expect_refused(client: TestClient, path: str, what: str, data: bytes, status: int) -> Any:
    """POST ``data`` to ``path``; fail unless the response is ``status``. A crash is shown, as a 500 would be."""
    try:
        response = _post(client, path, "upload.png", data)
    except StudentCodeError as exc:
        error = exc.error
        if type(error).__name__ == "ResponseValidationError" and "HTTPException" in str(error):
            fail(
                f"{what}: FastAPI raised ResponseValidationError, because your route returned an HTTPException "
                "instead of raising it, and an exception is not a response FastAPI can send. Write "
                f"raise HTTPException(status_code={status}, detail=...), not return."
            )
        fail(
            f"{what} crashed {path} with a 500: {type(error).__name__} escaped from your route. A client's mistake "
            f"must get a 4xx: catch the error and raise HTTPException(status_code={status}, detail=...).\n"
            + _shown(exc)
        )
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    if response.status_code == 200 and isinstance(body, dict) and "status_code" in body:
        fail(
            f"{what} got 200 with {body!r}: your route returned the HTTPException instead of raising it. "
            f"Write raise HTTPException(status_code={status}, detail=...), not return."
        )
    return response


def _shown(exc: StudentCodeError, *, advice: bool = True) -> str:
    """The error of the student's code, its line and (with ``advice``) what it usually means, as errors.explain
    words it."""
    lines = str(explain(exc.error, exc.during)).splitlines()
    return "\n".join(lines if advice else [line for line in lines if not line.startswith("That usually means")])


@contextmanager
def _counting_model_loads() -> Iterator[list[Any]]:
    """Count the calls of ModelService.load while the block runs (a route that loads the model per request)."""
    from course_api.server.inference import ModelService

    calls: list[Any] = []
    original = ModelService.load.__func__  # type: ignore[attr-defined]

    def load(cls: type[ModelService], *args: Any, **kwargs: Any) -> ModelService:
        calls.append(args)
        return original(cls, *args, **kwargs)

    with mock.patch.object(ModelService, "load", classmethod(load)):
        yield calls


# ---------------------------------------------------------------------------------------------------- 04.2


@exercise(
    "04.2",
    "a route for the top 3 digits",
    needs=("top3", "service"),
    points=2,
    hints=(
        'Read notebook 04, section 5 ("Your own image API") for routes that take file: UploadFile and read the '
        "upload, sections 6 and 7 for answering a bad upload with a 4xx instead of a 500 (ImageError), and "
        "section 2 for what the model answers: one row of ten probabilities for each input of a batch.",
        "In the route, read the upload's bytes (file.file.read(), or await file.read() in an async def), decode "
        "them inside try: with decode_image(data, max_pixels=...), and in except ImageError as error: raise an "
        "HTTPException with the status the error carries, error.status. digit_pixels(image) is one 8x8 input; the "
        "model takes a batch, so give "
        "service.digit_probabilities(...) a batch of one (pixels[None]) and take row [0] of its output: ten "
        "probabilities, one per digit. np.argsort sorts them from least to most likely.",
        "The three most likely digits are np.argsort(probabilities)[::-1][:3] (reversed: most likely first). "
        'Build each entry as {"digit": int(d), "probability": float(probabilities[d])}: int() and float() turn '
        'NumPy numbers into Python numbers that JSON can hold. Return {"top3": [...those three entries...]}.',
    ),
)
def _04_2(ns: dict[str, Any]) -> str:
    import numpy as np

    from course_api.samples import digit_png
    from course_api.server.imaging import decode_image, digit_pixels

    client = app_client(ns)
    data = digit_png(3)
    with _counting_model_loads() as loads:
        response = _post(client, "/top3", "three.png", data)
    if loads:
        fail(
            "Your route loads the model (ModelService.load) on every request: that costs time and memory each "
            "time. Use `service`, loaded once in the setup cell, as notebook 04 section 1 explains."
        )
    _expect_image_accepted(response, "POST /top3 with a PNG of a 3")
    expected = ns["service"].digit_probabilities(digit_pixels(decode_image(data, max_pixels=10**8))[None])[0]
    best = [int(d) for d in np.argsort(expected)[::-1][:3]]
    _check_top3(response.json(), best, [float(expected[d]) for d in best])
    bad = _expect_refused(client, "/top3", "A text file (that claims to be image/png)", NOT_AN_IMAGE, 415)
    if bad.status_code != 415:
        fail(
            f"A text file got {bad.status_code}; answer 415 Unsupported Media Type for a file that is not an "
            "image: catch ImageError and raise HTTPException(status_code=415, detail=...)."
        )
    return f"the top 3 for a handwritten 3 are {best}, and a text file gets a 415."


def _check_top3(body: Any, best: list[int], expected: list[float]) -> None:
    """Fail unless ``body`` is {"top3": [three {"digit", "probability"} entries]} with the model's top 3."""
    top = body.get("top3") if isinstance(body, dict) else None
    if not isinstance(top, list):
        keys = f"the keys {sorted(body)}" if isinstance(body, dict) else f"a {type(body).__name__}"
        fail(f"POST /top3 answered {keys}; expected a dict with the key 'top3': {{'top3': [three entries]}}.")
    if len(top) != 3:
        fail(f"'top3' holds {len(top)} entries; it should hold exactly 3, the three most likely digits.")
    if not all(isinstance(e, dict) and {"digit", "probability"} <= set(e) for e in top):
        fail(f"Each entry should be {{'digit': d, 'probability': p}}, with those two keys; got {top[0]!r}.")
    digits = [e["digit"] for e in top]
    probabilities = [e["probability"] for e in top]
    shown = "[" + ", ".join(f"{p:.4g}" if isinstance(p, float) else repr(p) for p in probabilities) + "]"
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in digits):
        fail(f"The digits are {digits!r}: each should be a whole number, int(d), not text or an array.")
    if not all(isinstance(p, int | float) and not isinstance(p, bool) for p in probabilities):
        fail(f"The probabilities are {probabilities!r}: each should be a number, float(probabilities[d]).")
    if any(p < 0 or p > 1 for p in probabilities):
        fail(
            f"The probabilities are {shown}: a probability is between 0 and 1. These look like logits, "
            "the model's raw scores: use service.digit_probabilities(...), which applies softmax."
        )
    if probabilities != sorted(probabilities, reverse=True):
        fail(
            f"The top 3 should go from most to least likely; the probabilities are {shown}. np.argsort "
            "sorts from least to most likely: reverse it before you take three."
        )
    if digits != best:
        fail(f"The digits are {digits}; the model's three most likely are {best}, in that order.")
    if not all(math.isclose(p, q, abs_tol=0.01) for p, q in zip(probabilities, expected, strict=True)):
        fail(
            f"The probabilities are {shown}; the model gives {[round(p, 4) for p in expected]}. Take each "
            "from row [0] of service.digit_probabilities(...), at the digit's index: probabilities[d]."
        )


# ---------------------------------------------------------------------------------------------------- 04.3


def _png(size: tuple[int, int], *, noise: bool = False, total: int = 0) -> bytes:
    """A white PNG of ``size`` (width, height); ``noise``: random RGB that barely compresses; ``total``: padded
    with a text chunk to exactly ``total`` bytes (still a valid PNG)."""
    import io

    import numpy as np
    from PIL import Image, PngImagePlugin

    if noise:
        pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        image = Image.fromarray(pixels, mode="RGB")
    else:
        image = Image.new("L", size, 255)

    def encode(filler: int) -> bytes:
        info = PngImagePlugin.PngInfo()
        if filler:
            info.add_text("Comment", "x" * filler)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()

    data = encode(0)
    if total:
        data = encode(total - len(encode(1)) + 1)
        assert len(data) == total, (len(data), total)
    return data


@exercise(
    "04.3",
    "refusing images that are too large",
    needs=("thumbnail",),
    points=2,
    hints=(
        'Notebook 04, section 5 ("Your own image API") has routes very close to this one: its open_image '
        "reads an upload with a limit and answers 413 or 415, and /resize answers with an image, not JSON. "
        "Compare what they do with what this exercise asks.",
        "Read one byte more than you accept: file.file.read(100_000 + 1). If you got more than 100,000 bytes, "
        "the upload is too large: raise HTTPException(status_code=413, ...). (Reading only 100,000 would cut a "
        "larger file short, and you could not tell; exactly 100,000 bytes is allowed.) Then decode as in 04.2, "
        "with 415 for an ImageError. Image.thumbnail() keeps the picture's shape, so it seldom gives 32x32: "
        "resize((32, 32)) does.",
        'To answer with a PNG: buffer = io.BytesIO(); image.convert("RGB").resize((32, 32)).save(buffer, '
        'format="PNG"); return Response(content=buffer.getvalue(), media_type="image/png"). Bytes returned '
        "on their own would make FastAPI try to write them as JSON text.",
    ),
)
def _04_3(ns: dict[str, Any]) -> str:
    client = app_client(ns)
    try:
        small = _post(client, "/thumbnail", "small.png", _png((200, 120)))
    except StudentCodeError as exc:
        if isinstance(exc.error, UnicodeDecodeError):  # bytes returned as they are: FastAPI writes them as JSON
            fail(
                "POST /thumbnail: your route returned the PNG's bytes on their own, so FastAPI tried to write them "
                "as JSON text, and UnicodeDecodeError says they are not text. Return "
                'Response(content=png_bytes, media_type="image/png") instead.\n' + _shown(exc, advice=False)
            )
        raise
    _expect_image_accepted(small, "POST /thumbnail with a small 200x120 PNG")
    _check_thumbnail(small)
    big = _png((400, 400), noise=True)
    too_big = _expect_refused(client, "/thumbnail", f"An upload of {len(big):,} bytes", big, 413)
    _expect_413(too_big, len(big), "a 400x400 PNG")
    edge = _post(client, "/thumbnail", "edge.png", _png((64, 64), total=MAX_BYTES))
    if edge.status_code == 413:
        fail(
            f"An upload of exactly {MAX_BYTES:,} bytes got 413: the limit allows {MAX_BYTES:,} bytes and refuses "
            f"more than that, so compare with len(data) > {MAX_BYTES}, not >=."
        )
    _expect_image_accepted(edge, f"POST /thumbnail with a PNG of exactly {MAX_BYTES:,} bytes")
    over = _expect_refused(
        client, "/thumbnail", f"An upload of {MAX_BYTES + 1:,} bytes", _png((64, 64), total=MAX_BYTES + 1), 413
    )
    _expect_413(over, MAX_BYTES + 1, "a 64x64 PNG")
    text = _expect_refused(client, "/thumbnail", "A text file (that claims to be image/png)", NOT_AN_IMAGE, 415)
    if text.status_code != 415:
        fail(
            f"A text file got {text.status_code}; answer 415 Unsupported Media Type for a file that is not an "
            "image: catch ImageError and raise HTTPException(status_code=415, detail=...)."
        )
    return "small images get a 32x32 PNG, uploads over 100,000 bytes a 413, and text a 415."


def _check_thumbnail(response: Any) -> None:
    """Fail unless ``response`` is a 32x32 PNG, sent as image/png."""
    import io

    from PIL import Image

    content_type = response.headers.get("content-type", "")
    if not content_type.startswith("image/png"):
        fail(
            f"The thumbnail's Content-Type is {content_type or 'missing'!r}, not image/png: return "
            'Response(content=png_bytes, media_type="image/png") so the client knows it gets a PNG image.'
        )
    try:
        image = Image.open(io.BytesIO(response.content))
    except Exception as exc:  # the response's bytes, not the student's code: say what Pillow found
        fail(
            f"The body is not an image Pillow can open ({type(exc).__name__}: {exc}). Save the thumbnail "
            'into a buffer with image.save(buffer, format="PNG") and send buffer.getvalue().'
        )
    if image.format != "PNG":
        fail(f'The body is a {image.format} image, but you said image/png: save it with format="PNG".')
    if image.size != (32, 32):
        hint = (
            " Image.thumbnail() keeps the picture's shape (a 200x120 image becomes 32x19): use resize((32, 32))."
            if max(image.size) == 32
            else ""
        )
        fail(f"The thumbnail is {image.size[0]}x{image.size[1]}; it should be exactly 32x32.{hint}")


def _expect_413(response: Any, size: int, what: str) -> None:
    """Fail unless an upload of ``size`` bytes (``what``) got 413."""
    if response.status_code == 413:
        return
    if response.status_code == 200:
        fail(
            f"An upload of {size:,} bytes ({what}) got 200: refuse uploads of more than {MAX_BYTES:,} bytes with "
            "413 Content Too Large. Count the bytes of the upload, len(data), not the image's pixels."
        )
    detail = error_detail(response)
    if response.status_code in (415, 422) and re.search(r"truncated|corrupt|could not be|not a PNG", detail):
        fail(
            f"An upload of {size:,} bytes got {response.status_code}, not 413. If you read only {MAX_BYTES:,} "
            "bytes, a larger file is cut short and looks broken: read one byte more than you accept, then "
            f"compare len(data) > {MAX_BYTES}. Your route said: {detail}"
        )
    fail(
        f"An upload of {size:,} bytes got {response.status_code}; a file that is too large gets 413 Content Too "
        "Large: raise HTTPException(status_code=413, detail=...)."
    )


# ---------------------------------------------------------------------------------------------------- 04.4


@exercise(
    "04.4",
    "p50 and p99",
    needs=("latency_summary",),
    points=3,
    hints=(
        'Notebook 04, section 9 ("How long does a request take? p50 and p99") measures 300 requests and '
        "describes them by percentiles. Look at how it computes p50 and p99 from the list of times, and at "
        "what a percentile means.",
        "p50 is the median, not the mean: half of the times are below it. p99 is the 99th percentile: 99 in 100 "
        "times are below it. NumPy computes both with np.percentile, whose second argument is in percent, from "
        '0 to 100: 99, not 0.99. Return plain floats in a dict with the keys "p50", "p99" and "max".',
        'return {"p50": float(np.percentile(samples, 50)), "p99": float(np.percentile(samples, 99)), '
        '"max": float(max(samples))}',
    ),
)
def _04_4(ns: dict[str, Any]) -> str:
    import numpy as np

    summary = ns["latency_summary"]
    samples = [float(x) for x in np.random.default_rng(1).gamma(2.0, 3.0, 1000)]
    got = summary(list(samples))
    _check_summary_shape(got)
    expected = {"p50": np.percentile(samples, 50), "p99": np.percentile(samples, 99), "max": max(samples)}
    for key, value in expected.items():
        if math.isclose(got[key], value, rel_tol=0.02):
            continue
        why = ""
        if key == "p50" and math.isclose(got[key], float(np.mean(samples)), rel_tol=0.001):
            why = " That is the mean (the average); p50 is the median, the middle value."
        elif key == "p99" and math.isclose(got[key], max(samples)):
            why = " That is the slowest time, the max; p99 is the time that 99 in 100 requests beat."
        elif key != "max" and math.isclose(got[key], np.percentile(samples, int(key[1:]) / 100), rel_tol=0.001):
            why = f" np.percentile takes percent, from 0 to 100: write {key[1:]}, not {int(key[1:]) / 100}."
        fail(f"For 1,000 request times, {key} is {got[key]:.3f}; expected about {value:.3f}.{why}")
    one = summary([5.0])
    _check_summary_shape(one)
    if any(one[key] != 5.0 for key in ("p50", "p99", "max")):
        fail(f"latency_summary([5.0]) gave {one!r}; with one time, 5.0, every statistic is 5.0.")
    return "half the requests are faster than p50, and 99 in 100 faster than p99."


def _check_summary_shape(got: Any) -> None:
    """Fail unless ``got`` is a dict with p50, p99 and max, each a number."""
    import numbers

    if not isinstance(got, dict) or not {"p50", "p99", "max"} <= set(got):
        shown = f"the keys {sorted(got)}" if isinstance(got, dict) else repr(got)[:200]
        fail(f"latency_summary should return a dict with the keys 'p50', 'p99' and 'max'; it returned {shown}.")
    for key in ("p50", "p99", "max"):
        value = got[key]
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            fail(
                f"{key} is {value!r}, a {type(value).__name__}: return numbers (float), not text or a list; "
                "format them only when you print them."
            )
