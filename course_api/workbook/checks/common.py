"""Helpers that checks of several lessons share: responses, the server's URL, a client for the student's app."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from course_api.workbook.checks.errors import StudentCodeError
from course_api.workbook.checks.registry import CheckFailed, fail

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient


def require_response(value: Any, name: str, call: str = "requests.get(...)") -> Any:
    """``value`` if it is a ``requests.Response``; otherwise fail, saying what the notebook variable ``name``
    holds instead (the status code, the decoded body, ...) and how to keep the Response itself."""
    import requests

    if isinstance(value, requests.Response):
        return value
    keep = f"Keep the whole Response in `{name}` (`{name} = {call}`), and read what you need from it."
    if isinstance(value, bool):
        problem = f"`{name}` is {value}, the value of .ok, not the Response."
    elif isinstance(value, int):
        problem = f"`{name}` is the number {value}: that is the status code, not the Response."
    elif isinstance(value, dict | list):
        problem = f"`{name}` is the decoded body (what .json() gives), not the Response."
    elif value is None:
        problem = f"`{name}` is None: assign the result of {call} to it (print(...) gives None)."
    else:
        problem = f"`{name}` should be the Response that {call} returns, but it is a {type(value).__name__}."
    raise CheckFailed(f"{problem} {keep}")


def json_body(response: Any, request: str) -> Any:
    """The JSON body of the response to ``request``; fail, saying so, when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        fail(f"{request} answered {response.text[:200]!r}, which is not JSON: return a model or a dict.")


def error_detail(response: Any) -> str:
    """The sentence an error response of the course server gives (problem details: ``detail``)."""
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
    """A ``TestClient`` for the notebook's ``app``, with re-run cells' older routes dropped; an error in a route
    comes back as :class:`StudentCodeError` naming the request, so the check can show it."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = ns.get("app")
    if not isinstance(app, FastAPI):
        fail("`app` should be your FastAPI() application; run the cell that creates it.")
    conflicts = latest_routes(app)

    class Client(TestClient):
        def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
            path = str(url).split("?")[0]
            for route, message in conflicts:
                if method.upper() in (route.methods or ()) and route.path_regex.match(path):
                    fail(message)
            try:
                return super().request(method, url, *args, **kwargs)
            except Exception as exc:
                raise StudentCodeError(f"{method.upper()} {path}", exc) from exc

    return Client(app)


def latest_routes(app: FastAPI) -> list[tuple[APIRoute, str]]:
    """Keep only the newest definition of each route that a re-run cell defined again; return the routes that
    two *different* functions define, with what to tell the student when the check uses one.

    FastAPI keeps every ``@app.get(...)`` it is given, and the first route that matches answers: after a student
    fixes a route and runs its cell again, the old one would still answer. The same function name on the same
    method and path is such a re-run, and the older route goes.
    """
    from fastapi.routing import APIRoute

    groups: dict[tuple[str, frozenset[str]], list[APIRoute]] = {}
    for route in app.router.routes:
        if isinstance(route, APIRoute):
            groups.setdefault((route.path, frozenset(route.methods or ())), []).append(route)
    stale: list[APIRoute] = []
    conflicts: list[tuple[APIRoute, str]] = []
    for (path, methods), routes in groups.items():
        names = [route.endpoint.__name__ for route in routes]
        if len(set(names)) > 1:
            method = "/".join(sorted(methods))
            first, last = names[0], names[-1]
            message = (
                f"{method} {path} is defined twice, by `{first}` and by `{last}`. The first matching route answers, "
                f"so `{last}` never runs. Keep one of them: if you renamed the function while fixing it, run the "
                "cell that creates `app` again (a fresh app), then your exercise cells."
            )
            conflicts.append((routes[0], message))
        else:
            stale += routes[:-1]
    if stale:
        app.router.routes[:] = [route for route in app.router.routes if route not in stale]
        app.openapi_schema = None
    return conflicts


def expect_status(response: Any, status: int, what: str) -> None:
    """Fail with a hint for the usual causes unless ``response`` has ``status``."""
    if response.status_code != status:
        hint = {
            404: " Is the route's path spelled exactly as asked, and did you run its cell?",
            405: " The path exists but not for this method: check @app.get vs @app.post.",
            422: f" The server said: {response.text[:300]}",
            500: " Your route answered 500 Internal Server Error: a client's mistake should get a 4xx.",
        }.get(response.status_code, "")
        fail(f"{what}: expected status {status}, got {response.status_code}.{hint}")
