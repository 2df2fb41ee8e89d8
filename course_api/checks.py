"""Self-checks for the exercises: ``check("01.2")`` after an exercise says what is right or what to fix.

A check reads the names your cell defined (``response``, ``crafts``, ...) from the notebook, tests them, and

* prints a short "well done" when everything is right;
* raises :class:`CheckFailed` with a message that says what is wrong and what to try;
* raises :class:`ExerciseNotDone` (a ``NotImplementedError``) when the exercise cell has not run yet.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Any, Callable
from unittest import mock

__all__ = ["check", "CheckFailed", "ExerciseNotDone", "EXERCISES"]


class CheckFailed(Exception):
    """Your answer runs but is not right yet; the message says what to fix."""


class ExerciseNotDone(NotImplementedError):
    """The exercise cell has not defined its answer yet."""


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    needs: tuple[str, ...]
    run: Callable[[dict[str, Any]], str]


EXERCISES: dict[str, Exercise] = {}


def exercise(exercise_id: str, title: str, needs: tuple[str, ...]):
    def register(func: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], str]:
        EXERCISES[exercise_id] = Exercise(exercise_id, title, needs, func)
        return func

    return register


def check(exercise_id: str, namespace: dict[str, Any] | None = None) -> None:
    """Check exercise ``exercise_id`` against the names defined in the notebook (or in ``namespace``)."""
    __tracebackhide__ = True  # IPython and pytest hide this frame: the student sees only the message
    if exercise_id not in EXERCISES:
        raise ValueError(f"There is no exercise {exercise_id!r}; known: {', '.join(sorted(EXERCISES))}.")
    spec = EXERCISES[exercise_id]
    ns = namespace if namespace is not None else sys._getframe(1).f_globals
    missing = [name for name in spec.needs if name not in ns]
    if missing:
        names = ", ".join(f"`{n}`" for n in missing)
        raise ExerciseNotDone(
            f"Exercise {exercise_id} ({spec.title}) is not done yet: the cell above must define {names}. "
            "Replace the `raise NotImplementedError` line with your code and run that cell first."
        )
    message = spec.run(ns)
    print(f"✔ Exercise {exercise_id} ({spec.title}): {message}")


def fail(message: str) -> None:
    __tracebackhide__ = True
    raise CheckFailed(message)


def _require_response(value: Any, name: str) -> Any:
    import requests

    if not isinstance(value, requests.Response):
        fail(f"`{name}` should be the Response that requests.get(...) returns, but it is a {type(value).__name__}.")
    return value


def _detail(response: Any) -> str:
    """The sentence an error answer of the course server gives (problem details: ``detail``)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else json.dumps(body)[:300]


def _base(ns: dict[str, Any], *names: str) -> str:
    for name in names:
        value = ns.get(name)
        if isinstance(value, str) and value:
            return value.rstrip("/")
    server = ns.get("server")
    if server is not None and getattr(server, "url", None):
        return server.url
    fail(f"No server URL: the setup cells define `server` and `{names[0]}`; run them first.")
    return ""  # unreachable


# ------------------------------------------------------------------------------------ 01 requests
@exercise("01.1", "a page that does not exist", needs=("missing",))
def _01_1(ns: dict[str, Any]) -> str:
    response = _require_response(ns["missing"], "missing")
    if response.status_code == 200:
        fail("Expected status 404, your request got 200: did you ask for a path that exists? "
             "Request a path the API does not have, such as /this-api-doesnt-exist.")
    if response.status_code != 404:
        fail(f"Expected status 404 (Not Found), your request got {response.status_code}. "
             "Ask the API for a path it does not have.")
    return "404 Not Found: the server is there, but the path is not."


@exercise("01.2", "people in space", needs=("astros_response", "astros", "meaning"))
def _01_2(ns: dict[str, Any]) -> str:
    import requests
    from http import HTTPStatus

    response = _require_response(ns["astros_response"], "astros_response")
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

    response = _require_response(ns["item_response"], "item_response")
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
    cases = {100: "informational", 200: "success", 204: "success", 301: "redirection", 404: "client error",
             418: "client error", 422: "client error", 500: "server error", 503: "server error"}
    for code, expected in cases.items():
        got = status_class(code)
        if got != expected:
            fail(f"status_class({code}) returned {got!r}; expected {expected!r}. The first digit decides the class.")
    for bad in (99, 600, 1000):
        try:
            status_class(bad)
        except ValueError:
            continue
        except Exception as exc:  # noqa: BLE001
            fail(f"status_class({bad}) raised {type(exc).__name__}; raise ValueError for codes outside 100-599.")
        fail(f"status_class({bad}) returned a value; {bad} is not an HTTP status code: raise ValueError.")
    return "every class from 1xx to 5xx is right, and nonsense codes are refused."


