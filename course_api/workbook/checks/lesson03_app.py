"""Checks for notebook 03's growing app: a response model, waiting without blocking, a router in the right order."""

from __future__ import annotations

import inspect
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, get_args, get_origin

from course_api.workbook.checks.common import app_client, expect_status
from course_api.workbook.checks.errors import StudentCodeError, explain
from course_api.workbook.checks.registry import exercise, fail

if TYPE_CHECKING:
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient

SLOW_SECONDS = 0.2  # what /slow-square waits
AT_ONCE = 5  # requests the check sends to it together


def _route(ns: dict[str, Any], method: str, path: str) -> APIRoute | None:
    """The route of the notebook's ``app`` for ``method path`` (the last one declared, as app_client keeps it)."""
    from fastapi.routing import APIRoute

    found = None
    for route in ns["app"].router.routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            found = route
    return found


def _add_notes(client: TestClient, titles: tuple[str, ...]) -> list[dict[str, Any]]:
    """Create notes with POST /notes (exercise 03.3); fail, pointing there, when it does not work."""
    created = []
    for title in titles:
        answer = client.post("/notes", json={"title": title, "body": f"the body of {title}"})
        if answer.status_code != 201:
            fail(
                f"This check first creates notes with your POST /notes from exercise 03.3, which answered "
                f'{answer.status_code} {answer.text[:200]}: run check("03.3") and fix exercise 03.3 first.'
            )
        created.append(answer.json())
    return created


def _get(client: TestClient, path: str) -> Any:
    """GET ``path``; a crash in the student's route becomes the message that explains it."""
    try:
        return client.get(path)
    except StudentCodeError as exc:
        fail(explain(exc.error, exc.during) or f"{exc.during} raised {type(exc.error).__name__}: {exc.error}")


# ---------------------------------------------------------------------------------------------------- 03.6


def _model_of(annotation: Any) -> Any:
    """``NoteSummary`` for list[NoteSummary] (or List[...], Sequence[...]); None for anything else."""
    if get_origin(annotation) in (list, tuple) or str(get_origin(annotation)).endswith("Sequence'>"):
        args = get_args(annotation)
        return args[0] if args else None
    return None


@exercise(
    "03.6",
    "what goes out: a response model",
    needs=("NoteSummary", "list_notes"),
    points=1,
    hints=(
        "Read sections 7 and 8 of notebooks/03_fastapi.ipynb: `create_user` returns the whole record, password "
        "included, and its response model lets only the fields of UserOut out.",
        "NoteSummary is a BaseModel with only the fields that may go out: id and title. The route returns the "
        "stored dicts unchanged (body and all); the response model filters them. The response is a list of "
        "summaries, so the type to declare is list[NoteSummary], not NoteSummary.",
        'class NoteSummary(BaseModel) with id: int and title: str; then @app.get("/notes") on '
        "def list_notes() -> list[NoteSummary]: return list(notes.values()).",
    ),
)
def _03_6(ns: dict[str, Any]) -> str:
    from pydantic import BaseModel

    summary = ns["NoteSummary"]
    if not (isinstance(summary, type) and issubclass(summary, BaseModel)):
        fail("NoteSummary should be a pydantic model: class NoteSummary(BaseModel), with the fields id and title.")
    fields = set(summary.model_fields)
    if fields != {"id", "title"}:
        extra = sorted(fields - {"id", "title"})
        fail(
            f"NoteSummary has the fields {sorted(fields)}; it should have exactly id and title"
            + (f": {', '.join(extra)} would go out too, and the body must stay in." if extra else ".")
        )
    route = _route(ns, "GET", "/notes")
    if route is None:
        fail('Add GET /notes: @app.get("/notes") on list_notes, then run the cell again.')
    model = route.response_model
    if model is summary:
        fail(
            "GET /notes declares NoteSummary as its response model, but the response is a list of notes: declare "
            "list[NoteSummary] (-> list[NoteSummary], or response_model=list[NoteSummary])."
        )
    if _model_of(model) is not summary:
        fail(
            f"GET /notes has no response model of NoteSummary (it declares {getattr(model, '__name__', model)!r}). "
            "Declare the response's type: def list_notes() -> list[NoteSummary], or "
            '@app.get("/notes", response_model=list[NoteSummary]). FastAPI then filters each note.'
        )
    client = app_client(ns)
    created = _add_notes(client, ("Buy milk", "Call Ada"))
    answer = _get(client, "/notes")
    expect_status(answer, 200, "GET /notes")
    listed = answer.json()
    if not isinstance(listed, list):
        fail(f"GET /notes answered {listed!r}; it should be a list of notes: return list(notes.values()).")
    expected = [{"id": note["id"], "title": note["title"]} for note in created]
    missing = [note for note in expected if note not in listed]
    if missing:
        fail(f"GET /notes does not list the notes just created, {missing}; it answered {listed[-5:]!r}.")
    ids = [note.get("id") for note in listed]
    if ids != sorted(ids):
        fail(f"GET /notes lists the notes in the order {ids}; list them oldest first (by id).")
    return "GET /notes lists every note; its response model keeps the bodies in."


