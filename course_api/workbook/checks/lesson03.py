"""Checks for notebook 03, FastAPI: routes, validated parameters, request bodies, status codes, tests."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from course_api.workbook.checks.common import app_client, expect_status, json_body
from course_api.workbook.checks.errors import StudentCodeError, explain, student_line
from course_api.workbook.checks.registry import exercise, fail

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

SQUARE_LIMITS = "n: Annotated[int, Query(ge=0, le=1000)]"


def _routes(ns: dict[str, Any]) -> str:
    """The routes of the notebook's ``app``, as "GET /hello/{name}, POST /notes", for a message."""
    from fastapi.routing import APIRoute

    routes = [
        f"{'/'.join(sorted(route.methods or ()))} {route.path}"
        for route in ns["app"].router.routes
        if isinstance(route, APIRoute)
    ]
    return ", ".join(routes) or "none yet"


def _no_route(response: Any) -> bool:
    """Whether ``response`` is FastAPI's own 404 for a URL that no route matches."""
    if response.status_code != 404:
        return False
    try:
        return bool(response.json() == {"detail": "Not Found"})
    except ValueError:
        return False


def _fail_no_route(ns: dict[str, Any], request: str, advice: str) -> None:
    fail(
        f"{request} got 404 Not Found: no route of your app matches it. Your app's routes: {_routes(ns)}. "
        f"{advice} Run your cell again after fixing it."
    )


def _missing_query(response: Any) -> list[str]:
    """Names FastAPI read from the query string but did not find (its 422 says "Field required")."""
    if response.status_code != 422:
        return []
    try:
        errors = response.json().get("detail", [])
    except (ValueError, AttributeError):
        return []
    return [
        str(error["loc"][-1])
        for error in errors
        if isinstance(error, dict) and error.get("type") == "missing" and list(error.get("loc", []))[:1] == ["query"]
    ]


@exercise(
    "03.1",
    "a route with a path parameter",
    needs=("hello",),
    points=1,
    hints=(
        'Look at sections 1 and 3 of notebooks/03_fastapi.ipynb ("A first main.py", "Path and query '
        'parameters"): how `read_item` gets `item_id` out of the URL /items/5. Your route does the same with a '
        "name instead of a number.",
        "A part of the path written in curly braces is a path parameter: FastAPI passes that part of the URL to "
        "the function's argument with the same name. The decorator @app.get(...) just above the function "
        "registers it for GET requests, and the dict the function returns becomes the JSON body of the response.",
        'Put @app.get("/hello/{name}") above `def hello(name: str) -> dict:`, and return a dict with one key, '
        '"message", whose value is the f-string f"Hello, {name}!".',
    ),
)
def _03_1(ns: dict[str, Any]) -> str:
    client = app_client(ns)
    response = client.get("/hello/Ada")
    if _no_route(response):
        _fail_no_route(
            ns,
            "GET /hello/Ada",
            'The path must be "/hello/{name}", with the curly braces, and the decorator must be @app.get.',
        )
    missing = _missing_query(response)
    if missing:
        fail(
            f"GET /hello/Ada got 422: FastAPI wanted a query parameter `{missing[0]}` (?{missing[0]}=...). "
            "Your path has no {" + missing[0] + "}, so the argument is read from the query string. The word in "
            'braces and the argument must be the same: "/hello/{name}" with def hello(name: str).'
        )
    expect_status(response, 200, "GET /hello/Ada")
    body = json_body(response, "GET /hello/Ada")
    if isinstance(body, str):
        fail(
            f"GET /hello/Ada returned the string {body!r}; expected the dict {{'message': 'Hello, Ada!'}}: "
            'return a dict with the key "message".'
        )
    if body != {"message": "Hello, Ada!"}:
        fail(
            f"GET /hello/Ada returned {body!r}; expected {{'message': 'Hello, Ada!'}} "
            "(capital H, a comma, the name, an exclamation mark)."
        )
    return "GET /hello/Ada says hello."


