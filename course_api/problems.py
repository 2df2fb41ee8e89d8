"""One error format: every 4xx and 5xx answer of the course server is RFC 9457 *problem details*.

An error answer has ``Content-Type: application/problem+json`` and a JSON object with

* ``type``: what kind of problem, as a URI. ``about:blank`` for a plain HTTP error that needs no more words
  than its status (404 for a path that does not exist, 405, 500); otherwise a ``tag:`` URI (RFC 4151) such as
  ``tag:course-api,2026:problems/upload-too-large``. A tag URI is a name, not a link: there is nothing to fetch
  at it. Programs compare it; people read ``title`` and ``detail``.
* ``title``: a short summary of that kind of problem (the same for every answer of that type);
* ``status``: the HTTP status code again, for logs and for clients that lose the status line;
* ``detail``: a sentence that says what was wrong with *this* request and what to do about it: the line to
  show to a person (``response.json()["detail"]``);
* ``instance``: the path the request went to;
* ``errors`` (422 only, and a few 4xx about one field): each offending field, with ``loc`` (where, as a list:
  ``["body", "images", 0, 3, 2]``), ``field`` (the same as a dotted path, ``body.images.0.3.2``), ``msg``,
  ``type`` and, when it is short and safe, the ``input`` that was sent.

:func:`install` registers the exception handlers that write this format for every error: FastAPI's
validation errors, ``HTTPException`` (yours and Starlette's own 404, 405 and 413), a full queue (503 with
``Retry-After``) and any unexpected exception (500, with no traceback in the answer: that goes to the log).
:func:`error_responses` documents the same answers in OpenAPI, so clients and fuzzers know them.
"""

from __future__ import annotations

import json
import logging
import math
from http import HTTPStatus
from typing import Any, Iterable, Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from course_api.batching import BatcherClosed, QueueFull

logger = logging.getLogger("course_api.server")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "tag:course-api,2026:problems/"

# The course's own problem types: name -> (status, title). Everything else is about:blank.
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "validation-error": (422, "Invalid request"),
    "malformed-body": (400, "Unreadable request body"),
    "body-too-large": (413, "Request body too large"),
    "upload-too-large": (413, "Upload too large"),
    "image-too-large": (413, "Image too large"),
    "unsupported-image-type": (415, "Not a PNG or JPEG image"),
    "unreadable-image": (422, "Unreadable image"),
    "server-busy": (503, "Server busy"),
    "shutting-down": (503, "Server shutting down"),
}

MAX_ERRORS = 20  # at most this many field errors in one answer (a batch of garbage has thousands)
MAX_ECHO = 100  # characters of a client's value echoed back in an error


def type_uri(kind: str) -> str:
    """The ``type`` URI of a course problem type (see :data:`PROBLEM_TYPES`)."""
    if kind not in PROBLEM_TYPES:
        raise KeyError(f"Unknown problem type {kind!r}; known: {', '.join(PROBLEM_TYPES)}")
    return TYPE_PREFIX + kind


