"""Helpers that checks of several lessons share: responses, the server's URL, a client for the student's app."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from course_api.checks.registry import fail

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def require_response(value: Any, name: str) -> Any:
    """``value`` if it is a ``requests.Response``; otherwise fail, naming the notebook variable ``name``."""
    import requests

    if not isinstance(value, requests.Response):
        fail(f"`{name}` should be the Response that requests.get(...) returns, but it is a {type(value).__name__}.")
    return value


def error_detail(response: Any) -> str:
    """The sentence an error answer of the course server gives (problem details: ``detail``)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else json.dumps(body)[:300]


def base_url(ns: dict[str, Any], *names: str) -> str:
    """The server URL: the first non-empty notebook variable of ``names``, else ``server.url``."""
    for name in names:
        value = ns.get(name)
        if isinstance(value, str) and value:
            return value.rstrip("/")
    server = ns.get("server")
    if server is None or not getattr(server, "url", None):
        fail(f"No server URL: the setup cells define `server` and `{names[0]}`; run them first.")
    return server.url


def app_client(ns: dict[str, Any]) -> TestClient:
    """A ``TestClient`` for the notebook's ``app``."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = ns.get("app")
    if not isinstance(app, FastAPI):
        fail("`app` should be your FastAPI() application; run the cell that creates it.")
    # A crash in the student's route should come back as the 500 a real client would see, not as an exception.
    return TestClient(app, raise_server_exceptions=False)


def expect_status(response: Any, status: int, what: str) -> None:
    """Fail with a hint for the usual causes unless ``response`` has ``status``."""
    if response.status_code != status:
        hint = {
            404: " Is the route's path spelled exactly as asked, and did you run its cell?",
            405: " The path exists but not for this method: check @app.get vs @app.post.",
            422: f" The server said: {response.text[:300]}",
            500: " Your route raised an error: look at its code.",
        }.get(response.status_code, "")
        fail(f"{what}: expected status {status}, got {response.status_code}.{hint}")