def _square_basics(ns: dict[str, Any], client: TestClient) -> None:
    """GET /square?n=12 answers {"n": 12, "square": 144}, with whole numbers."""
    response = client.get("/square", params={"n": 12})
    if _no_route(response):
        _fail_no_route(
            ns,
            "GET /square?n=12",
            'n comes from the query string (?n=12), not from the path: the route\'s path is just "/square".',
        )
    expect_status(response, 200, "GET /square?n=12")
    body = json_body(response, "GET /square?n=12")
    if body != {"n": 12, "square": 144}:
        fail(f"GET /square?n=12 returned {body!r}; expected {{'n': 12, 'square': 144}}.")
    if not all(type(value) is int for value in body.values()):
        fail(
            f"GET /square?n=12 returned {response.text}: the numbers should be whole numbers (12, not 12.0). "
            f"Declare n as an int: {SQUARE_LIMITS}."
        )


@exercise(
    "03.2",
    "a validated query parameter",
    needs=("square",),
    points=1,
    hints=(
        'Read section 4 of notebooks/03_fastapi.ipynb ("Validation: 422 before your function runs"), the '
        'paragraph "More rules are one argument away": a limit on a parameter is declared in the function\'s '
        "signature, not tested with an if inside the function.",
        "n is not in the path, so it is a query parameter (?n=12). Query(ge=..., le=...) adds limits: ge is "
        '"greater than or equal", le is "less than or equal", so both ends are allowed. Annotated[type, Query(...)] '
        "puts the type and the limits together. Give n no default value: then it is required, and FastAPI answers "
        "422 when it is missing or out of range, before your function runs.",
        f'Under @app.get("/square") write `def square({SQUARE_LIMITS}) -> dict:` and return '
        '{"n": n, "square": n * n}. (The older form n: int = Query(ge=0, le=1000) works too.)',
    ),
)
def _03_2(ns: dict[str, Any]) -> str:
    client = app_client(ns)
    _square_basics(ns, client)
    for value in ("0", "1000"):
        got = client.get("/square", params={"n": value}).status_code
        if got != 200:
            fail(
                f"GET /square?n={value} got {got}, but {value} is allowed: 'from 0 to 1000' includes both ends. "
                f"Use ge= (greater or equal) and le= (less or equal), not gt= and lt=: {SQUARE_LIMITS}."
            )
    for value, why in (("-1", "below 0"), ("1001", "above 1000"), ("2.5", "not a whole number"), ("abc", "a word")):
        got = client.get("/square", params={"n": value}).status_code
        if got == 422:
            continue
        because = {
            200: "your function ran and answered it",
            400: "your own code refused it with 400",
        }.get(got, f"the response was {got}")
        kind = "as an int" if value in ("2.5", "abc") else "with its limits"
        fail(
            f"GET /square?n={value} (n {why}) got {got}; expected 422: {because}. Declare n {kind} in the "
            f"signature, so that FastAPI refuses bad values before your function runs: {SQUARE_LIMITS}."
        )
    got = client.get("/square").status_code
    if got != 422:
        fail(
            f"GET /square without n got {got}; expected 422: n is required, so write no default after it "
            f"(no `= ...`): {SQUARE_LIMITS}."
        )
    return "12 squared is 144, and bad values of n get a 422 before your code runs."


