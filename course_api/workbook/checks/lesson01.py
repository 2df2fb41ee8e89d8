"""Checks for notebook 01, requests: status codes, JSON bodies, query parameters, a careful client."""

from __future__ import annotations

from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

from course_api.workbook.checks.common import base_url, require_response
from course_api.workbook.checks.errors import raised
from course_api.workbook.checks.registry import CheckFailed, exercise, fail


@exercise(
    "01.1",
    "a page that does not exist",
    needs=("missing",),
    points=1,
    hints=(
        'Look at notebooks/01_requests.ipynb, section 3 "Status codes", part "200 versus 404": a request for a '
        "path that the server does not have still gets a response. Which function sends a GET request?",
        "requests.get(url, timeout=...) returns a Response object, and it does so for a 404 too: no exception is "
        "raised. The URL is the server's address, `api_url`, followed by a path that the API does not have. Keep "
        "the whole Response in `missing`, not its status code: the check reads `missing.status_code` itself.",
        'The key call: requests.get(f"{api_url}/a-path-that-does-not-exist", timeout=10). Store what it returns '
        "in `missing`, then print missing.status_code.",
    ),
)
def _01_1(ns: dict[str, Any]) -> str:
    response = require_response(ns["missing"], "missing")
    if response.status_code == 200:
        fail(
            "Expected status 404, your request got 200: did you ask for a path that exists? "
            "Request a path the API does not have, such as /this-api-doesnt-exist."
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "status-code" in body:
        fail(
            f"{urlsplit(response.url).path} is the course server's GET /status/{{code}}: it exists, and answers "
            f"{response.status_code} on purpose. Ask for a path that the API does not have at all, such as "
            "/this-api-doesnt-exist."
        )
    if response.status_code == 422:
        fail(
            "Expected status 404 (Not Found), your request got 422: that path exists, but a value in it is "
            "invalid (like /items/foo). Ask for a path that the API does not have at all."
        )
    if response.status_code != 404:
        fail(
            f"Expected status 404 (Not Found), your request got {response.status_code}. "
            "Ask the API for a path it does not have, with requests.get."
        )
    return "404 Not Found: the server is there, but the path is not."


def _decoded(astros: Any) -> None:
    """Fail when ``astros`` is not the decoded body but a step before it."""
    import requests

    if isinstance(astros, requests.Response):
        fail("`astros` is the Response itself; decode its body with response.json() and store that.")
    if callable(astros):
        fail("`astros` is the method .json itself, not its result: call it, with parentheses: response.json().")
    if isinstance(astros, str | bytes):
        fail(
            f"`astros` is a {type(astros).__name__}, the raw text of the body: use response.json() to turn the "
            "JSON text into Python data (a dict)."
        )


def _meaning(meaning: Any, status: int) -> None:
    """Fail unless ``meaning`` is the standard phrase of ``status``."""
    from http import HTTPStatus

    expected = HTTPStatus(status)
    if isinstance(meaning, HTTPStatus):
        fail(f"`meaning` is {meaning!r}, the status itself. Its phrase, the words, is its attribute .phrase.")
    if isinstance(meaning, int):
        fail(f"`meaning` is the number {meaning}; it should be the phrase, the words that go with the number.")
    if meaning == expected.description:
        fail(f"`meaning` is {meaning!r}, the long description; the phrase is the short words in .phrase.")
    if meaning != expected.phrase:
        fail(
            f"`meaning` is {meaning!r}; it should be the standard phrase of {status}, the string that "
            f"HTTPStatus({status}).phrase gives."
        )


@exercise(
    "01.2",
    "people in space",
    needs=("astros_response", "astros", "meaning"),
    points=1,
    hints=(
        'Look at notebooks/01_requests.ipynb: section 5 "The body" (which of .content, .text and .json() gives '
        'Python data) and section 3 "Status codes" (what http.HTTPStatus knows about each code).',
        "Three steps: request /astros.json from `api_url` and keep the Response; decode its body with the "
        "Response's JSON method (with parentheses: it is a method); look the status code up in HTTPStatus, "
        "whose members have a .phrase attribute.",
        'The key calls: requests.get(f"{api_url}/astros.json", timeout=10), then response.json(), then '
        "HTTPStatus(response.status_code).phrase.",
    ),
)
def _01_2(ns: dict[str, Any]) -> str:
    import requests

    response = require_response(ns["astros_response"], "astros_response")
    if not urlsplit(response.url).path.endswith("/astros.json"):
        fail(
            f"`astros_response` came from {response.url}; request {{api_url}}/astros.json instead "
            "(with .json at the end of the path)."
        )
    if response.status_code != 200:
        fail(f"Expected status 200, got {response.status_code}: check the path /astros.json.")
    astros = ns["astros"]
    _decoded(astros)
    expected = requests.get(response.url, timeout=10).json()
    if astros != expected:
        fail("`astros` is not the document the server sent: set it to astros_response.json().")
    _meaning(ns["meaning"], response.status_code)
    return f"200 {ns['meaning']}, and {astros['number']} people in space."


def _names_of(crafts: dict[Any, Any], craft: str, names: list[str]) -> None:
    """Fail unless ``crafts[craft]`` is the list ``names``, saying what went wrong."""
    got = crafts[craft]
    if isinstance(got, int):
        fail(f"crafts[{craft!r}] is the number {got}: you counted the people. Store the list of their names instead.")
    if isinstance(got, str):
        fail(
            f"crafts[{craft!r}] is the string {got!r}, one name: each new person replaced the one before. Give "
            "each craft a list, and append every name to it."
        )
    if not isinstance(got, list):
        fail(f"crafts[{craft!r}] is a {type(got).__name__}; it should be a list of names, in the document's order.")
    if any(isinstance(name, dict) for name in got):
        fail(f"crafts[{craft!r}] holds whole person dicts; keep only each person's name, person['name'].")
    if len(got) < len(names) and set(got) <= set(names):
        fail(
            f"crafts[{craft!r}] has {len(got)} name(s), but {len(names)} people are on board: the list is made "
            "again for every person. Make it once, the first time you meet a craft, then append to it."
        )
    if got != names and sorted(got) == sorted(names):
        fail(f"crafts[{craft!r}] has the right names, but not in the document's order: do not sort them.")
    if got != names:
        fail(f"crafts[{craft!r}] is {got!r}; expected the names in document order: {names!r}.")


@exercise(
    "01.3",
    "who is on which craft",
    needs=("crafts", "astros"),
    points=2,
    hints=(
        'Look at notebooks/01_requests.ipynb, section 10 "People in space": how it goes through astros["people"] '
        "and reads each person's craft and name.",
        "Start with an empty dict. Go through the people one by one. The first time you meet a craft, give it an "
        "empty list; then append the person's name to that craft's list. Never replace a list that already "
        "holds names.",
        "dict.setdefault(key, []) returns the list stored under key, and stores a new empty list first when there "
        'is none. So crafts.setdefault(person["craft"], []) is the list to append the name to.',
    ),
)
def _01_3(ns: dict[str, Any]) -> str:
    crafts = ns["crafts"]
    astros = ns["astros"]
    expected: dict[str, list[str]] = {}
    for person in astros["people"]:
        expected.setdefault(person["craft"], []).append(person["name"])
    if not isinstance(crafts, dict):
        fail(f"`crafts` should be a dict from craft name to a list of names, not a {type(crafts).__name__}.")
    if set(crafts) != set(expected):
        people = {person["name"] for person in astros["people"]}
        if set(crafts) & people:
            fail(
                "The keys of `crafts` are people's names. The keys should be the crafts (person['craft']), and "
                "each value the list of the names on board."
            )
        fail(f"`crafts` has the keys {sorted(map(str, crafts))}, but the document's crafts are {sorted(expected)}.")
    for craft, names in expected.items():
        _names_of(crafts, craft, names)
    summary = ", ".join(f"{len(v)} on {k}" for k, v in expected.items())
    return summary + "."


@exercise(
    "01.4",
    "query parameters",
    needs=("item_response",),
    points=1,
    hints=(
        'Look at notebooks/01_requests.ipynb, section 6 "Query strings with params=": which argument of '
        "requests.get builds the part of the URL after the ?",
        "The path is /items/5 on `course_url`; the query string is a dict of name -> value that requests writes "
        "after the ? for you. The server reads the parameter named q. A GET sends its inputs in the URL, not in "
        "a body: data= and json= are for bodies.",
        'The key call: requests.get(f"{course_url}/items/5", params={"q": "somequery"}, timeout=10).',
    ),
)
def _01_4(ns: dict[str, Any]) -> str:
    response = require_response(ns["item_response"], "item_response")
    parts = urlsplit(response.url)
    if response.request.method != "GET":
        fail(f"Your request was a {response.request.method}; reading an item is a GET: use requests.get.")
    if parts.path.endswith("/items"):
        fail(
            f"Your request went to {parts.path}: the item's id is part of the path, /items/5, not a query parameter. "
            "Only q goes in params=."
        )
    if not parts.path.endswith("/items/5"):
        fail(f"Your request went to {parts.path}; the path should be /items/5 (note the s in items).")
    query = parse_qs(parts.query)
    if query.get("q") != ["somequery"]:
        if not parts.query and response.request.body:
            fail(
                "The URL has no query string: data= and json= put q in the request's body, but GET /items/5 "
                "reads q from the query string only. Pass params= instead."
            )
        fail(
            f"The query string is {parts.query!r}; the server reads one parameter, named q: pass "
            "params={'q': 'somequery'} to requests.get."
        )
    if response.status_code != 200:
        fail(f"Expected status 200, got {response.status_code}.")
    if response.json() != {"item_id": 5, "q": "somequery"}:
        fail(f"Unexpected body {response.json()!r}.")
    return f"requests built the URL {parts.path}?{parts.query} for you."


EXPECTED_CLASS = {  # status code -> what the student's status_class(code) must answer
    100: "informational",
    101: "informational",
    199: "informational",
    200: "success",
    204: "success",
    299: "success",
    301: "redirection",
    399: "redirection",
    404: "client error",
    418: "client error",
    422: "client error",
    499: "client error",
    500: "server error",
    503: "server error",
    599: "server error",
}


def _classes_right(status_class: Any) -> None:
    for code, expected in EXPECTED_CLASS.items():
        try:
            got = status_class(code)
        except ValueError as error:
            fail(
                raised(
                    f"status_class({code})",
                    error,
                    f"But {code} is a real status code: the range 100-599 includes both ends. Check each "
                    "comparison (< versus <=).",
                )
            )
        if isinstance(got, str) and got != expected and got.lower().replace("_", " ").strip() == expected:
            fail(f"status_class({code}) returned {got!r}; spell the class exactly {expected!r}.")
        if got != expected:
            fail(f"status_class({code}) returned {got!r}; expected {expected!r}. The first digit decides the class.")


@exercise(
    "01.5",
    "status classes",
    needs=("status_class",),
    points=2,
    hints=(
        'Look at notebooks/01_requests.ipynb, section 3 "Status codes": the table of the five classes. Which '
        "part of the number decides the class?",
        "First refuse the numbers that are not status codes: when the code is below 100 or above 599, raise a "
        "ValueError (raise it, do not return it). Then the first digit, the hundreds, names the class: 1 is "
        "informational, 2 success, 3 redirection, 4 client error, 5 server error.",
        "code // 100 is the first digit (whole-number division: 204 // 100 is 2, but 204 / 100 is 2.04). A "
        "dict from digit to class name, or an if/elif chain, does the rest; `if not 100 <= code <= 599:` tests "
        "the range.",
    ),
)
def _01_5(ns: dict[str, Any]) -> str:
    status_class = ns["status_class"]
    _classes_right(status_class)
    for bad in (99, 600, 1000, 0):
        try:
            got = status_class(bad)
        except ValueError:
            continue
        except Exception as error:
            fail(
                raised(
                    f"status_class({bad})",
                    error,
                    f"{bad} is not an HTTP status code, so status_class must raise ValueError for it: test the "
                    "range 100-599 first, with an if, and raise ValueError(...) there.",
                )
            )
        if isinstance(got, BaseException):
            fail(
                f"status_class({bad}) returned {got!r} instead of raising it: write `raise ValueError(...)`, "
                "not `return ValueError(...)`."
            )
        ending = " (a function that ends without return gives None)" if got is None else ""
        fail(
            f"status_class({bad}) returned {got!r}{ending}; {bad} is not an HTTP status code: raise ValueError for it."
        )
    return "every class from 1xx to 5xx is right, and nonsense codes are refused."


def _raises_for_errors(get_json: Any, base: str) -> None:
    """Fail unless ``get_json`` raises requests.HTTPError for a 404 and a 503."""
    import requests

    for code in (404, 503):
        try:
            got = get_json(f"{base}/status/{code}")
        except requests.HTTPError:
            continue
        except CheckFailed:
            raise
        except Exception as error:
            fail(
                raised(
                    f"get_json(url) for a {code} response",
                    error,
                    "The caller expects requests.HTTPError: response.raise_for_status() raises it for every 4xx "
                    "and 5xx response.",
                )
            )
        if got is None:
            fail(
                f"get_json returned None for a {code} response: let the requests.HTTPError out. Do not catch it "
                "inside get_json: the caller must see that the request failed."
            )
        fail(
            f"get_json returned normally for a {code} response; call response.raise_for_status() "
            "so that 4xx and 5xx responses raise requests.HTTPError."
        )


def _returns_json(get_json: Any, base: str) -> None:
    import requests

    body = get_json(f"{base}/items/7?q=check")
    if isinstance(body, requests.Response):
        fail("get_json returned the Response itself; return its decoded body, response.json().")
    if callable(body):
        fail("get_json returned the method .json itself: call it, with parentheses: response.json().")
    if body != {"item_id": 7, "q": "check"}:
        fail(f"get_json should return the parsed JSON body; it returned {body!r}.")


def _default_timeout(get_json: Any) -> None:
    import inspect

    try:
        parameters = inspect.signature(get_json).parameters
    except (TypeError, ValueError):
        return
    if "timeout" in parameters and parameters["timeout"].default is None:
        fail(
            "get_json's timeout defaults to None, and timeout=None tells requests to wait forever: give it a "
            "number of seconds as the default, timeout=5."
        )


def _timeouts_used(seen: list[dict[str, Any]]) -> None:
    if not seen:
        fail("get_json made no request with requests: use requests.get(url, timeout=...).")
    for call in seen:
        if call.get("timeout") is None and isinstance(call.get("params"), int | float):
            fail(
                "get_json passes the timeout as the second positional argument of requests.get, which is params=, "
                "so requests sends it in the URL and waits forever. Name it: timeout=timeout."
            )
        if call.get("timeout") is None:
            fail("get_json does not pass timeout= to requests: a server that never answers would hang it forever.")


@exercise(
    "01.6",
    "a careful client",
    needs=("get_json",),
    points=3,
    hints=(
        'Look at notebooks/01_requests.ipynb, section 7 "Timeouts" and section 8, on making errors impossible '
        "to miss: what happens without a timeout, and how an error status becomes an exception.",
        "get_json(url, timeout=5) does three things in order: request the URL with requests.get, passing its own "
        "`timeout` parameter on as timeout=; make 4xx and 5xx responses raise requests.HTTPError (do not catch "
        "it); return the decoded JSON body.",
        "The key lines: response = requests.get(url, timeout=timeout), then response.raise_for_status(), then "
        "return response.json().",
    ),
)
def _01_6(ns: dict[str, Any]) -> str:
    import requests

    get_json = ns["get_json"]
    _default_timeout(get_json)
    base = base_url(ns, "course_url", "api_url")
    seen: list[dict[str, Any]] = []
    original = requests.Session.request

    def recording(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        _timeouts_used(seen)
        return original(self, method, url, *args, **kwargs)

    with mock.patch.object(requests.Session, "request", recording):
        _returns_json(get_json, base)
        _raises_for_errors(get_json, base)
        _timeouts_used(seen)
        seen.clear()
        try:
            get_json(f"{base}/items/7", timeout=2.5)
        except TypeError as error:
            if "timeout" not in str(error):
                raise
            fail(raised("get_json(url, timeout=2.5)", error, "Give get_json a second parameter: timeout=5."))
    used = [call.get("timeout") for call in seen]
    if not any(t == 2.5 or (isinstance(t, tuple) and 2.5 in t) for t in used):
        fail(
            f"get_json(url, timeout=2.5) sent timeout={used[0] if used else None!r}: pass your function's own "
            "`timeout` parameter on to requests.get (timeout=timeout), so the caller decides how long to wait."
        )
    return "it returns JSON, raises for 4xx and 5xx, and never waits forever."