# ---------------------------------------------------------------------------------------------------- 03.7


def _blocking_call(function: Any) -> str:
    """The blocking call an ``async def`` route makes, from its source: "time.sleep(...)", or ""."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return ""
    found = re.search(r"(\btime\.sleep|\brequests\.(get|post)|(?<![\w.])sleep)\(", source)
    if found and not re.search(rf"await\s+{re.escape(found.group(0))}", source):
        return found.group(0) + "...)"
    return ""


def _timed_together(url: str) -> tuple[float, float]:
    """(seconds for one request alone, seconds for AT_ONCE requests sent together)."""
    import requests

    params = {"n": 7}
    started = time.perf_counter()
    requests.get(url, params=params, timeout=10)
    alone = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        list(pool.map(lambda _: requests.get(url, params=params, timeout=10), range(AT_ONCE)))
    return alone, time.perf_counter() - started


@exercise(
    "03.7",
    "waiting without blocking everyone",
    needs=("slow_square",),
    points=1,
    hints=(
        'Read section 10 of notebooks/03_fastapi.ipynb ("async def or def: never block the event loop"): of its '
        "three routes, two let other requests go on while they wait.",
        "time.sleep() blocks: in a def route that is fine (it runs in a thread of its own), in an async def route "
        "it stops the event loop and every request waits. In an async def route, wait with asyncio.sleep, and "
        "await it: without await, asyncio.sleep(0.2) only makes a coroutine and nothing waits.",
        '@app.get("/slow-square") on async def slow_square(n: int) -> dict: await asyncio.sleep(0.2); return '
        '{"n": n, "square": n * n}. (Or a def route with time.sleep(0.2).)',
    ),
)
def _03_7(ns: dict[str, Any]) -> str:
    from course_api.workbook.background import serve_in_background

    route = _route(ns, "GET", "/slow-square")
    if route is None:
        fail('Add GET /slow-square: @app.get("/slow-square") on slow_square, then run the cell again.')
    endpoint = route.endpoint
    is_async = inspect.iscoroutinefunction(endpoint)
    blocking = _blocking_call(endpoint) if is_async else ""
    if blocking.startswith(("time.sleep", "sleep")):
        fail(
            f"slow_square is an async def that calls {blocking}: that blocks the event loop, so every other request "
            "waits (notebook 03, section 10). Wait with await asyncio.sleep(0.2), or make it a def function."
        )
    client = app_client(ns)
    answer = _get(client, "/slow-square?n=12")
    expect_status(answer, 200, "GET /slow-square?n=12")
    if answer.json() != {"n": 12, "square": 144}:
        fail(f'GET /slow-square?n=12 answered {answer.json()!r}; expected {{"n": 12, "square": 144}}.')
    with serve_in_background(ns["app"], name="check 03.7") as server:
        alone, together = _timed_together(f"{server.url}/slow-square")
    if alone < SLOW_SECONDS * 0.9:
        if is_async:
            why = "Without await, asyncio.sleep(0.2) only makes a coroutine: write await asyncio.sleep(0.2)."
        else:
            why = "In a def function, asyncio.sleep(0.2) only makes a coroutine that nobody runs: use time.sleep(0.2)."
        fail(f"GET /slow-square answered in {alone:.2f} s: it should wait {SLOW_SECONDS} s first. {why}")
    if together > SLOW_SECONDS * AT_ONCE * 0.7:
        fail(
            f"{AT_ONCE} requests sent together took {together:.1f} s, about {AT_ONCE} times one request: they waited "
            "in line. Something in slow_square blocks"
            + (f" ({blocking}) " if blocking else " ")
            + "the event loop: in an async def route, await every wait, or make it a def function."
        )
    return (
        f"{AT_ONCE} requests at once took {together:.1f} s, not {AT_ONCE * SLOW_SECONDS:.0f} s: nobody waited in line."
    )


# ---------------------------------------------------------------------------------------------------- 03.8


def _router_checks(ns: dict[str, Any]) -> None:
    from fastapi import APIRouter
    from fastapi.routing import APIRoute

    router = ns["notes_v2"]
    if not isinstance(router, APIRouter):
        fail(f'notes_v2 should be an APIRouter: notes_v2 = APIRouter(prefix="/v2/notes", ...), not {router!r}.')
    if router.prefix != "/v2/notes":
        fail(f'notes_v2 has the prefix {router.prefix!r}: make it "/v2/notes" (prefix="/v2/notes").')
    own = [route.path for route in router.routes if isinstance(route, APIRoute)]
    if not own:
        fail(
            'notes_v2 has no routes: declare them on the router, @notes_v2.get("/latest"), not on app, so that '
            "the router's prefix applies."
        )
    doubled = [path for path in own if path.startswith("/v2/notes/v2/notes")]
    if doubled:
        fail(
            f"notes_v2 has the route {doubled[0]}: the router adds its prefix to each path, so write only the rest, "
            '@notes_v2.get("/latest") and @notes_v2.get("/{note_id}").'
        )
    try:
        probe = app_client(ns).get("/v2/notes/999999")
    except StudentCodeError:
        return  # the router is in app, and its route crashes: the checks below say why
    if probe.status_code == 404 and probe.text == '{"detail":"Not Found"}':
        fail(
            f"The router has the routes {own}, but app does not answer them (GET /v2/notes/999999 found no route): "
            "add the router to app with app.include_router(notes_v2), and run the cell again."
        )


def _no_notes_yet(ns: dict[str, Any], client: TestClient) -> None:
    """GET /v2/notes/latest while `notes` is empty (emptied for the request, then given back its notes): 404."""
    notes = ns.get("notes")
    if not isinstance(notes, dict):
        return
    kept = dict(notes)
    notes.clear()
    try:
        empty = client.get("/v2/notes/latest")
    except StudentCodeError as exc:
        fail(
            f"GET /v2/notes/latest with no notes yet crashed with {type(exc.error).__name__}: {exc.error}, and "
            "FastAPI answered 500. When `notes` is empty, raise HTTPException(status_code=404, detail=...) "
            "before you look for the newest note."
        )
    finally:
        notes.update(kept)
    if empty.status_code != 404:
        fail(
            f"GET /v2/notes/latest with no notes yet answered {empty.status_code}; expected 404: when `notes` is "
            "empty, raise HTTPException(status_code=404, detail=...) instead of reading a note that is not there."
        )


@exercise(
    "03.8",
    "a router, in the right order",
    needs=("notes_v2",),
    points=2,
    hints=(
        'Read section 12 of notebooks/03_fastapi.ipynb ("As the app grows: route order and routers"): the first '
        "matching route wins, and an APIRouter holds routes under a prefix.",
        "Declare the routes on the router, @notes_v2.get(...), each path without the prefix. /latest must come "
        "before /{note_id}: otherwise 'latest' is taken for a note id, which is not an int (422). Then add the "
        "router to app with app.include_router.",
        'notes_v2 = APIRouter(prefix="/v2/notes", tags=["notes v2"]); @notes_v2.get("/latest") first '
        'raises a 404 when `notes` is empty, then returns notes[max(notes)]; then @notes_v2.get("/{note_id}") as in '
        "03.4; then app.include_router(notes_v2).",
    ),
)
def _03_8(ns: dict[str, Any]) -> str:
    _router_checks(ns)
    client = app_client(ns)
    created = _add_notes(client, ("First", "Newest"))
    latest = _get(client, "/v2/notes/latest")
    if latest.status_code == 422:
        fail(
            "GET /v2/notes/latest answered 422: /{note_id} came first and took 'latest' for a note id, which is not "
            "an int. The first matching route wins: declare /latest before /{note_id}, then run the cell again."
        )
    expect_status(latest, 200, "GET /v2/notes/latest")
    if latest.json().get("id") != created[-1]["id"]:
        fail(
            f"GET /v2/notes/latest answered note {latest.json().get('id')}, not the newest one, "
            f"{created[-1]['id']}: the newest note has the highest id (notes[max(notes)])."
        )
    first = _get(client, f"/v2/notes/{created[0]['id']}")
    expect_status(first, 200, f"GET /v2/notes/{created[0]['id']}")
    if first.json().get("title") != "First":
        fail(f"GET /v2/notes/{created[0]['id']} answered {first.json()!r}; expected the note with that id.")
    missing = _get(client, "/v2/notes/999999")
    expect_status(missing, 404, "GET /v2/notes/999999 (a note that does not exist)")
    _no_notes_yet(ns, client)
    tags = {tag for route in ns["notes_v2"].routes for tag in getattr(route, "tags", [])}
    if not tags:
        fail('Give the router tags, APIRouter(prefix="/v2/notes", tags=["notes v2"]): /docs groups its routes.')
    return "/v2/notes/latest and /v2/notes/{note_id} both answer, in the right order, from one router."