@exercise("01.6", "a careful client", needs=("get_json",))
def _01_6(ns: dict[str, Any]) -> str:
    import requests

    get_json = ns["get_json"]
    base = _base(ns, "course_url", "api_url")
    seen_timeouts: list[Any] = []
    original = requests.Session.request

    def recording(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
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
            fail(f"get_json returned normally for a {code} answer; call response.raise_for_status() "
                 "so that 4xx and 5xx answers raise requests.HTTPError.")
    if not seen_timeouts:
        fail("get_json made no request with requests: use requests.get(url, timeout=...).")
    if any(t is None for t in seen_timeouts):
        fail("get_json does not pass timeout= to requests: a server that never answers would hang it forever.")
    return "it returns JSON, raises for 4xx and 5xx, and never waits forever."


# --------------------------------------------------------------------------------------- 02 json
@exercise("02.1", "a round trip through JSON", needs=("text", "back", "changed"))
def _02_1(ns: dict[str, Any]) -> str:
    course = ns.get("course")
    text, back, changed = ns["text"], ns["back"], ns["changed"]
    if not isinstance(text, str):
        fail(f"`text` should be a str made by json.dumps, not a {type(text).__name__}.")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"`text` is not valid JSON ({exc}); make it with json.dumps(course).")
    if course is not None and parsed != json.loads(json.dumps(course)):
        fail("`text` does not hold the `course` dict: use json.dumps(course).")
    if back != parsed:
        fail("`back` should be json.loads(text).")
    if changed != "topics":
        fail(f"`changed` is {changed!r}. Compare back[key] == course[key] for every key: which one differs, and why?")
    return "a tuple comes back as a list: JSON has only one kind of array."


@exercise("02.2", "making data JSON-safe", needs=("to_json_safe", "event"))
def _02_2(ns: dict[str, Any]) -> str:
    import base64
    from datetime import datetime

    event = ns["event"]
    safe = ns["to_json_safe"](event)
    if safe is event:
        fail("to_json_safe should return a new dict, not the same one.")
    try:
        text = json.dumps(safe, allow_nan=False)
    except (TypeError, ValueError) as exc:
        fail(f"json.dumps(to_json_safe(event), allow_nan=False) still fails: {exc}")
    back = json.loads(text)
    when = back.get("when")
    if not isinstance(when, str) or datetime.fromisoformat(when) != event["when"]:
        fail(f"'when' should be the ISO 8601 string event['when'].isoformat(), got {when!r}.")
    image = back.get("image")
    if not isinstance(image, str):
        fail(f"'image' should be a base64 string, got {type(image).__name__}.")
    try:
        decoded = base64.b64decode(image, validate=True)
    except ValueError:
        fail("'image' is not valid base64: use base64.b64encode(data).decode('ascii').")
    if decoded != event["image"]:
        fail("'image' does not decode back to the original bytes.")
    if back.get("score", "missing") is not None:
        fail(f"'score' is NaN in event; JSON has no NaN: map it to None (null). Got {back.get('score')!r}.")
    if back.get("label") != event.get("label"):
        fail("Values that are already JSON-safe (like 'label') should stay as they are.")
    return "dates as ISO strings, bytes as base64, NaN as null: any JSON parser can read it now."


@exercise("02.3", "sending a JSON body", needs=("negative_response",))
def _02_3(ns: dict[str, Any]) -> str:
    response = _require_response(ns["negative_response"], "negative_response")
    if response.request.method != "POST" or not response.url.endswith("/predict/text"):
        fail(f"Send a POST to /predict/text; your request was {response.request.method} {response.url}.")
    if response.status_code == 422:
        fail("The server answered 422: send the body with json={'text': ...} (not data=), "
             f"so it is JSON. The server said: {_detail(response)}")
    if response.status_code != 200:
        fail(f"Expected 200, got {response.status_code}.")
    sent = json.loads(response.request.body)
    label = response.json()["label"]
    if label != "negative":
        fail(f"The model read {sent.get('text')!r} as {label}: write a sentence it finds negative.")
    return f"{sent['text']!r} is negative ({response.json()['score']:.0%} sure)."


