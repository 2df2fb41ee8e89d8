"""Checks for notebook 03, FastAPI: routes, validated parameters, request bodies, status codes, tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from course_api.checks.common import app_client, expect_status
from course_api.checks.registry import exercise, fail

if TYPE_CHECKING:
    from fastapi import FastAPI


@exercise("03.1", "a route with a path parameter", needs=("hello",))
def _03_1(ns: dict[str, Any]) -> str:
    client = app_client(ns)
    response = client.get("/hello/Ada")
    expect_status(response, 200, "GET /hello/Ada")
    if response.json() != {"message": "Hello, Ada!"}:
        fail(f"GET /hello/Ada returned {response.json()!r}; expected {{'message': 'Hello, Ada!'}}.")
    return "GET /hello/Ada says hello."


@exercise("03.2", "a validated query parameter", needs=("square",))
def _03_2(ns: dict[str, Any]) -> str:
    client = app_client(ns)
    response = client.get("/square", params={"n": 12})
    expect_status(response, 200, "GET /square?n=12")
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
    client = app_client(ns)
    first = client.post("/notes", json={"title": "Buy milk", "body": "2 litres"})
    expect_status(first, 201, "POST /notes")
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
    client = app_client(ns)
    created = client.post("/notes", json={"title": "Exercise 03.4"})
    expect_status(created, 201, "POST /notes (from exercise 03.3)")
    note_id = created.json()["id"]
    found = client.get(f"/notes/{note_id}")
    expect_status(found, 200, f"GET /notes/{note_id}")
    if found.json().get("title") != "Exercise 03.4":
        fail(f"GET /notes/{note_id} returned {found.json()!r}; expected the note that was created.")
    missing = client.get("/notes/999999")
    if missing.status_code == 200:
        fail("GET /notes/999999 answered 200 for a note that does not exist: raise HTTPException(404, ...).")
    if missing.status_code == 500:
        fail(
            "GET /notes/999999 crashed with 500 (a KeyError?): a client's mistake must be a 4xx. "
            "Raise HTTPException(status_code=404, detail=...) instead."
        )
    expect_status(missing, 404, "GET /notes/999999")
    if "999999" not in str(missing.json().get("detail", "")):
        fail(
            f"The 404 detail is {missing.json().get('detail')!r}; "
            "say which note was not found, e.g. 'Note 999999 not found'."
        )
    if client.get("/notes/abc").status_code != 422:
        fail("GET /notes/abc should be 422: declare note_id as an int.")
    return "200 for a note that exists, 404 with a helpful detail for one that does not."


def _broken_square_app(kind: str) -> FastAPI:
    """An app whose /square is wrong: ``"wrong-answer"`` computes n + n; otherwise it accepts any n."""
    from fastapi import FastAPI

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


@exercise("03.5", "testing a route with TestClient", needs=("test_square",))
def _03_5(ns: dict[str, Any]) -> str:
    from fastapi.testclient import TestClient

    test_square = ns["test_square"]
    try:
        test_square(app_client(ns))
    except AssertionError as exc:
        fail(f"test_square fails on your own (correct) app: {exc or 'an assert failed'}. Check what you assert.")
    for kind, what in (("wrong-answer", "computes n + n"), ("no-validation", "accepts n = -1")):
        try:
            test_square(TestClient(_broken_square_app(kind)))
        except AssertionError:
            continue
        fail(
            f"test_square passes on a broken /square that {what}: a test should catch that. "
            "Assert the exact JSON for one n, and a 422 for a value out of range."
        )
    return "your test passes on a good app and catches two broken ones."
