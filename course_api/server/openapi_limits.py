"""What ``/openapi.json`` says beyond what FastAPI derives from the routes: this server's own limits, and whether
its API key is required (only when ``api_keys`` has keys; with none the generation routes are open).

Routes are defined once, at import, but limits are settings: a route's response descriptions name them as
``{max_text_chars}`` and :func:`document_settings` writes the values of the app's settings in their place, and
into the request schemas (``maxLength``, ``maxItems``, ``maximum``) that the handlers enforce with clearer answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI

from course_api.server.settings import Settings

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def extend_openapi(app: FastAPI, edit: Callable[[dict[str, Any]], None]) -> None:
    """Let ``edit`` change the schema that ``app.openapi()`` builds (once; the result is cached as usual)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        edit(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def responses(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(status code, response object) of every operation in an OpenAPI schema."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            yield from operation.get("responses", {}).items()


def document_settings(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` state the limits of ``settings``, and the API key as optional when none is configured."""
    values: dict[str, Any] = {**settings.model_dump(), "json_body_limit": settings.json_body_limit}

    def fill(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], text)

    def edit(schema: dict[str, Any]) -> None:
        for _, response in responses(schema):
            response["description"] = fill(response.get("description", ""))
        models = schema.get("components", {}).get("schemas", {})
        if "TextIn" in models:
            models["TextIn"]["properties"]["text"]["maxLength"] = settings.max_text_chars
        if "PixelsIn" in models:
            models["PixelsIn"]["properties"]["images"]["maxItems"] = settings.max_images_per_request
        if "GenerateIn" in models:
            models["GenerateIn"]["properties"]["prompt"]["maxLength"] = settings.max_prompt_chars
            models["GenerateIn"]["properties"]["max_tokens"]["maximum"] = settings.max_new_tokens
        if not settings.api_keys:  # no API keys configured: the key is optional ({} is "no security needed")
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if operation.get("security") and {} not in operation["security"]:
                        operation["security"].append({})

    extend_openapi(app, edit)
