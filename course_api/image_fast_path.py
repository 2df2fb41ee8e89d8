"""A fast path for ``POST /predict/image``: the usual upload, one ``file`` part, without FastAPI's form machinery.

Profiled in process (benchmarks/profile_image.py), an image request spent more time in FastAPI's dependency and
form handling (Starlette's multipart parser, an ``UploadFile`` with its spooled file, the field's validation)
and in validating the answer against its response model than in decoding and preprocessing the image. This
middleware sits just inside ``BodyLimit`` (which has checked the declared ``Content-Length``). It reads the
body, and when the body is one well-formed ``multipart/form-data`` part named ``file`` with a file name, holding a
PNG or JPEG that decodes inline, it runs the same steps as the route (:func:`predictions._preprocess`, the
micro-batcher) and writes the same JSON answer itself.

Anything else goes to the route unchanged, with the body replayed (a body without ``Content-Length`` is not
even read here): other fields, broken multipart, a missing
file, an image refused for its type, size or content, a busy model. So every error answer, limit and the
OpenAPI document stay exactly those of the route, and the fast path only ever answers 200.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from python_multipart.multipart import parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from course_api.imaging import ImageError, open_image
from course_api.middleware import route_path


def multipart_boundary(scope: Scope) -> bytes | None:
    """The boundary of a ``multipart/form-data`` request, or None for any other request."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind, options = parse_options_header(value)
            boundary = options.get(b"boundary")
            return boundary if kind == b"multipart/form-data" and boundary else None
    return None


def single_file_part(body: bytes, boundary: bytes) -> bytes | None:
    """The content of the body's only part when it is a file field named ``file``; None for anything else."""
    delimiter = b"--" + boundary
    closing = b"\r\n" + delimiter + b"--"
    end = body.rfind(closing)
    if not body.startswith(delimiter + b"\r\n") or end < 0 or body[end + len(closing) :].strip(b"\r\n"):
        return None
    part = body[len(delimiter) + 2 : end]
    head_end = part.find(b"\r\n\r\n")
    if head_end < 0 or b"\r\n" + delimiter in part:
        return None  # no blank line after the headers, or more than one part
    disposition = None
    for line in part[:head_end].split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            return None
        if name.strip().lower() == b"content-disposition":
            disposition = value.strip()
    if disposition is None:
        return None
    kind, options = parse_options_header(disposition)
    if kind != b"form-data" or options.get(b"name") != b"file" or b"filename" not in options:
        return None
    return part[head_end + 4 :]


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the client sends next (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


async def answer(state: Any, data: bytes) -> bytes | None:
    """The route's JSON answer for the image ``data``, or None where the route must answer (errors, big images)."""
    from course_api.routes.predictions import INLINE_DECODE_PIXELS, _digit, _preprocess

    settings, models = state.settings, state.predictor
    if len(data) > settings.max_upload_bytes:
        return None
    try:
        image = open_image(data, max_pixels=settings.max_image_pixels)
        if image.width * image.height > INLINE_DECODE_PIXELS:
            return None  # decoded off the event loop by the route
        pixels = _preprocess(image)
    except ImageError:
        return None
    try:
        probabilities = (await models.digits([pixels]))[0]
    except Exception:  # a full queue, a closing batcher: the route's handlers answer those
        return None
    result = {**_digit(probabilities), "pixels": pixels.tolist(), "width": image.width, "height": image.height}
    result["device"] = str(models.device)
    # pydantic-core's serializer: the bytes FastAPI's response model would write (floats such as 1e-6 included),
    # without validating the answer a second time.
    return bytes(pydantic_core.to_json(result))


def eligible(scope: Scope, path: str) -> bytes | None:
    """The multipart boundary of a ``POST path`` with a declared ``Content-Length``; None for any other request."""
    if scope["type"] != "http" or scope["method"] != "POST" or route_path(scope) != path:
        return None
    if not any(name == b"content-length" for name, _ in scope["headers"]):
        return None  # a chunked body: BodyLimit counts it as it arrives, and may refuse it mid-way
    return multipart_boundary(scope)


class ImageUploadFastPath:
    """ASGI middleware for ``POST /predict/image`` (see the module's docstring)."""

    def __init__(self, app: ASGIApp, path: str = "/predict/image") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        boundary = eligible(scope, self.path)
        if boundary is None:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        data = single_file_part(body, boundary)
        try:
            content = await answer(scope["app"].state, data) if data is not None else None
        except Exception:  # anything unexpected: the route answers, with its error handlers
            content = None
        if content is None:
            await self.app(scope, replay(body, receive), send)
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})
