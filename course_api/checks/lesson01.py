"""Checks for notebook 01, requests: status codes, JSON answers, query parameters, a careful client."""

from __future__ import annotations

from typing import Any
from unittest import mock

from course_api.checks.common import base_url, require_response
from course_api.checks.registry import exercise, fail


@exercise("01.1", "a page that does not exist", needs=("missing",))
def _01_1(ns: dict[str, Any]) -> str:
    response = require_response(ns["missing"], "missing")
    if response.status_code == 200:
        fail(
            "Expected status 404, your request got 200: did you ask for a path that exists? "
            "Request a path the API does not have, such as /this-api-doesnt-exist."
        )
    if response.status_code != 404:
        fail(
            f"Expected status 404 (Not Found), your request got {response.status_code}. "
            "Ask the API for a path it does not have."
        )
    return "404 Not Found: the server is there, but the path is not."


@exercise("01.2", "people in space", needs=("astros_response", "astros", "meaning"))
def _01_2(ns: dict[str, Any]) -> str:
    from http import HTTPStatus

    import requests

    response = require_response(ns["astros_response"], "astros_response")
    if not response.url.endswith("/astros.json"):
        fail(f"`astros_response` came from {response.url}; request {{api_url}}/astros.json instead.")
    if response.status_code != 200:
        fail(f"Expected status 200, got {response.status_code}: check the path /astros.json.")
    astros = ns["astros"]
    if isinstance(astros, str):
        fail("`astros` is a string: use response.json() to turn the JSON text into Python data.")
    expected = requests.get(response.url, timeout=10).json()
    if astros != expected:
        fail("`astros` is not the document the server sent: set it to astros_response.json().")
    meaning = ns["meaning"]
    if meaning != HTTPStatus(200).phrase:
        fail(f"`meaning` is {meaning!r}; the standard phrase for 200 is what HTTPStatus(200).phrase gives.")
    return f"200 {meaning}, and {astros['number']} people in space."


@exercise("01.3", "who is on which craft", needs=("crafts", "astros"))
def _01_3(ns: dict[str, Any]) -> str:
    crafts = ns["crafts"]
    astros = ns["astros"]
    expected: dict[str, list[str]] = {}
    for person in astros["people"]:
        expected.setdefault(person["craft"], []).append(person["name"])
    if not isinstance(crafts, dict):
        fail(f"`crafts` should be a dict from craft name to a list of names, not a {type(crafts).__name__}.")
    if set(crafts) != set(expected):
        fail(f"`crafts` has the crafts {sorted(crafts)}, but the document has {sorted(expected)}.")
    for craft, names in expected.items():
        got = crafts[craft]
        if isinstance(got, int):
            fail(f"crafts[{craft!r}] is a number; it should be the list of names on board.")
        if list(got) != names:
            fail(f"crafts[{craft!r}] is {got!r}; expected the names in document order: {names!r}.")
    summary = ", ".join(f"{len(v)} on {k}" for k, v in expected.items())
    return summary + "."


@exercise("01.4", "query parameters", needs=("item_response",))
def _01_4(ns: dict[str, Any]) -> str:
    from urllib.parse import parse_qs, urlsplit

    response = require_response(ns["item_response"], "item_response")
    parts = urlsplit(response.url)
    if not parts.path.endswith("/items/5"):
        fail(f"Your request went to {parts.path}; the path should be /items/5 (note the s in items).")
    if parse_qs(parts.query).get("q") != ["somequery"]:
        fail(f"The query string is {parts.query!r}; pass params={{'q': 'somequery'}} to requests.get.")
    if response.json() != {"item_id": 5, "q": "somequery"}:
        fail(f"Unexpected body {response.json()!r}.")
    return f"requests built the URL {parts.path}?{parts.query} for you."


@exercise("01.5", "status classes", needs=("status_class",))
def _01_5(ns: dict[str, Any]) -> str:
    status_class = ns["status_class"]
    cases = {
        100: "informational",
        200: "success",
        204: "success",
        301: "redirection",
        404: "client error",
        418: "client error",
        422: "client error",
        500: "server error",
        503: "server error",
    }
    for code, expected in cases.items():
        got = status_class(code)
        if got != expected:
            fail(f"status_class({code}) returned {got!r}; expected {expected!r}. The first digit decides the class.")
    for bad in (99, 600, 1000):
        try:
            status_class(bad)
        except ValueError:
            continue
        except Exception as exc:
            fail(f"status_class({bad}) raised {type(exc).__name__}; raise ValueError for codes outside 100-599.")
        fail(f"status_class({bad}) returned a value; {bad} is not an HTTP status code: raise ValueError.")
    return "every class from 1xx to 5xx is right, and nonsense codes are refused."


@exercise("01.6", "a careful client", needs=("get_json",))
def _01_6(ns: dict[str, Any]) -> str:
    import requests

    get_json = ns["get_json"]
    base = base_url(ns, "course_url", "api_url")
    seen_timeouts: list[Any] = []
    original = requests.Session.request

    def recording(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        seen_timeouts.append(kwargs.get("timeout"))
        return original(self, method, url, *args, **kwargs)

    with mock.patch.object(requests.Session, "request", recording):
        body = get_json(f"{base}/items/7?q=check")
        if body != {"item_id": 7, "q": "check"}:
            fail(f"get_json should return the parsed JSON body; it returned {body!r}.")
        for code in (404, 503):
            try:
                get_json(f"{base}/status/{code}")
            except requests.HTTPError:
                continue
            fail(
                f"get_json returned normally for a {code} answer; call response.raise_for_status() "
                "so that 4xx and 5xx answers raise requests.HTTPError."
            )
    if not seen_timeouts:
        fail("get_json made no request with requests: use requests.get(url, timeout=...).")
    if any(t is None for t in seen_timeouts):
        fail("get_json does not pass timeout= to requests: a server that never answers would hang it forever.")
    return "it returns JSON, raises for 4xx and 5xx, and never waits forever."