def _note_created(client: TestClient) -> dict[str, Any]:
    """POST /notes answers 201 with the note and an integer id; the body."""
    first = client.post("/notes", json={"title": "Buy milk", "body": "2 litres"})
    if first.status_code == 200:
        body = first.json()
        if isinstance(body, list) and body[-1:] == [201]:
            fail(
                f"POST /notes answered 200 with the list {body!r}: FastAPI does not read a status from "
                "`return ..., 201` (Flask does). Return only the note, and set the status in the decorator: "
                "@app.post(..., status_code=status.HTTP_201_CREATED)."
            )
        fail(
            "POST /notes answered 200; a POST that creates something answers 201 Created. Set it in the "
            "decorator: @app.post(..., status_code=status.HTTP_201_CREATED) (or status_code=201)."
        )
    if _missing_query(first):
        fail(
            f"POST /notes got 422: FastAPI looked for `{_missing_query(first)[0]}` in the query string (?...=). "
            "To read the JSON body, create_note takes one argument typed with your model: (note: Note)."
        )
    expect_status(first, 201, 'POST /notes with {"title": "Buy milk", "body": "2 litres"}')
    body = first.json()
    if not isinstance(body, dict):
        fail(f"POST /notes returned {body!r}; expected a dict like {{'id': 1, 'title': ..., 'body': ...}}.")
    note_id = body.get("id")
    if type(note_id) is not int:
        fail(f"POST /notes returned {body!r}; the body should include the new note's id, an int, as 'id'.")
    if body.get("title") != "Buy milk" or body.get("body") != "2 litres":
        fail(
            f"POST /notes returned {body!r}; expected title 'Buy milk' and body '2 litres', the ones that were "
            "sent. The fields of `Note` must be called `title` and `body`."
        )
    return body


def _notes_validated(client: TestClient) -> None:
    """Titles must have 1 to 100 characters and are required."""
    checks = (
        ({"title": ""}, "An empty title", "Field(min_length=1, max_length=100)"),
        ({"title": "x" * 101}, "A title of 101 characters", "Field(min_length=1, max_length=100)"),
        ({"body": "no title"}, "A note without a title", "no default value for `title`"),
    )
    for sent, what, fix in checks:
        got = client.post("/notes", json=sent).status_code
        if got != 422:
            fail(f"{what} got {got}; it should be refused with 422 before your function runs. Use {fix}.")


@exercise(
    "03.3",
    "a request body and 201 Created",
    needs=("Note", "create_note"),
    points=2,
    hints=(
        'Read section 7 of notebooks/03_fastapi.ipynb ("Request bodies and response models"): `UserIn` and '
        "`create_user` follow the same pattern, a pydantic model for the body and a POST route that stores it in "
        "a dict under a new id and answers 201.",
        "A class that inherits from BaseModel lists its fields with their types. A field with a default value is "
        "optional, one without is required, and Field(min_length=..., max_length=...) limits a text's length. "
        "Give the route's function one argument typed with your model: FastAPI reads the JSON body into it, or "
        "answers 422. status_code= in the decorator sets the status of a successful response.",
        'In Note: title: str = Field(min_length=1, max_length=100) and body: str = "". Then '
        '@app.post("/notes", status_code=status.HTTP_201_CREATED) above def create_note(note: Note) -> dict: '
        'note_id = len(notes) + 1, notes[note_id] = {"id": note_id, **note.model_dump()}, return notes[note_id].',
    ),
)
def _03_3(ns: dict[str, Any]) -> str:
    client = app_client(ns)
    body = _note_created(client)
    notes = ns.get("notes")
    if isinstance(notes, dict) and body["id"] not in notes:
        fail(
            f"POST /notes answered id {body['id']}, but the dict `notes` has no key {body['id']}: store each new "
            "note in `notes` under its id, so that GET /notes/{note_id} (exercise 03.4) can find it."
        )
    second = client.post("/notes", json={"title": "Call Bob"})
    if second.status_code != 201:
        fail(
            f'A note sent with only a title ({{"title": "Call Bob"}}) got {second.status_code}; expected 201: '
            '`body` must be optional. Give it the default value "" in `Note`.'
        )
    if second.json().get("id") == body["id"]:
        fail(f"Two notes got the same id, {body['id']}: give every new note a new id (for example len(notes) + 1).")
    if second.json().get("body") != "":
        fail(f"A note sent without a body came back as {second.json()!r}; its body should be '' (the default).")
    _notes_validated(client)
    return "new notes answer 201 with their id; bad notes get 422."


def _returned_exception(body: Any) -> bool:
    return isinstance(body, dict) and body.get("status_code") == 404 and "detail" in body


RETURNED_NOT_RAISED = (
    "GET /notes/999999 (a note that does not exist): your function *returned* the HTTPException, so FastAPI "
    "sent it as an ordinary response. An exception must be raised: write `raise HTTPException(status_code=404, "
    "detail=...)`, not `return HTTPException(...)`."
)