# ------------------------------------------------------------------------------------------ models
class FieldError(BaseModel):
    """One offending field of a request."""

    loc: list[str | int] = Field(
        description="Where: 'body', 'query', 'path' or 'header', then field names and list indexes.",
        examples=[["body", "images", 0, 3, 2]],
    )
    field: str = Field(description="`loc` as a dotted path.", examples=["body.images.0.3.2"])
    msg: str = Field(description="What is wrong with it.", examples=["Input should be less than or equal to 16"])
    type: str = Field(description="The kind of error, for programs.", examples=["less_than_equal"])
    input: Any = Field(default=None, description="The value that was sent, when it is short (absent otherwise).")


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every 4xx and 5xx answer (`application/problem+json`)."""

    model_config = ConfigDict(
        extra="allow",  # RFC 9457 extension members, e.g. those of GET /status/{code}
        json_schema_extra={
            "examples": [
                {
                    "type": "tag:course-api,2026:problems/unsupported-image-type",
                    "title": "Not a PNG or JPEG image",
                    "status": 415,
                    "detail": "notes.txt: the uploaded file is not a PNG or JPEG image. Send a PNG or JPEG.",
                    "instance": "/predict/image",
                }
            ]
        },
    )
    type: str = Field(
        default="about:blank",
        description="The kind of problem: 'about:blank' (a plain HTTP error) or a course tag: URI. A name, not a link.",
    )
    title: str = Field(description="A short summary of that kind of problem.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="What was wrong with this request and what to do about it.")
    instance: str | None = Field(default=None, description="The path of the request.")
    errors: list[FieldError] | None = Field(default=None, description="The offending fields, if any.")


class ValidationProblem(Problem):
    """Problem details of a 422: the request arrived but a field is invalid; ``errors`` says which."""

    errors: list[FieldError] = Field(min_length=1, description="Each offending field (at most 20).")


# -------------------------------------------------------------------------------------- exceptions
class APIProblem(HTTPException):
    """An error to answer with problem details: ``raise APIProblem("upload-too-large", "sentence")``.

    ``kind`` is a course problem type (:data:`PROBLEM_TYPES`, which gives the status) or an HTTP status code
    for a plain ``about:blank`` problem. ``loc`` names the offending field, e.g. ``("body", "text")``; it adds
    an entry to ``errors`` with ``error_type`` as its type.
    """

    def __init__(
        self,
        kind: str | int,
        detail: str,
        *,
        loc: Sequence[str | int] | None = None,
        error_type: str = "value_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        status = kind if isinstance(kind, int) else PROBLEM_TYPES[kind][0]
        super().__init__(status_code=status, detail=detail, headers=dict(headers) if headers else None)
        self.kind = kind
        self.loc = tuple(loc) if loc else None
        self.error_type = error_type


# ---------------------------------------------------------------------------------------- responses
class ProblemResponse(JSONResponse):
    """A JSON answer with ``Content-Type: application/problem+json``.

    Strings a client sent (a file name, a path) may hold anything, a lone surrogate included: those are
    replaced rather than turning the error answer itself into a 500.
    """

    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
        return text.encode("utf-8", errors="replace")


def problem(
    request: Request | None,
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    """A problem details answer. ``kind`` is a course problem type, or None for ``about:blank``."""
    content: dict[str, Any] = {
        "type": type_uri(kind) if kind else "about:blank",
        "title": title or (PROBLEM_TYPES[kind][1] if kind else _phrase(status)),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        content["instance"] = request.scope.get("path", "")
    if errors:
        content["errors"] = list(errors)[:MAX_ERRORS]
    content.update(extensions)
    return ProblemResponse(content, status_code=status, headers=dict(headers) if headers else None)


def field_error(loc: Sequence[Any], msg: str, error_type: str, value: Any = ..., ) -> dict[str, Any]:
    """One entry of ``errors``; ``value`` is echoed only when it is short and safe."""
    loc = [part if isinstance(part, int) else str(part) for part in loc]
    entry: dict[str, Any] = {"loc": loc, "field": ".".join(str(part) for part in loc), "msg": msg, "type": error_type}
    if value is not ...:
        echo = _echo(value)
        if echo is not ...:
            entry["input"] = echo
    return entry


def _echo(value: Any) -> Any:
    """A client's value, if it is a scalar that is safe to put in JSON: a NaN or a 10 MB string sent by the
    client must not turn the error answer into a 500 or a 10 MB reply. ``...`` means "do not echo"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bool, int, float)) or value is None:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_ECHO:
            return ...
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_ECHO else value[:MAX_ECHO] + "…"
    if isinstance(value, bytes):
        return value[:MAX_ECHO].decode("utf-8", "replace")
    return ...


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def validation_summary(errors: Sequence[Mapping[str, Any]]) -> str:
    """One sentence from field errors: ``Invalid request: body.text: Field required``."""
    parts = [f"{e['field']}: {e['msg']}" if e["field"] else e["msg"] for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "Invalid request: " + "; ".join(parts) + more


# ----------------------------------------------------------------------------------------- handlers
async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    raw = exc.errors()
    errors = [_public(e) for e in raw[:MAX_ERRORS]]
    if len(errors) == 1 and errors[0]["type"] == "json_invalid":
        detail = errors[0]["msg"] + " (json.dumps, or json= in requests, always writes valid JSON)."
    else:
        detail = validation_summary(errors)
    if len(raw) > MAX_ERRORS:
        detail += f"; {len(raw)} errors in all, the first {MAX_ERRORS} are listed"
    hint = _content_type_hint(request, raw)
    return problem(request, 422, detail + hint, kind="validation-error", errors=errors)


def _public(error: Mapping[str, Any]) -> dict[str, Any]:
    """A pydantic / FastAPI validation error as the client sees it."""
    loc, msg, kind = tuple(error.get("loc", ())), str(error.get("msg", "")), str(error.get("type", ""))
    if kind == "json_invalid":  # FastAPI puts the character position into loc: say it in words instead
        position = loc[1] if len(loc) > 1 else None
        reason = str((error.get("ctx") or {}).get("error", "")) or "invalid syntax"
        reason = reason[:1].lower() + reason[1:]
        where = ""
        if isinstance(position, int):  # "unterminated string starting at" already ends with "at"
            where = f" character {position}" if reason.endswith(" at") else f" at character {position}"
        return field_error(("body",), f"The body is not valid JSON: {reason}{where}", kind)
    if kind == "missing":  # the "input" of a missing field is its parent, not a value the client sent
        return field_error(loc, msg, kind)
    return field_error(loc, msg, kind, error.get("input", ...))


def _content_type_hint(request: Request, errors: Sequence[Mapping[str, Any]]) -> str:
    """A hint when a JSON route got a body that was not sent as JSON (``data=`` instead of ``json=``)."""
    content_type = request.headers.get("content-type", "")
    whole_body = any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type" for e in errors)
    if whole_body and "json" not in content_type:
        return (f". The body was sent as {content_type or 'no Content-Type'}: send JSON with Content-Type: "
                "application/json (with requests: json=...)")
    return ""


async def _http_error(request: Request, exc: HTTPException) -> Response:
    headers = getattr(exc, "headers", None)
    status = exc.status_code
    if status < 400:  # not an error: no problem body (a 304 or 204 must not have one)
        return Response(status_code=status, headers=headers)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
    if isinstance(exc, APIProblem):
        kind = exc.kind if isinstance(exc.kind, str) else None
        errors = [field_error(exc.loc, detail, exc.error_type)] if exc.loc else None
        return problem(request, status, detail, kind=kind, errors=errors, headers=headers)
    # Errors raised by FastAPI and Starlette themselves carry only their status phrase: say more.
    method, path = request.method, request.scope.get("path", "")
    if status == 404 and detail == "Not Found":
        detail = f"There is nothing at {path}: check the path (and its spelling); /docs lists every route."
    elif status == 405 and detail == "Method Not Allowed":
        allowed = (headers or {}).get("Allow", "")
        detail = f"{method} is not allowed on {path}" + (f"; use {allowed}." if allowed else ".")
    elif status == 413 and detail == "Content Too Large":  # Starlette's body limit refused a streamed body
        return body_too_large(request, request.scope.get("starlette.max_body_size"))
    elif status == 400 and detail == "There was an error parsing the body":
        return problem(request, 400, _parse_failure(exc), kind="malformed-body", headers=headers)
    elif status == 400 and _is_multipart(request):
        return problem(request, 400, f"The multipart body could not be read: {detail}.", kind="malformed-body",
                       headers=headers)
    return problem(request, status, detail, headers=headers)


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/")


def _parse_failure(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, RecursionError):
        return ("The JSON body is nested too deeply to read (more than about 1000 levels of [ or {): "
                "send a flatter document.")
    if isinstance(cause, UnicodeDecodeError):
        return "The request body is not valid UTF-8 text: send JSON encoded as UTF-8."
    return "The request body could not be read: check that it matches its Content-Type."


def body_too_large(request: Request | None, limit: int | None) -> ProblemResponse:
    size = f"{limit} bytes" if limit is not None else "the server's limit"
    return problem(
        request,
        413,
        f"The request body is larger than {size}: send less (a smaller file, a shorter text, a smaller batch).",
        kind="body-too-large",
    )


async def _queue_full(request: Request, exc: QueueFull) -> Response:
    return problem(request, 503, str(exc), kind="server-busy", headers={"Retry-After": str(exc.retry_after)})


async def _shutting_down(request: Request, exc: BatcherClosed) -> Response:
    return problem(request, 503, f"{exc} Try again shortly.", kind="shutting-down", headers={"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the server's log, never into the answer.
    logger.error("Unhandled error on %s %s", request.method, request.scope.get("path", ""), exc_info=exc)
    return problem(
        request,
        500,
        "The server failed while handling this request. That is a bug in the server, not a mistake in your "
        "request; the server's log has the details.",
    )


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` with problem details, and document them so in its OpenAPI schema."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(QueueFull, _queue_full)
    app.add_exception_handler(BatcherClosed, _shutting_down)
    app.add_exception_handler(Exception, _unexpected)
    _problem_media_type_in_openapi(app)


# ------------------------------------------------------------------------------------------ OpenAPI
def error_responses(descriptions: Mapping[int | str, str]) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for its error statuses, e.g. ``{413: "The upload is over ..."}``.

    422 is documented with :class:`ValidationProblem` (``errors`` always present), the others with
    :class:`Problem`; 503 with its ``Retry-After`` header. :func:`install` makes their media type
    ``application/problem+json`` in ``/openapi.json``.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for code, description in descriptions.items():
        entry: dict[str, Any] = {"model": ValidationProblem if code == 422 else Problem, "description": description}
        if code == 503:
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait before trying again.", "required": True,
                                "schema": {"type": "integer"}}
            }
        responses[code] = entry
    return responses


def _problem_media_type_in_openapi(app: FastAPI) -> None:
    """FastAPI documents a response ``model`` as ``application/json``; error bodies are
    ``application/problem+json``: rename that media type on every 4xx and 5xx response of the schema."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for code, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if str(code)[:1] in ("4", "5") and "application/json" in content:
                        response["content"] = {PROBLEM_MEDIA_TYPE: content["application/json"],
                                               **{k: v for k, v in content.items() if k != "application/json"}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def iter_problem_types() -> Iterable[tuple[str, int, str]]:
    """(type URI, status, title) of every course problem type, for the docs."""
    for kind, (status, title) in PROBLEM_TYPES.items():
        yield type_uri(kind), status, title