def _validation_error_expected(model: Any, data: Any, why: str) -> None:
    from pydantic import ValidationError

    try:
        model.model_validate(data)
    except ValidationError:
        return
    fail(f"{model.__name__} accepted a document where {why}; it should raise ValidationError.")


@exercise("02.4", "a pydantic model for /astros.json", needs=("PeopleInSpace", "Astronaut"))
def _02_4(ns: dict[str, Any]) -> str:
    import requests
    from pydantic import BaseModel, ValidationError

    model, person = ns["PeopleInSpace"], ns["Astronaut"]
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        fail("PeopleInSpace should be a class that inherits from pydantic.BaseModel.")
    document = requests.get(f"{_base(ns, 'api_url')}/astros.json", timeout=10).json()
    try:
        parsed = model.model_validate(document)
    except ValidationError as exc:
        fail(f"PeopleInSpace rejects the real document:\n{exc}")
    if not all(isinstance(p, person) for p in parsed.people):
        fail("`people` should be a list[Astronaut], so each person is an Astronaut object.")
    _validation_error_expected(model, {k: v for k, v in document.items() if k != "people"}, "'people' is missing")
    _validation_error_expected(model, {**document, "number": -1}, "number is -1 (use Field(ge=0))")
    _validation_error_expected(model, {**document, "people": [{"name": "Ada"}]}, "a person has no craft")
    _validation_error_expected(model, {**document, "number": document["number"] + 1},
                               "number does not match the length of people (add a model_validator)")
    return "it accepts the real document and refuses four broken ones."


@exercise("02.5", "validating a batch of pixels", needs=("PixelBatch",))
def _02_5(ns: dict[str, Any]) -> str:
    from pydantic import ValidationError

    model = ns["PixelBatch"]
    good = {"images": [[[0.0] * 8 for _ in range(8)], [[16] * 8 for _ in range(8)]]}
    try:
        model.model_validate(good)
    except ValidationError as exc:
        fail(f"PixelBatch rejects a valid batch of two 8x8 images:\n{exc}")
    row = [0] * 8
    _validation_error_expected(model, {"images": []}, "the batch is empty")
    _validation_error_expected(model, {"images": [[row] * 7]}, "an image has 7 rows")
    _validation_error_expected(model, {"images": [[[0] * 9] * 8]}, "a row has 9 values")
    _validation_error_expected(model, {"images": [[[17] + [0] * 7] + [row] * 7]}, "a value is 17 (the range is 0..16)")
    _validation_error_expected(model, {"images": [[[-1] + [0] * 7] + [row] * 7]}, "a value is negative")
    _validation_error_expected(model, {"images": [[[math.nan] + [0] * 7] + [row] * 7]},
                               "a value is NaN (use allow_inf_nan=False)")
    return "shape, range and NaN are all checked before any model sees the data."


# ------------------------------------------------------------------------------------ 03 fastapi
def _client(ns: dict[str, Any]) -> Any:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = ns.get("app")
    if not isinstance(app, FastAPI):
        fail("`app` should be your FastAPI() application; run the cell that creates it.")
    # A crash in the student's route should come back as the 500 a real client would see, not as an exception.
    return TestClient(app, raise_server_exceptions=False)


def _expect_status(response: Any, status: int, what: str) -> None:
    if response.status_code != status:
        hint = {404: " Is the route's path spelled exactly as asked, and did you run its cell?",
                405: " The path exists but not for this method: check @app.get vs @app.post.",
                422: f" The server said: {response.text[:300]}",
                500: " Your route raised an error: look at its code."}.get(response.status_code, "")
        fail(f"{what}: expected status {status}, got {response.status_code}.{hint}")


@exercise("03.1", "a route with a path parameter", needs=("hello",))
def _03_1(ns: dict[str, Any]) -> str:
    client = _client(ns)
    response = client.get("/hello/Ada")
    _expect_status(response, 200, "GET /hello/Ada")
    if response.json() != {"message": "Hello, Ada!"}:
        fail(f"GET /hello/Ada returned {response.json()!r}; expected {{'message': 'Hello, Ada!'}}.")
    return "GET /hello/Ada says hello."


