"""Lesson 03, FastAPI: answers students write for the exercises of solutions/03_fastapi.ipynb."""

from __future__ import annotations

from corpus import changed, correct, mistake

RESET = """
app = FastAPI(title="My notes API")
client = TestClient(app)
"""

CASES = [
    # 03.1 a route with a path parameter
    mistake(
        "03.1",
        "returns the wrong greeting",
        """
@app.get("/hello/{name}")
def hello(name: str) -> dict:
    return {"message": f"Hi {name}"}
""",
        "expected {'message': 'Hello, Ada!'}",
    ),
    mistake(
        "03.1",
        "the path says {person} but the function takes name",
        """
@app.get("/hello/{person}")
def hello(name: str) -> dict:
    return {"message": f"Hello, {name}!"}
""",
        "422",
        "query parameter `name`",
        "the word in braces and the argument must be the same",
    ),
    mistake(
        "03.1",
        "a route defined twice under two names",
        """
@app.get("/hello/{name}")
def hello_old(name: str) -> dict:
    return {"message": "hello"}


@app.get("/hello/{name}")
def hello(name: str) -> dict:
    return {"message": f"Hello, {name}!"}
""",
        "defined twice",
        "first matching route",
    ),
    mistake(
        "03.1",
        "returns the greeting as a plain string",
        """
@app.get("/hello/{name}")
def hello(name: str) -> str:
    return f"Hello, {name}!"
""",
        "the string 'Hello, Ada!'",
        'the key "message"',
    ),
    mistake(
        "03.1",
        "the path has no curly braces",
        """
@app.get("/hello/name")
def hello(name: str) -> dict:
    return {"message": f"Hello, {name}!"}
""",
        "404",
        "GET /hello/name",
        "curly braces",
    ),
    mistake(
        "03.1",
        "@app.post instead of @app.get",
        """
@app.post("/hello/{name}")
def hello(name: str) -> dict:
    return {"message": f"Hello, {name}!"}
""",
        "405",
        "@app.get vs @app.post",
    ),
    mistake(
        "03.1",
        "the function is called greet",
        """
@app.get("/hello/{name}")
def greet(name: str) -> dict:
    return {"message": f"Hello, {name}!"}
""",
        "must define `hello`",
    ),
    correct(
        "03.1",
        "an async route with an f-string",
        """
@app.get("/hello/{name}")
async def hello(name: str):
    greeting = "Hello, " + name + "!"
    return {"message": greeting}
""",
    ),
    correct(
        "03.1",
        "a pydantic response model",
        """
class Greeting(BaseModel):
    message: str


@app.get("/hello/{name}", response_model=Greeting)
def hello(name: str) -> Greeting:
    return Greeting(message=f"Hello, {name}!")
""",
    ),
    # 03.2 a validated query parameter
    mistake(
        "03.2",
        "no limits on n",
        """
@app.get("/square")
def square(n: int) -> dict:
    return {"n": n, "square": n * n}
""",
        "n=-1",
        "got 200",
        "expected 422",
        "Annotated[int, Query(ge=0, le=1000)]",
    ),
    mistake(
        "03.2",
        "off by one: gt= and lt= instead of ge= and le=",
        """
@app.get("/square")
def square(n: Annotated[int, Query(gt=0, lt=1000)]) -> dict:
    return {"n": n, "square": n * n}
""",
        "n=0 got 422",
        "both ends",
        "not gt= and lt=",
    ),
    mistake(
        "03.2",
        "checks the limits inside the function and returns an error dict",
        """
@app.get("/square")
def square(n: int) -> dict:
    if n < 0 or n > 1000:
        return {"error": "n must be from 0 to 1000"}
    return {"n": n, "square": n * n}
""",
        "got 200",
        "your function ran",
        "before your function runs",
    ),
    mistake(
        "03.2",
        "raises HTTPException(400) for an n out of range",
        """
@app.get("/square")
def square(n: int) -> dict:
    if not 0 <= n <= 1000:
        raise HTTPException(status_code=400, detail="n must be from 0 to 1000")
    return {"n": n, "square": n * n}
""",
        "got 400",
        "expected 422",
        "Query(ge=0, le=1000)",
    ),
    mistake(
        "03.2",
        "n has a default value, so it is not required",
        """
@app.get("/square")
def square(n: Annotated[int, Query(ge=0, le=1000)] = 0) -> dict:
    return {"n": n, "square": n * n}
""",
        "without n got 200",
        "no default",
    ),
    mistake(
        "03.2",
        "n declared as a float",
        """
@app.get("/square")
def square(n: Annotated[float, Query(ge=0, le=1000)]) -> dict:
    return {"n": n, "square": n * n}
""",
        "12.0",
        "whole numbers",
        "as an int",
    ),
    mistake(
        "03.2",
        "n in the path instead of the query string",
        """
@app.get("/square/{n}")
def square(n: int) -> dict:
    return {"n": n, "square": n * n}
""",
        "404",
        "GET /square/{n}",
        "query string",
    ),
    mistake(
        "03.2",
        "the wrong key in the answer",
        """
@app.get("/square")
def square(n: Annotated[int, Query(ge=0, le=1000)]) -> dict:
    return {"n": n, "result": n * n}
""",
        "'result'",
        "expected {'n': 12, 'square': 144}",
    ),
    correct(
        "03.2",
        "the older form n: int = Query(ge=0, le=1000)",
        """
@app.get("/square")
def square(n: int = Query(ge=0, le=1000)) -> dict:
    return {"n": n, "square": n * n}
""",
    ),
    correct(
        "03.2",
        "async, with Query(..., description=...) and a power",
        """
@app.get("/square")
async def square(n: int = Query(..., ge=0, le=1000, description="a whole number from 0 to 1000")):
    return {"n": n, "square": n**2}
""",
    ),
    # 03.3 a request body and 201 Created
    mistake(
        "03.3",
        "no status_code=201: answers 200",
        """
class Note(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    body: str = ""


@app.post("/notes")
def create_note(note: Note) -> dict:
    note_id = len(notes) + 1
    notes[note_id] = {"id": note_id, **note.model_dump()}
    return notes[note_id]
""",
        "answered 200",
        "201 Created",
        "status_code=",
    ),
    mistake(
        "03.3",
        "Flask style: return note, 201",
        """
class Note(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    body: str = ""


@app.post("/notes")
def create_note(note: Note):
    note_id = len(notes) + 1
    notes[note_id] = {"id": note_id, **note.model_dump()}
    return notes[note_id], 201
""",
        "return ..., 201",
        "status_code=",
    ),
    mistake(
        "03.3",
        "no length limits on the title",
        """
class Note(BaseModel):
    title: str
    body: str = ""


@app.post("/notes", status_code=201)
def create_note(note: Note) -> dict:
    note_id = len(notes) + 1
    notes[note_id] = {"id": note_id, **note.model_dump()}
    return notes[note_id]
""",
        "An empty title got 201",
        "Field(min_length=1, max_length=100)",
    ),
    mistake(
        "03.3",
        "only min_length: a 101-character title passes",
        """
class Note(BaseModel):
    title: str = Field(min_length=1)
    body: str = ""


@app.post("/notes", status_code=201)
def create_note(note: Note) -> dict:
    note_id = len(notes) + 1
    notes[note_id] = {"id": note_id, **note.model_dump()}
    return notes[note_id]
""",
        "101 characters",
        "max_length=100",
    ),
    mistake(
        "03.3",
        "body has no default, so it is required",
        """
class Note(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    body: str


@app.post("/notes", status_code=status.HTTP_201_CREATED)
def create_note(note: Note) -> dict:
    note_id = len(notes) + 1
    notes[note_id] = {"id": note_id, **note.model_dump()}
    return notes[note_id]
""",
        "only a title",
        "got 422",
        "must be optional",
    ),
    mistake(
        "03.3",
        "every note gets id 1",
        """
class Note(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    body: str = ""


@app.post("/notes", status_code=status.HTTP_201_CREATED)
def create_note(note: Note) -> dict:
    notes[1] = {"id": 1, **note.model_dump()}
    return notes[1]
""",
        "same id",
    ),
    mistake(
        "03.3",
        "returns the note without its id",
        """
class Note(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    body: str = ""


@app.post("/notes", status_code=status.HTTP_201_CREATED)
def create_note(note: Note) -> Note:
    notes[len(notes) + 1] = note.model_dump()
    return note
""",
        "'id'",
    ),
    mistake(
        "03.3",
        "never stores the note in notes",
        """
class Note(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    body: str = ""


next_id = 0


@app.post("/notes", status_code=status.HTTP_201_CREATED)
def create_note(note: Note) -> dict:
    global next_id
    next_id += 1
    return {"id": next_id, **note.model_dump()}
""",
        "`notes` has no key",
        "03.4",
    ),
    mistake(
        "03.3",
        "the field is called text, not body",
        """
class Note(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    text: str = ""


@app.post("/notes", status_code=status.HTTP_201_CREATED)
def create_note(note: Note) -> dict:
    note_id = len(notes) + 1
    notes[note_id] = {"id": note_id, **note.model_dump()}
    return notes[note_id]
""",
        "'text'",
        "must be called `title` and `body`",
    ),
    mistake(
        "03.3",
        "title and body as separate arguments: read from the query string",
        """
class Note(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    body: str = ""


@app.post("/notes", status_code=status.HTTP_201_CREATED)
def create_note(title: str, body: str = "") -> dict:
    note_id = len(notes) + 1
    notes[note_id] = {"id": note_id, "title": title, "body": body}
    return notes[note_id]
""",
        "422",
        "`title` in the query string",
        "(note: Note)",
    ),
    correct(
        "03.3",
        "status_code=201, async and an id counter",
        """
from itertools import count

ids = count(1)


class Note(BaseModel):
    title: str = Field(..., min_length=1, max_length=100)
    body: str = Field(default="", max_length=10_000)


@app.post("/notes", status_code=201)
async def create_note(note: Note):
    note_id = next(ids)
    notes[note_id] = {"id": note_id, "title": note.title, "body": note.body}
    return notes[note_id]
""",
    ),
    correct(
        "03.3",
        "a response model with the id",
        """
class Note(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    body: str = ""


class StoredNote(Note):
    id: int


@app.post("/notes", response_model=StoredNote, status_code=status.HTTP_201_CREATED)
def create_note(note: Note) -> StoredNote:
    stored = StoredNote(id=max(notes, default=0) + 1, **note.model_dump())
    notes[stored.id] = stored.model_dump()
    return stored
""",
    ),
    # 03.4 the right status for a missing note
    mistake(
        "03.4",
        "reads notes[note_id] directly: a KeyError, so a 500",
        """
@app.get("/notes/{note_id}")
def read_note(note_id: int) -> dict:
    return notes[note_id]
""",
        "crashed with 500",
        "KeyError",
        "HTTPException(status_code=404",
    ),
    mistake(
        "03.4",
        "notes.get(note_id): a 200 with null",
        """
@app.get("/notes/{note_id}")
def read_note(note_id: int):
    return notes.get(note_id)
""",
        "answered 200 with None",
        "raise HTTPException(status_code=404",
    ),
    mistake(
        "03.4",
        "returns the HTTPException instead of raising it",
        """
@app.get("/notes/{note_id}")
def read_note(note_id: int):
    if note_id not in notes:
        return HTTPException(status_code=404, detail=f"Note {note_id} not found")
    return notes[note_id]
""",
        "returned* the HTTPException",
        "raise HTTPException",
    ),
    mistake(
        "03.4",
        "returns the HTTPException, with -> dict",
        """
@app.get("/notes/{note_id}")
def read_note(note_id: int) -> dict:
    if note_id not in notes:
        return HTTPException(status_code=404, detail=f"Note {note_id} not found")
    return notes[note_id]
""",
        "returned* the HTTPException",
        "raise HTTPException",
    ),
    mistake(
        "03.4",
        "answers 400 instead of 404",
        """
@app.get("/notes/{note_id}")
def read_note(note_id: int) -> dict:
    if note_id not in notes:
        raise HTTPException(status_code=400, detail=f"Note {note_id} not found")
    return notes[note_id]
""",
        "400 Bad Request",
        "404 Not Found",
    ),
    mistake(
        "03.4",
        "a detail that does not name the id",
        """
@app.get("/notes/{note_id}")
def read_note(note_id: int) -> dict:
    if note_id not in notes:
        raise HTTPException(status_code=404, detail="Not found")
    return notes[note_id]
""",
        "'Not found'",
        "say which note",
    ),
    mistake(
        "03.4",
        "note_id declared as str: the note just created is not found",
        """
@app.get("/notes/{note_id}")
def read_note(note_id: str) -> dict:
    if note_id not in notes:
        raise HTTPException(status_code=404, detail=f"Note {note_id} not found")
    return notes[note_id]
""",
        "404 for the note just created",
        "note_id: int",
    ),
    mistake(
        "03.4",
        "the path says /note/ (no s)",
        """
@app.get("/note/{note_id}")
def read_note(note_id: int) -> dict:
    if note_id not in notes:
        raise HTTPException(status_code=404, detail=f"Note {note_id} not found")
    return notes[note_id]
""",
        "no route",
        "GET /note/{note_id}",
        "notes, with an s",
    ),
    correct(
        "03.4",
        "try/except KeyError, async",
        """
@app.get("/notes/{note_id}")
async def read_note(note_id: int):
    try:
        return notes[note_id]
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Note {note_id} not found") from None
""",
    ),
    correct(
        "03.4",
        "notes.get and an Annotated path parameter",
        """
from fastapi import Path


@app.get("/notes/{note_id}")
def read_note(note_id: Annotated[int, Path(ge=1)]) -> dict:
    note = notes.get(note_id)
    if note is None:
        raise HTTPException(status_code=404, detail=f"There is no note with id {note_id}.")
    return note
""",
    ),
    # 03.5 testing a route with TestClient
    mistake(
        "03.5",
        "asserts only the status",
        """
def test_square(client: TestClient) -> None:
    assert client.get("/square", params={"n": 3}).status_code == 200
    assert client.get("/square", params={"n": -1}).status_code == 422
""",
        "passes on a broken /square that computes n + n",
        "exact JSON",
    ),
    mistake(
        "03.5",
        "tests with n = 2, where n + n is n * n",
        """
def test_square(client: TestClient) -> None:
    response = client.get("/square", params={"n": 2})
    assert response.json() == {"n": 2, "square": 4}
    assert client.get("/square", params={"n": -1}).status_code == 422
""",
        "computes n + n",
        "n = 2",
        "like 3",
    ),
    mistake(
        "03.5",
        "no test for a value out of range",
        """
def test_square(client: TestClient) -> None:
    response = client.get("/square", params={"n": 3})
    assert response.status_code == 200
    assert response.json() == {"n": 3, "square": 9}
""",
        "accepts n = -1",
        "422 for a value out of range",
    ),
    mistake(
        "03.5",
        "returns True or False instead of asserting",
        """
def test_square(client: TestClient) -> bool:
    response = client.get("/square", params={"n": 3})
    return response.json() == {"n": 3, "square": 9}
""",
        "returned False",
        "`assert`",
    ),
    mistake(
        "03.5",
        "uses the notebook's client, not its argument",
        """
def test_square(c: TestClient) -> None:
    response = client.get("/square", params={"n": 3})
    assert response.json() == {"n": 3, "square": 9}
    assert client.get("/square", params={"n": -1}).status_code == 422
""",
        "sent no request with the client it was given",
        "use its argument",
    ),
    mistake(
        "03.5",
        "takes no argument",
        """
def test_square() -> None:
    response = client.get("/square", params={"n": 3})
    assert response.json() == {"n": 3, "square": 9}
""",
        "one argument",
        "def test_square(client)",
    ),
    mistake(
        "03.5",
        "expects the wrong square",
        """
def test_square(client: TestClient) -> None:
    response = client.get("/square", params={"n": 3})
    assert response.json() == {"n": 3, "square": 6}
    assert client.get("/square", params={"n": -1}).status_code == 422
""",
        "fails on a correct /square",
        "AssertionError",
        '"square": 6',
    ),
    mistake(
        "03.5",
        "expects 400 for a value out of range",
        """
def test_square(client: TestClient) -> None:
    assert client.get("/square", params={"n": 3}).json() == {"n": 3, "square": 9}
    assert client.get("/square", params={"n": 1001}).status_code == 400
""",
        "fails on a correct /square",
        "status_code == 400",
        "gets 422",
    ),
    mistake(
        "03.5",
        "forgets the parentheses of .json()",
        """
def test_square(client: TestClient) -> None:
    response = client.get("/square", params={"n": 3})
    assert response.json["square"] == 9
""",
        "TypeError",
        "response.json()[...]",
    ),
    correct(
        "03.5",
        "a loop over several values, with the query string in the URL",
        """
def test_square(client):
    for n in (0, 3, 1000):
        response = client.get(f"/square?n={n}")
        assert response.status_code == 200, response.text
        assert response.json()["square"] == n * n
    for bad in ("-1", "1001", "abc"):
        assert client.get(f"/square?n={bad}").status_code == 422, bad
""",
    ),
    correct(
        "03.5",
        "a test that also names what it checks in its messages",
        """
def test_square(client: TestClient) -> None:
    answer = client.get("/square", params={"n": 7})
    assert answer.json() == {"n": 7, "square": 49}, f"7 squared: got {answer.json()}"
    too_big = client.get("/square", params={"n": 5000})
    assert too_big.status_code == 422, f"n=5000 should be refused, got {too_big.status_code}"
""",
    ),
]

