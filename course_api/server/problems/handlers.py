"""Exception handlers that answer every error of the app with problem details (:mod:`.format`).

FastAPI's validation errors become a 422 with ``errors``; ``HTTPException`` (the app's own and Starlette's 404,
405, 413 and 400) keeps its status with a sentence that says what to do; an unexpected exception is a 500 with
no traceback in the answer (that goes to the log). :func:`service_unavailable` turns an exception type of a
lower layer (a full queue, a shutdown) into a 503 with ``Retry-After``, without this module knowing that layer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from course_api.server.problems.format import (
    MAX_ERRORS,
    APIProblem,
    body_too_large,
    field_error,
    problem,
    validation_summary,
)

logger = logging.getLogger("course_api.server")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
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
    """A hint when a JSON route got a body that was not sent as JSON (``data=`` instead of ``json=``), or when an
    upload came without its ``file`` field."""
    content_type = request.headers.get("content-type", "")
    if any(tuple(e.get("loc", ())) == ("body", "file") and e.get("type") == "missing" for e in errors):
        return (
            ". Send the image as a multipart/form-data field named file (with requests: files={'file': ...}), "
            "or as the whole body with Content-Type: image/png or image/jpeg"
        )
    whole_body = any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type" for e in errors)
    if whole_body and "json" not in content_type:
        return (
            f". The body was sent as {content_type or 'no Content-Type'}: send JSON with Content-Type: "
            "application/json (with requests: json=...)"
        )
    return ""


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
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
        return problem(
            request, 400, f"The multipart body could not be read: {detail}.", kind="malformed-body", headers=headers
        )
    return problem(request, status, detail, headers=headers)


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/")


def _parse_failure(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, RecursionError):
        return (
            "The JSON body is nested too deeply to read (more than about 1000 levels of [ or {): "
            "send a flatter document."
        )
    if isinstance(cause, UnicodeDecodeError):
        return "The request body is not valid UTF-8 text: send JSON encoded as UTF-8."
    return "The request body could not be read: check that it matches its Content-Type."


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the server's log, never into the answer.
    logger.error("Unhandled error on %s %s", request.method, request.scope.get("path", ""), exc_info=exc)
    return problem(
        request,
        500,
        "The server failed while handling this request. That is a bug in the server, not a mistake in your "
        "request; the server's log has the details.",
    )


def install_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with problem details (503s of a busy service: :func:`service_unavailable`)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def service_unavailable(
    kind: str, retry_after: Callable[[Exception], int], advice: str = ""
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A handler that answers an exception with a 503 of problem type ``kind`` and ``Retry-After``."""

    async def handler(request: Request, exc: Exception) -> Response:
        seconds = retry_after(exc)
        return problem(request, 503, f"{exc}{advice}", kind=kind, headers={"Retry-After": str(seconds)})

    return handler