@exercise("03.2", "a validated query parameter", needs=("square",))
def _03_2(ns: dict[str, Any]) -> str:
    client = _client(ns)
    response = client.get("/square", params={"n": 12})
    _expect_status(response, 200, "GET /square?n=12")
    if response.json() != {"n": 12, "square": 144}:
        fail(f"GET /square?n=12 returned {response.json()!r}; expected {{'n': 12, 'square': 144}}.")
    for value, why in (("-1", "n below 0"), ("1001", "n above 1000"), ("abc", "n that is not a number")):
        got = client.get("/square", params={"n": value}).status_code
        if got != 422:
            fail(f"GET /square?n={value} ({why}) got {got}; expected 422: declare n with Query(ge=0, le=1000).")
    if client.get("/square").status_code != 422:
        fail("GET /square without n should be 422: n is required, so give it no default value.")
    return "12 squared is 144, and bad values of n get a 422 before your code runs."


@exercise("03.3", "a request body and 201 Created", needs=("Note", "create_note"))
def _03_3(ns: dict[str, Any]) -> str:
    client = _client(ns)
    first = client.post("/notes", json={"title": "Buy milk", "body": "2 litres"})
    _expect_status(first, 201, "POST /notes")
    body = first.json()
    if not isinstance(body.get("id"), int):
        fail(f"POST /notes returned {body!r}; the answer should include the new note's integer 'id'.")
    if body.get("title") != "Buy milk" or body.get("body") != "2 litres":
        fail(f"POST /notes returned {body!r}; include the title and body that were sent.")
    second = client.post("/notes", json={"title": "Call Bob"}).json()
    if second.get("id") == body["id"]:
        fail("Two notes got the same id; give every new note a new id.")
    if second.get("body") != "":
        fail("A note sent without a body should get body '' (give the field a default).")
    if client.post("/notes", json={"title": ""}).status_code != 422:
        fail("An empty title should be refused with 422: use Field(min_length=1).")
    if client.post("/notes", json={"body": "no title"}).status_code != 422:
        fail("A note without a title should be refused with 422: the title is required.")
    return "new notes answer 201 with their id; bad notes get 422."


@exercise("03.4", "the right status for a missing note", needs=("read_note",))
def _03_4(ns: dict[str, Any]) -> str:
    client = _client(ns)
    created = client.post("/notes", json={"title": "Exercise 03.4"})
    _expect_status(created, 201, "POST /notes (from exercise 03.3)")
    note_id = created.json()["id"]
    found = client.get(f"/notes/{note_id}")
    _expect_status(found, 200, f"GET /notes/{note_id}")
    if found.json().get("title") != "Exercise 03.4":
        fail(f"GET /notes/{note_id} returned {found.json()!r}; expected the note that was created.")
    missing = client.get("/notes/999999")
    if missing.status_code == 200:
        fail("GET /notes/999999 answered 200 for a note that does not exist: raise HTTPException(404, ...).")
    if missing.status_code == 500:
        fail("GET /notes/999999 crashed with 500 (a KeyError?): a client's mistake must be a 4xx. "
             "Raise HTTPException(status_code=404, detail=...) instead.")
    _expect_status(missing, 404, "GET /notes/999999")
    if "999999" not in str(missing.json().get("detail", "")):
        fail(f"The 404 detail is {missing.json().get('detail')!r}; say which note was not found, e.g. 'Note 999999 not found'.")
    if client.get("/notes/abc").status_code != 422:
        fail("GET /notes/abc should be 422: declare note_id as an int.")
    return "200 for a note that exists, 404 with a helpful detail for one that does not."


