"""The error format: RFC 9457 *problem details*, the body of every 4xx and 5xx answer of the course server.

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
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

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
    "api-key-missing": (401, "API key required"),
    "api-key-refused": (403, "API key not accepted"),
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


def field_error(
    loc: Sequence[Any],
    msg: str,
    error_type: str,
    value: Any = ...,
) -> dict[str, Any]:
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


def body_too_large(request: Request | None, limit: int | None) -> ProblemResponse:
    size = f"{limit} bytes" if limit is not None else "the server's limit"
    return problem(
        request,
        413,
        f"The request body is larger than {size}: send less (a smaller file, a shorter text, a smaller batch).",
        kind="body-too-large",
    )