ROUTER = """
notes_v2 = APIRouter(prefix="/v2/notes", tags=["notes v2"])


@notes_v2.get("/latest")
def read_latest_note() -> dict:
    if not notes:
        raise HTTPException(status_code=404, detail="There are no notes yet")
    return notes[max(notes)]


@notes_v2.get("/{note_id}")
def read_note_v2(note_id: int) -> dict:
    if note_id not in notes:
        raise HTTPException(status_code=404, detail=f"Note {note_id} not found")
    return notes[note_id]


app.include_router(notes_v2)
"""

CASES += [
    # 03.6 a response model
    mistake(
        "03.6",
        "returns the stored dicts with no response model",
        """
class NoteSummary(BaseModel):
    id: int
    title: str


@app.get("/notes")
def list_notes() -> list[dict]:
    return list(notes.values())
""",
        "no response model of NoteSummary",
        "list[NoteSummary]",
    ),
    mistake(
        "03.6",
        "NoteSummary keeps the body",
        """
class NoteSummary(BaseModel):
    id: int
    title: str
    body: str


@app.get("/notes")
def list_notes() -> list[NoteSummary]:
    return list(notes.values())
""",
        "body would go out too",
    ),
    mistake(
        "03.6",
        "response_model= one NoteSummary for a list",
        """
class NoteSummary(BaseModel):
    id: int
    title: str


@app.get("/notes", response_model=NoteSummary)
def list_notes():
    return list(notes.values())
""",
        "a list of notes",
        "list[NoteSummary]",
    ),
    mistake(
        "03.6",
        "the return annotation says one NoteSummary",
        """
class NoteSummary(BaseModel):
    id: int
    title: str


@app.get("/notes")
def list_notes() -> NoteSummary:
    return list(notes.values())
""",
        "list[NoteSummary]",
    ),
    mistake(
        "03.6",
        "returns the dict of notes, not a list",
        """
class NoteSummary(BaseModel):
    id: int
    title: str


@app.get("/notes")
def list_notes() -> list[NoteSummary]:
    return notes
""",
        "ResponseValidationError",
        "does not match the route's response model",
    ),
    mistake(
        "03.6",
        "the function without its route",
        """
class NoteSummary(BaseModel):
    id: int
    title: str


def list_notes() -> list[NoteSummary]:
    return list(notes.values())
""",
        'Add GET /notes: @app.get("/notes")',
    ),
    mistake(
        "03.6",
        "filters by hand, with no model at all",
        """
class NoteSummary(BaseModel):
    id: int
    title: str


@app.get("/notes")
def list_notes() -> list:
    return [{"id": note["id"], "title": note["title"]} for note in notes.values()]
""",
        "no response model of NoteSummary",
    ),
    mistake(
        "03.6",
        "lists the newest note first",
        """
class NoteSummary(BaseModel):
    id: int
    title: str


@app.get("/notes")
def list_notes() -> list[NoteSummary]:
    return sorted(notes.values(), key=lambda note: note["id"], reverse=True)
""",
        "oldest first",
    ),
    correct(
        "03.6",
        "response_model= in the decorator, notes sorted by id",
        """
class NoteSummary(BaseModel):
    id: int
    title: str


@app.get("/notes", response_model=list[NoteSummary])
def list_notes():
    return [notes[note_id] for note_id in sorted(notes)]
""",
    ),
    # 03.7 waiting without blocking
    mistake(
        "03.7",
        "time.sleep in an async def",
        """
@app.get("/slow-square")
async def slow_square(n: int) -> dict:
    time.sleep(0.2)
    return {"n": n, "square": n * n}
""",
        "async def that calls time.sleep",
        "blocks the event loop",
    ),
    mistake(
        "03.7",
        "asyncio.sleep without await",
        """
@app.get("/slow-square")
async def slow_square(n: int) -> dict:
    asyncio.sleep(0.2)
    return {"n": n, "square": n * n}
""",
        "without await",
    ),
    mistake(
        "03.7",
        "asyncio.sleep in a def function",
        """
@app.get("/slow-square")
def slow_square(n: int) -> dict:
    asyncio.sleep(0.2)
    return {"n": n, "square": n * n}
""",
        "use time.sleep(0.2)",
    ),
    mistake(
        "03.7",
        "does not wait at all",
        """
@app.get("/slow-square")
def slow_square(n: int) -> dict:
    return {"n": n, "square": n * n}
""",
        "should wait 0.2 s",
    ),
    mistake(
        "03.7",
        "n + n instead of n * n",
        """
@app.get("/slow-square")
def slow_square(n: int) -> dict:
    time.sleep(0.2)
    return {"n": n, "square": n + n}
""",
        '"square": 144',
    ),
    mistake(
        "03.7",
        "an async def that calls a blocking helper",
        """
def look_up_square(n):
    time.sleep(0.2)  # the slow database
    return n * n


@app.get("/slow-square")
async def slow_square(n: int) -> dict:
    return {"n": n, "square": look_up_square(n)}
""",
        "waited in line",
        "await every wait, or make it a def function",
    ),
    mistake(
        "03.7",
        "from time import sleep, in an async def",
        """
from time import sleep


@app.get("/slow-square")
async def slow_square(n: int) -> dict:
    sleep(0.2)
    return {"n": n, "square": n * n}
""",
        "blocks the event loop",
    ),
    mistake(
        "03.7",
        "n declared as a str",
        """
@app.get("/slow-square")
def slow_square(n: str) -> dict:
    time.sleep(0.2)
    return {"n": n, "square": n * n}
""",
        "TypeError",
        "can't multiply sequence",
    ),
    correct(
        "03.7",
        "a def function with time.sleep",
        """
@app.get("/slow-square")
def slow_square(n: int) -> dict:
    time.sleep(0.2)  # runs in a thread of its own: the others go on
    return {"n": n, "square": n * n}
""",
    ),
    # 03.8 a router, in the right order
    mistake(
        "03.8",
        "/{note_id} declared before /latest",
        """
notes_v2 = APIRouter(prefix="/v2/notes", tags=["notes v2"])


@notes_v2.get("/{note_id}")
def read_note_v2(note_id: int) -> dict:
    if note_id not in notes:
        raise HTTPException(status_code=404, detail=f"Note {note_id} not found")
    return notes[note_id]


@notes_v2.get("/latest")
def read_latest_note() -> dict:
    if not notes:
        raise HTTPException(status_code=404, detail="There are no notes yet")
    return notes[max(notes)]


app.include_router(notes_v2)
""",
        "declare /latest before /{note_id}",
    ),
    mistake(
        "03.8",
        "the router never included",
        changed(ROUTER, "\n\napp.include_router(notes_v2)\n", "\n"),
        "app.include_router(notes_v2)",
    ),
    mistake(
        "03.8",
        "the prefix written again in each path",
        changed(ROUTER, '@notes_v2.get("/latest")', '@notes_v2.get("/v2/notes/latest")').replace(
            '@notes_v2.get("/{note_id}")', '@notes_v2.get("/v2/notes/{note_id}")'
        ),
        "adds its prefix to each path",
    ),
    mistake(
        "03.8",
        "the routes declared on app, the router left empty",
        """
notes_v2 = APIRouter(prefix="/v2/notes", tags=["notes v2"])


@app.get("/v2/notes/latest")
def read_latest_note() -> dict:
    return notes[max(notes)]


@app.get("/v2/notes/{note_id}")
def read_note_v2(note_id: int) -> dict:
    return notes[note_id]


app.include_router(notes_v2)
""",
        "declare them on the router",
    ),
    mistake(
        "03.8",
        "latest gives the oldest note",
        changed(ROUTER, "return notes[max(notes)]", "return notes[min(notes)]"),
        "not the newest one",
    ),
    mistake(
        "03.8",
        "latest crashes when there are no notes",
        changed(
            ROUTER,
            '    if not notes:\n        raise HTTPException(status_code=404, detail="There are no notes yet")\n',
            "",
        ),
        "no notes yet crashed",
        "status_code=404",
    ),
    mistake(
        "03.8",
        "the prefix is only /v2",
        """
notes_v2 = APIRouter(prefix="/v2", tags=["notes v2"])


@notes_v2.get("/notes/latest")
def read_latest_note() -> dict:
    if not notes:
        raise HTTPException(status_code=404, detail="There are no notes yet")
    return notes[max(notes)]


@notes_v2.get("/notes/{note_id}")
def read_note_v2(note_id: int) -> dict:
    if note_id not in notes:
        raise HTTPException(status_code=404, detail=f"Note {note_id} not found")
    return notes[note_id]


app.include_router(notes_v2)
""",
        'make it "/v2/notes"',
    ),
    mistake(
        "03.8",
        "a missing note answers 200 with null",
        changed(
            ROUTER,
            """def read_note_v2(note_id: int) -> dict:
    if note_id not in notes:
        raise HTTPException(status_code=404, detail=f"Note {note_id} not found")
    return notes[note_id]""",
            """def read_note_v2(note_id: int) -> dict | None:
    return notes.get(note_id)""",
        ),
        "expected status 404, got 200",
    ),
    mistake(
        "03.8",
        "a router without tags",
        changed(ROUTER, 'APIRouter(prefix="/v2/notes", tags=["notes v2"])', 'APIRouter(prefix="/v2/notes")'),
        "tags",
    ),
    correct(
        "03.8",
        "latest from the last value, the router included before its routes",
        """
notes_v2 = APIRouter(prefix="/v2/notes", tags=["notes, version 2"])
app.include_router(notes_v2)  # FastAPI keeps the router itself: routes added after this count too


@notes_v2.get("/latest")
def read_latest_note():
    if len(notes) == 0:
        raise HTTPException(404, "No notes yet")
    return list(notes.values())[-1]


@notes_v2.get("/{note_id}")
def read_note_v2(note_id: int):
    note = notes.get(note_id)
    if note is None:
        raise HTTPException(status_code=404, detail=f"No note {note_id}")
    return note
""",
    ),
    # 03.9 your own API, in a file of its own (the code is the file's text; %%writefile my_api/main.py comes first)
    mistake(
        "03.9",
        "FastAPI misspelled",
        """
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPi(title="My model API")


class Health(BaseModel):
    status: str


@app.get("/health")
def health() -> Health:
    return Health(status="ok")
""",
        "NameError",
        "my_api/main.py, line 4",
    ),
    mistake(
        "03.9",
        "the application is called api",
        """
from fastapi import FastAPI
from pydantic import BaseModel

api = FastAPI(title="My model API")


class Health(BaseModel):
    status: str


@api.get("/health")
def health() -> Health:
    return Health(status="ok")
""",
        "has no `app`",
    ),
    mistake(
        "03.9",
        "BaseModel used without its import",
        """
from fastapi import FastAPI

app = FastAPI(title="My model API")


class Health(BaseModel):
    status: str


@app.get("/health")
def health() -> Health:
    return Health(status="ok")
""",
        "name 'BaseModel' is not defined",
        "only its own imports",
    ),
    mistake(
        "03.9",
        "the route is /healthz",
        """
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="My model API")


class Health(BaseModel):
    status: str


@app.get("/healthz")
def health() -> Health:
    return Health(status="ok")
""",
        "no such route",
        "/healthz",
    ),
    mistake(
        "03.9",
        "answers the plain text ok",
        """
from fastapi import FastAPI

app = FastAPI(title="My model API")


@app.get("/health")
def health() -> str:
    return "ok"
""",
        'it should answer {"status": "ok"}',
    ),
    mistake(
        "03.9",
        "the right JSON, without the response model",
        """
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="My model API")


class Health(BaseModel):
    status: str


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}
""",
        "without the response model Health",
    ),
    mistake(
        "03.9",
        "a colon missing after the def line",
        """
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="My model API")


class Health(BaseModel):
    status: str


@app.get("/health")
def health() -> Health
    return Health(status="ok")
""",
        "my_api/main.py, line 12",
        "Python cannot read the file",
    ),
    mistake(
        "03.9",
        "the stub left in the file",
        """
from fastapi import FastAPI

app = FastAPI(title="My model API")
# YOUR CODE HERE
raise NotImplementedError("write the health route")
""",
        "still holds the `raise NotImplementedError(...)` line",
    ),
    correct(
        "03.9",
        "response_model= and a default value",
        """
from fastapi import FastAPI
from pydantic import BaseModel


class Health(BaseModel):
    status: str = "ok"


app = FastAPI(title="Digits, served by me", version="0.1.0")


@app.get("/health", response_model=Health)
async def health():
    return {"status": "ok"}
""",
    ),
]