@exercise("03.5", "testing a route with TestClient", needs=("test_square",))
def _03_5(ns: dict[str, Any]) -> str:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    test_square = ns["test_square"]
    try:
        test_square(_client(ns))
    except AssertionError as exc:
        fail(f"test_square fails on your own (correct) app: {exc or 'an assert failed'}. Check what you assert.")

    def broken(kind: str) -> FastAPI:
        app = FastAPI()
        if kind == "wrong-answer":
            @app.get("/square")
            def square(n: int) -> dict:
                return {"n": n, "square": n + n}
        else:
            @app.get("/square")
            def square(n: int) -> dict:
                return {"n": n, "square": n * n}
        return app

    for kind, what in (("wrong-answer", "computes n + n"), ("no-validation", "accepts n = -1")):
        try:
            test_square(TestClient(broken(kind)))
        except AssertionError:
            continue
        fail(f"test_square passes on a broken /square that {what}: a test should catch that. "
             "Assert the exact JSON for one n, and a 422 for a value out of range.")
    return "your test passes on a good app and catches two broken ones."


# --------------------------------------------------------------------------------- 04 serving a model
@exercise("04.1", "uploading an image", needs=("upload_response",))
def _04_1(ns: dict[str, Any]) -> str:
    response = _require_response(ns["upload_response"], "upload_response")
    content_type = response.request.headers.get("Content-Type", "")
    if not response.url.endswith("/predict/image"):
        fail(f"Send the image to /predict/image; your request went to {response.url}.")
    if not content_type.startswith("multipart/form-data"):
        fail(f"The request's Content-Type is {content_type!r}: pass the file with files={{'file': (name, data, "
             "'image/png')}} so requests sends multipart/form-data.")
    if response.status_code == 422:
        fail(f"The server answered 422: the multipart field must be called 'file'. It said: {_detail(response)}")
    if response.status_code != 200:
        fail(f"Expected 200, got {response.status_code}: {response.text[:200]}")
    digit = response.json()["digit"]
    if digit != 7:
        fail(f"The server read a {digit}: upload course_api.samples.digit_png(7), a handwritten 7.")
    return f"the server read your PNG as a {digit} ({response.json()['score']:.0%} sure)."


def _png(size: tuple[int, int], noise: bool = False) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    if noise:
        pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        image = Image.fromarray(pixels, mode="RGB")
    else:
        image = Image.new("L", size, 255)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@exercise("04.2", "an endpoint for the top 3 digits", needs=("top3", "service"))
def _04_2(ns: dict[str, Any]) -> str:
    import numpy as np

    from course_api.imaging import decode_image, digit_pixels
    from course_api.samples import digit_png

    client = _client(ns)
    data = digit_png(3)
    response = client.post("/top3", files={"file": ("three.png", data, "image/png")})
    _expect_status(response, 200, "POST /top3 with a PNG")
    top = response.json().get("top3")
    if not isinstance(top, list) or len(top) != 3:
        fail(f"POST /top3 returned {response.json()!r}; expected {{'top3': [three entries]}}.")
    if not all(isinstance(e, dict) and {"digit", "probability"} <= set(e) for e in top):
        fail(f"Each entry should be {{'digit': d, 'probability': p}}; got {top[0]!r}.")
    probabilities = [e["probability"] for e in top]
    if probabilities != sorted(probabilities, reverse=True):
        fail(f"The top 3 should be sorted from most to least likely; got probabilities {probabilities}.")
    expected = ns["service"].digit_probabilities(digit_pixels(decode_image(data, max_pixels=10**8))[None])[0]
    best = [int(d) for d in np.argsort(expected)[::-1][:3]]
    if [e["digit"] for e in top] != best:
        fail(f"The digits are {[e['digit'] for e in top]}; the model's three most likely are {best}.")
    if not np.allclose(probabilities, expected[best], atol=1e-4):
        fail("The probabilities do not match the model's: use softmax probabilities, not logits.")
    bad = client.post("/top3", files={"file": ("notes.txt", b"not an image", "text/plain")})
    if bad.status_code == 500:
        fail("A text file crashed /top3 with a 500: catch the decoding error and answer 415.")
    if bad.status_code != 415:
        fail(f"A text file got {bad.status_code}; answer 415 Unsupported Media Type for files that are not images.")
    return f"the top 3 for a handwritten 3 are {best}, and a text file gets a 415."


