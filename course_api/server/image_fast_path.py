"""The fast path of ``POST /predict/image``, and its second way in: the image itself as the body.

Profiled in process (benchmarks/profile_image.py), an image request spent more time in FastAPI's dependency and
form handling (Starlette's multipart parser, an ``UploadFile`` with its spooled file, the field's validation)
and in validating the answer against its response model than in decoding and preprocessing the image. This
middleware sits just inside ``BodyLimit`` (which has checked the declared ``Content-Length``) and answers the
usual requests itself, with the route's own steps (:func:`~course_api.server.image_prediction.answer_image`:
the header, the preprocessing, the micro-batcher) and the same JSON answer:

- **multipart**: one well-formed ``multipart/form-data`` part named ``file`` with a file name;
- **raw**: the image bytes as the whole body, with ``Content-Type: image/png`` or ``image/jpeg`` (any ``image/*``
  type: the bytes decide, as for a multipart upload). The route knows only multipart: a raw body that the fast
  path does not answer reaches it wrapped as the one ``file`` part of a multipart body, named ``upload``.

Anything else goes to the route unchanged, with the body replayed (a body without ``Content-Length`` is not
even read here): other fields, broken multipart, a missing file, an image refused for its type, size or
content, a busy model. So every error answer, limit and status stays the route's, and the fast path only ever
answers 200.
"""

from __future__ import annotations

import secrets
from typing import Any

import pydantic_core
from python_multipart.multipart import parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from course_api.server.image_prediction import answer_image, too_large
from course_api.server.middleware import route_path

RAW_FILENAME = b"upload"  # the file name of an image sent as the raw body, in the route's messages


def upload_kind(scope: Scope) -> tuple[str, bytes] | None:
    """``("multipart", boundary)`` for a ``multipart/form-data`` request, ``("raw", content_type)`` for an
    ``image/*`` body, None for any other request."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind, options = parse_options_header(value)
            boundary = options.get(b"boundary")
            if kind == b"multipart/form-data" and boundary:
                return "multipart", boundary
            if kind.startswith(b"image/"):
                return "raw", kind
            return None
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
    """The route's JSON answer for the image ``data`` (:func:`~course_api.server.image_prediction.answer_image`, as
    the route calls it), or None where the route must answer: a file too large, an image refused or large, a full
    queue or a closing batcher (the route's error handlers answer those)."""
    if too_large(data, state.settings):
        return None
    try:
        result = await answer_image(data, state.settings, state.predictor, small_only=True)
    except Exception:  # ImageError, QueueFull, BatcherClosed, ...: the route answers, with its handlers
        return None
    if result is None:
        return None  # a large image: the route decodes it in a worker thread, off the event loop
    # pydantic-core's serializer: the bytes FastAPI's response model would write (floats such as 1e-6 included),
    # without validating the answer a second time.
    return bytes(pydantic_core.to_json(result))


def as_multipart(scope: Scope, receive: Receive, content_type: bytes) -> tuple[Scope, Receive]:
    """The request with its raw image body wrapped as the one ``file`` part of a ``multipart/form-data`` body,
    streamed (nothing is read ahead), for the route."""
    boundary = b"course-api-raw-" + secrets.token_hex(16).encode()
    head = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + RAW_FILENAME + b'"\r\n'
        b"Content-Type: " + content_type + b"\r\n\r\n"
    )
    tail = b"\r\n--" + boundary + b"--\r\n"
    headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
    headers.append((b"content-type", b"multipart/form-data; boundary=" + boundary))
    started = False

    async def wrapped() -> Message:
        nonlocal started
        message = await receive()
        if message["type"] != "http.request":
            return message
        body = message.get("body", b"")
        if not started:
            started, body = True, head + body
        if not message.get("more_body", False):
            body += tail
        return {**message, "body": body}

    return {**scope, "headers": headers}, wrapped


def eligible(scope: Scope, path: str) -> tuple[str, bytes] | None:
    """:func:`upload_kind` of a ``POST path``; None for any other request."""
    if scope["type"] != "http" or scope["method"] != "POST" or route_path(scope) != path:
        return None
    return upload_kind(scope)


def declares_length(scope: Scope) -> bool:
    """Does the request say how long its body is? A chunked body is left to BodyLimit, which counts it as it
    arrives and may refuse it mid-way: the fast path never reads one."""
    return any(name == b"content-length" for name, _ in scope["headers"])


class ImageUploadFastPath:
    """ASGI middleware for ``POST /predict/image`` (see the module's docstring)."""

    def __init__(self, app: ASGIApp, path: str = "/predict/image") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upload = eligible(scope, self.path)
        if upload is None:
            await self.app(scope, receive, send)
            return
        kind, value = upload
        if not declares_length(scope):
            await self._route(scope, receive, send, upload)
            return
        body = await read_body(receive)
        if body is None:
            return
        data = body if kind == "raw" else single_file_part(body, value)
        try:
            content = await answer(scope["app"].state, data) if data is not None else None
        except Exception:  # anything unexpected: the route answers, with its error handlers
            content = None
        if content is None:
            await self._route(scope, replay(body, receive), send, upload)
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _route(self, scope: Scope, receive: Receive, send: Send, upload: tuple[str, bytes]) -> None:
        """Leave the request to the route: as it is, or, for a raw image body, wrapped as multipart."""
        kind, value = upload
        if kind == "raw":
            scope, receive = as_multipart(scope, receive, value)
        await self.app(scope, receive, send)