def _missing_note(client: TestClient) -> Any:
    """GET /notes/999999, with a clear message when the route crashes or returns its HTTPException."""
    from fastapi.exceptions import ResponseValidationError

    try:
        missing = client.get("/notes/999999")
    except StudentCodeError as exc:
        if isinstance(exc.error, KeyError):
            fail(f"GET /notes/999999 crashed with 500 Internal Server Error.\n{explain(exc.error, exc.during)}")
        if isinstance(exc.error, ResponseValidationError) and "HTTPException(" in str(exc.error):
            fail(RETURNED_NOT_RAISED)
        raise
    if missing.status_code == 200:
        body = missing.json()
        if _returned_exception(body):
            fail(RETURNED_NOT_RAISED)
        fail(
            f"GET /notes/999999 answered 200 with {body!r} for a note that does not exist. Stop the function "
            "with raise HTTPException(status_code=404, detail=...) when the id is not in `notes`."
        )
    if missing.status_code == 500:
        fail("GET /notes/999999 answered 500: a client's mistake must be a 4xx. Use status_code=404.")
    if missing.status_code == 400:
        fail(
            "GET /notes/999999 answered 400 Bad Request, which says the request itself is malformed. The request "
            "is fine; the note does not exist: that is 404 Not Found (status_code=404)."
        )
    expect_status(missing, 404, "GET /notes/999999")
    return missing


@exercise(
    "03.4",
    "the right status for a missing note",
    needs=("read_note",),
    points=1,
    hints=(
        'Read section 8 of notebooks/03_fastapi.ipynb ("HTTPException: the right status for a missing item"): '
        "`read_user` does for users what your route does for notes.",
        "Declare note_id as an int, so the URL's text becomes a number like the keys of `notes`. Before you read "
        "notes[note_id], test whether the id is there; if not, stop the function by raising an HTTPException "
        "with status 404 and a detail that names the id. raise, not return: a returned exception would go out "
        "as an ordinary 200 response.",
        'if note_id not in notes: raise HTTPException(status_code=404, detail=f"Note {note_id} not found"); '
        "otherwise return notes[note_id].",
    ),
)
def _03_4(ns: dict[str, Any]) -> str:
    client = app_client(ns)
    created = client.post("/notes", json={"title": "Exercise 03.4"})
    body = json_body(created, "POST /notes") if created.status_code == 201 else None
    note_id = body.get("id") if isinstance(body, dict) else None
    if note_id is None:
        fail(
            "This check first creates a note with your POST /notes from exercise 03.3, which answered "
            f'{created.status_code} {created.text[:200]}: run check("03.3") and fix exercise 03.3 first.'
        )
    found = client.get(f"/notes/{note_id}")
    if _no_route(found):
        _fail_no_route(ns, f"GET /notes/{note_id}", 'The path must be "/notes/{note_id}" (notes, with an s).')
    if found.status_code == 404:
        fail(
            f"GET /notes/{note_id} answered 404 for the note just created (id {note_id}). Is note_id declared as "
            f"an int? The URL gives the text '{note_id}', and the keys of `notes` are ints: note_id: int converts it."
        )
    expect_status(found, 200, f"GET /notes/{note_id}")
    if found.json().get("title") != "Exercise 03.4":
        fail(f"GET /notes/{note_id} returned {found.json()!r}; expected the note that was created.")
    missing = _missing_note(client)
    detail = missing.json().get("detail", "")
    if "999999" not in str(detail):
        fail(f"The 404 detail is {detail!r}; say which note was not found, e.g. 'Note 999999 not found'.")
    got = client.get("/notes/abc").status_code
    if got != 422:
        fail(f"GET /notes/abc got {got}; expected 422: declare note_id as an int (note_id: int).")
    return "200 for a note that exists, 404 with a helpful detail for one that does not."