@exercise("04.3", "refusing images that are too large", needs=("thumbnail",))
def _04_3(ns: dict[str, Any]) -> str:
    import io

    from PIL import Image

    client = _client(ns)
    small = client.post("/thumbnail", files={"file": ("small.png", _png((200, 120)), "image/png")})
    _expect_status(small, 200, "POST /thumbnail with a small PNG")
    if small.headers.get("content-type") != "image/png":
        fail(f"The thumbnail's Content-Type is {small.headers.get('content-type')!r}: "
             "return Response(content=png_bytes, media_type='image/png').")
    try:
        image = Image.open(io.BytesIO(small.content))
    except Exception:  # noqa: BLE001
        fail("The answer is not a PNG image that Pillow can open.")
    if image.size != (32, 32):
        fail(f"The thumbnail is {image.size[0]}x{image.size[1]}; it should be 32x32.")
    big = _png((400, 400), noise=True)
    assert len(big) > 100_000
    too_big = client.post("/thumbnail", files={"file": ("big.png", big, "image/png")})
    if too_big.status_code in (200, 422):
        fail(f"An upload of {len(big)} bytes got {too_big.status_code}; refuse uploads over 100,000 bytes "
             "with 413 Content Too Large.")
    _expect_status(too_big, 413, f"POST /thumbnail with {len(big)} bytes")
    text = client.post("/thumbnail", files={"file": ("notes.txt", b"hello", "text/plain")})
    _expect_status(text, 415, "POST /thumbnail with a text file")
    return "small images get a 32x32 PNG, large uploads a 413, and text a 415."


@exercise("04.4", "p50 and p99", needs=("latency_summary",))
def _04_4(ns: dict[str, Any]) -> str:
    import numpy as np

    summary = ns["latency_summary"]
    samples = [float(x) for x in np.random.default_rng(1).gamma(2.0, 3.0, 1000)]
    got = summary(samples)
    if not isinstance(got, dict) or not {"p50", "p99", "max"} <= set(got):
        fail(f"latency_summary should return a dict with 'p50', 'p99' and 'max'; got {got!r}.")
    expected = {"p50": np.percentile(samples, 50), "p99": np.percentile(samples, 99), "max": max(samples)}
    for key, value in expected.items():
        if not math.isclose(got[key], value, rel_tol=0.02):
            fail(f"{key} is {got[key]:.3f}; expected about {value:.3f}. np.percentile(samples, 99) gives the 99th percentile.")
    if summary([5.0])["p99"] != 5.0:
        fail("latency_summary([5.0]) should give 5.0 for every statistic.")
    return "half the requests are faster than p50, and 99 in 100 faster than p99."


# ------------------------------------------------------------------------------------------ 05 docker
def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


@exercise("05.1", "a pinned requirements.txt", needs=("requirements_path",))
def _05_1(ns: dict[str, Any]) -> str:
    from importlib.metadata import version
    from pathlib import Path

    from packaging.requirements import InvalidRequirement, Requirement

    path = Path(ns["requirements_path"])
    if path.name != "requirements.txt":
        fail(f"The file is called {path.name!r}; pip and every tutorial expect requirements.txt (with an s).")
    if not path.is_file():
        fail(f"There is no file at {path}: write it first.")
    found = {}
    for line in _lines(path.read_text()):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            fail(f"{line!r} is not a valid requirement line.")
        found[requirement.name.lower()] = requirement
    if "unicorn" in found:
        fail("'unicorn' is not the server: the package is uvicorn.")
    for name in ("fastapi", "uvicorn"):
        if name not in found:
            fail(f"requirements.txt should list {name}.")
        spec = str(found[name].specifier)
        if spec != f"=={version(name)}":
            fail(f"{name} is {spec or 'not pinned'}; pin it exactly to the version you tested with: =={version(name)}.")
    if "standard" not in found["uvicorn"].extras:
        fail("Use uvicorn[standard]: it brings the fast event loop, HTTP parser and --reload support.")
    return "exact pins of what you tested: the image installs the same versions every time."


