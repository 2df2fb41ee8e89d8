"""The error answers in ``/openapi.json``: documented per route, with the ``application/problem+json`` type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from course_api.server.openapi_limits import extend_openapi, responses
from course_api.server.problems.format import PROBLEM_MEDIA_TYPE, Problem, ValidationProblem


def error_responses(descriptions: Mapping[int | str, str]) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for its error statuses, e.g. ``{413: "The upload is over ..."}``.

    422 is documented with :class:`ValidationProblem` (``errors`` always present), the others with
    :class:`Problem`; 503 with its ``Retry-After`` header, 401 with ``WWW-Authenticate``.
    :func:`problem_media_type` makes their media type ``application/problem+json`` in ``/openapi.json``.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for code, description in descriptions.items():
        entry: dict[str, Any] = {"model": ValidationProblem if code == 422 else Problem, "description": description}
        if code == 503:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "required": True,
                    "schema": {"type": "integer"},
                }
            }
        if code == 401:
            entry["headers"] = {
                "WWW-Authenticate": {
                    "description": "How to authenticate: the API key in the X-API-Key header.",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
        responses[code] = entry
    return responses


# The media type FastAPI gives a response ``model``: the route's own, JSON, or a stream's (server-sent events).
ROUTE_MEDIA_TYPES = ("application/json", "text/event-stream")


def problem_media_type(app: FastAPI) -> None:
    """FastAPI documents a response ``model`` with the route's media type (``application/json``, or
    ``text/event-stream`` on a route that streams events); error bodies are ``application/problem+json``: rename
    that media type on every 4xx and 5xx response of the schema."""

    def edit(schema: dict[str, Any]) -> None:
        for code, response in responses(schema):
            content = response.get("content", {})
            found = [media for media in ROUTE_MEDIA_TYPES if media in content]
            if str(code)[:1] in ("4", "5") and found:
                renamed = {k: v for k, v in content.items() if k != found[0]}
                response["content"] = {PROBLEM_MEDIA_TYPE: content[found[0]], **renamed}

    extend_openapi(app, edit)