def _square_app(kind: str) -> FastAPI:
    """A /square app: ``"right"`` as asked; ``"wrong-answer"`` computes n + n; ``"no-validation"`` takes any n."""
    from typing import Annotated

    from fastapi import FastAPI, Query

    def square(n: int) -> dict[str, int]:
        return {"n": n, "square": n + n if kind == "wrong-answer" else n * n}

    # The annotations are set here, not written in the signature: this module's `from __future__ import
    # annotations` would leave them as text that FastAPI cannot resolve (Annotated and Query are local names).
    limited = int if kind == "no-validation" else Annotated[int, Query(ge=0, le=1000)]
    square.__annotations__ = {"n": limited, "return": dict}
    app = FastAPI()
    app.get("/square")(square)
    return app


def _recording_client(app: FastAPI, sent: list[str]) -> TestClient:
    """A TestClient for ``app`` that appends the value of n of each request it sends to ``sent``."""
    from fastapi.testclient import TestClient

    class Recorder(TestClient):
        def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
            response = super().request(method, url, *args, **kwargs)
            sent.extend(parse_qs(urlsplit(str(response.request.url)).query).get("n", ["(none)"]))
            return response

    return Recorder(app)


def _only_same_sum(sent: list[str]) -> bool:
    """Whether every allowed n the test sent is 0 or 2, where n + n == n * n."""
    allowed = {int(v) for v in sent if v.lstrip("-").isdigit() and 0 <= int(v) <= 1000}
    return bool(allowed) and allowed <= {0, 2}


def _test_on_right_app(test_square: Any, sent: list[str]) -> None:
    """Run the student's test on a correct /square: it must pass, using the client it is given."""
    try:
        inspect.signature(test_square).bind(None)
    except (TypeError, ValueError):
        fail("test_square must take one argument, the client to test with: def test_square(client).")
    try:
        test_square(_recording_client(_square_app("right"), sent))
    except AssertionError as exc:
        where = student_line(exc.__traceback__)
        line = f" at line {where[0]}: {where[1]}" if where else ""
        fail(
            f"test_square fails on a correct /square (one like the worked answer of 03.2): AssertionError"
            f"{': ' + str(exc) if str(exc) else ''}{line}. Check what you assert: 3 squared is 9, and n = -1 or "
            "n = 1001 gets 422."
        )
    if not sent:
        fail(
            "test_square sent no request with the client it was given: use its argument (client.get(...)), not "
            "another client, so that the check can give it the app to test."
        )


@exercise(
    "03.5",
    "testing a route with TestClient",
    needs=("test_square",),
    points=3,
    hints=(
        'Read section 11 of notebooks/03_fastapi.ipynb ("Testing with TestClient"): `test_main` sends requests '
        "with `client` and checks each response with assert.",
        "A test passes when every assert holds and fails at the first one that does not; returning True or False "
        "changes nothing. Use the client your function receives. A good test catches wrong code: pick an n whose "
        "square differs from n + n (3, not 2), compare the whole JSON body, and ask for a value out of range.",
        'response = client.get("/square", params={"n": 3}); assert response.status_code == 200; '
        'assert response.json() == {"n": 3, "square": 9}; '
        'assert client.get("/square", params={"n": -1}).status_code == 422.',
    ),
)
def _03_5(ns: dict[str, Any]) -> str:
    test_square = ns["test_square"]
    sent: list[str] = []
    _test_on_right_app(test_square, sent)
    for kind, what in (("wrong-answer", "computes n + n"), ("no-validation", "accepts n = -1")):
        try:
            result = test_square(_recording_client(_square_app(kind), []))
        except Exception:  # an assert, or any other error: the test fails, so it caught the bug
            continue
        why = "Assert the exact JSON for one n (3 squared is 9), and a 422 for a value out of range."
        if result is not None:
            why = f"Your test returned {result!r} instead of failing: a test must `assert` what it expects."
        elif kind == "wrong-answer" and _only_same_sum(sent):
            why = "For n = 0 and n = 2, n + n and n * n give the same number: test an n where they differ, like 3."
        fail(f"test_square passes on a broken /square that {what}: a test should catch that. {why}")
    return "your test passes on a correct app and catches two broken ones."