@exercise("05.2", "a HEALTHCHECK without curl", needs=("healthcheck",))
def _05_2(ns: dict[str, Any]) -> str:
    import shlex
    import subprocess

    from fastapi import FastAPI

    from course_api.notebook import serve_in_background

    line = " ".join(str(ns["healthcheck"]).split())
    if not line.startswith("HEALTHCHECK"):
        fail("`healthcheck` should be the whole Dockerfile line, starting with HEALTHCHECK.")
    if " CMD " not in f" {line} ":
        fail("A HEALTHCHECK needs CMD followed by the command to run.")
    if "--interval" not in line or "--timeout" not in line:
        fail("Set --interval and --timeout: how often to check, and how long a check may take.")
    command = line.split(" CMD ", 1)[1].strip()
    argv = json.loads(command) if command.startswith("[") else shlex.split(command)
    if argv and argv[0] in ("curl", "wget"):
        fail(f"python:3.x-slim images have no {argv[0]}: use python -c with urllib.request.")
    if "8000" not in command:
        fail("Check the port the server listens on inside the container: 8000.")

    app = FastAPI()

    @app.get("/")
    def root() -> dict:
        return {"message": "OK"}

    def run(port: int) -> int:
        args = [a.replace(":8000", f":{port}") for a in argv]
        if args[0] in ("python", "python3"):
            args[0] = sys.executable
        elif args[0] in ("sh", "/bin/sh"):
            args[-1] = args[-1].replace("python ", f"{sys.executable} ")
        return subprocess.run(args, timeout=30, capture_output=True).returncode

    with serve_in_background(app, name="healthcheck") as server:
        if run(server.port) != 0:
            fail("Your health check command fails against a healthy server: run it by hand in a terminal.")
        port = server.port
    if run(port) == 0:
        fail("Your health check command succeeds when no server answers: it must exit non-zero then.")
    return "exit 0 when the server answers, non-zero when it does not: Docker marks the container (un)healthy."


def _hadolint(text: str) -> str:
    import subprocess
    import tempfile
    from pathlib import Path

    exe = Path(sys.executable).parent / "hadolint"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Dockerfile"
        path.write_text(text)
        out = subprocess.run([str(exe), str(path)], capture_output=True, text=True, timeout=60)
    return out.stdout.strip().replace(str(path), "Dockerfile")


@exercise("05.3", "a Dockerfile for a FastAPI app", needs=("dockerfile",))
def _05_3(ns: dict[str, Any]) -> str:
    text = str(ns["dockerfile"])
    steps = [line.split(None, 1) + [""] for line in _lines(text.replace("\\\n", " "))]
    words = [s[0].upper() for s in steps]
    if not words or words[0] != "FROM":
        fail("A Dockerfile starts with FROM: e.g. FROM python:3.12-slim.")
    base = steps[0][1]
    if "slim" not in base or not base.startswith("python:3.1"):
        fail(f"The base is {base!r}: use a current slim Python image such as python:3.12-slim.")
    warnings = _hadolint(text)
    if warnings:
        fail(f"hadolint has remarks:\n{warnings}")
    copies = [s[1] for s in steps if s[0].upper() == "COPY"]
    if not copies or "requirements.txt" not in copies[0]:
        fail("Copy requirements.txt first and install it before copying the code: then a code change "
             "does not reinstall every dependency.")
    if "USER" not in words:
        fail("Add a non-root user (useradd) and switch to it with USER: a server should never run as root.")
    if "HEALTHCHECK" not in words:
        fail("Add a HEALTHCHECK (exercise 05.2).")
    cmd_args = next((s[1] for s in steps if s[0].upper() == "CMD"), "")
    try:
        cmd = json.loads(cmd_args)
    except json.JSONDecodeError:
        fail('Write CMD in exec form, a JSON list: CMD ["uvicorn", "app.main:app", ...].')
    if "--host" not in cmd or cmd[cmd.index("--host") + 1] != "0.0.0.0":
        fail("Inside a container the server must listen on 0.0.0.0, or `docker run -p` cannot reach it.")
    exposed = next((s[1].strip() for s in steps if s[0].upper() == "EXPOSE"), None)
    if "--port" not in cmd or cmd[cmd.index("--port") + 1] != exposed:
        fail(f"CMD's --port should be the port you EXPOSE ({exposed}), the one `docker run -p HOST:{exposed}` maps.")
    return "hadolint is happy, dependencies are cached, it runs as a user, and -p can reach it."


