"""What ``/openapi.json`` says beyond what FastAPI derives from the routes: this server's own limits.

Routes are defined once, at import, but limits are settings: a route's response descriptions name them as
``{max_text_chars}`` and :func:`document_settings` writes the values of the app's settings in their place, and
into the request schemas (``maxLength``, ``maxItems``) that the handlers enforce with clearer answers.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from course_api.settings import Settings

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def document_settings(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` state the limits of ``settings``."""
    build = app.openapi
    values: dict[str, Any] = {**settings.model_dump(), "json_body_limit": settings.json_body_limit}

    def fill(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], text)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for response in operation.get("responses", {}).values():
                    response["description"] = fill(response.get("description", ""))
        models = schema.get("components", {}).get("schemas", {})
        if "TextIn" in models:
            models["TextIn"]["properties"]["text"]["maxLength"] = settings.max_text_chars
        if "PixelsIn" in models:
            models["PixelsIn"]["properties"]["images"]["maxItems"] = settings.max_images_per_request
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