@exercise("05.4", "build and run with matching names", needs=("build_command", "run_command"))
def _05_4(ns: dict[str, Any]) -> str:
    build, run = list(ns["build_command"]), list(ns["run_command"])
    if build[:2] != ["docker", "build"] or "-t" not in build:
        fail("build_command should be a list like ['docker', 'build', '-t', NAME, FOLDER].")
    if run[:2] != ["docker", "run"]:
        fail("run_command should be a list starting with ['docker', 'run', ...].")
    image = build[build.index("-t") + 1]
    if run[-1] != image:
        fail(f"You build {image!r} but run {run[-1]!r} (the draft's mistake): the last argument of docker run "
             "is the image to start, and must be the name you built.")
    if "-p" not in run:
        fail("Without -p the container's port is not reachable from your machine: add -p 8080:8000.")
    if run[run.index("-p") + 1] != "8080:8000":
        fail(f"-p {run[run.index('-p') + 1]}: the format is HOST:CONTAINER, so 8080 on your machine to 8000 inside is 8080:8000.")
    if "-d" not in run or "--name" not in run:
        fail("Run it in the background (-d) and give the container a --name, so docker logs/stop can find it.")
    return f"docker run starts the image {image!r} you built, reachable at http://127.0.0.1:8080."


# ---------------------------------------------------------------------------------- 06 going further
@exercise("06.1", "a bounded load generator", needs=("run_load",))
def _06_1(ns: dict[str, Any]) -> str:
    import threading
    import time

    from fastapi import FastAPI

    from course_api.notebook import serve_in_background

    state = {"count": 0, "in_flight": 0, "peak": 0}
    lock = threading.Lock()
    app = FastAPI()

    @app.get("/")
    def root() -> dict:
        with lock:
            state["count"] += 1
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        time.sleep(0.02)
        with lock:
            state["in_flight"] -= 1
        return {"ok": True}

    with serve_in_background(app, name="load-check") as server:
        started = time.perf_counter()
        latencies = ns["run_load"](server.url + "/", concurrency=4, total=40)
        seconds = time.perf_counter() - started
    if state["count"] != 40:
        fail(f"The server saw {state['count']} requests; run_load(url, concurrency=4, total=40) should send exactly 40.")
    if not isinstance(latencies, list) or len(latencies) != 40:
        fail("run_load should return a list with one latency (in ms) per request.")
    if state["peak"] > 4:
        fail(f"Up to {state['peak']} requests were in flight at once; never more than `concurrency`.")
    if state["peak"] < 2:
        fail("The requests ran one after another: use a ThreadPoolExecutor(max_workers=concurrency).")
    if min(latencies) < 15 or max(latencies) > 5000:
        fail(f"Latencies range from {min(latencies):.1f} to {max(latencies):.1f}: measure each request in "
             "milliseconds with time.perf_counter() before and after it.")
    return f"40 requests, at most 4 at a time, in {seconds:.2f} s."


@exercise("06.2", "micro-batching by hand", needs=("predict_batched", "service"))
def _06_2(ns: dict[str, Any]) -> str:
    import numpy as np

    from course_api.training import digits_split

    service = ns["service"]
    images = digits_split()[1][:50]
    calls: list[int] = []
    original = service.digit_probabilities

    def counting(batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        return original(batch)

    service.digit_probabilities = counting
    try:
        result = ns["predict_batched"](images, batch_size=16)
    finally:
        service.digit_probabilities = original
    if calls != [16, 16, 16, 2]:
        fail(f"The model was called with batches of {calls}; 50 images in batches of 16 should be [16, 16, 16, 2].")
    result = np.asarray(result)
    if result.shape != (50, 10):
        fail(f"predict_batched returned shape {result.shape}; expected (50, 10), one row per image, in order.")
    if not np.allclose(result, original(images), atol=1e-5):
        fail("Batched answers differ from unbatched ones: keep the images in order and concatenate the results.")
    return "4 forward passes instead of 50, and the same answers."


@exercise("06.3", "where the server saturates", needs=("saturation",))
def _06_3(ns: dict[str, Any]) -> str:
    measured = ns.get("measured") or {1: 105.0, 2: 190.0, 4: 330.0, 8: 345.0, 16: 350.0}
    expected = min(c for c, rps in sorted(measured.items()) if rps >= 0.9 * max(measured.values()))
    got = ns["saturation"](measured)
    if got != expected:
        fail(f"saturation(measured) returned {got!r}; the lowest concurrency that reaches 90% of the best "
             f"throughput is {expected}.")
    if ns["saturation"]({1: 100.0}) != 1:
        fail("With one measurement, that concurrency is the answer.")
    return f"past concurrency {expected}, more clients only add waiting time."
