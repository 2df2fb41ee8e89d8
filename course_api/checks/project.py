"""Checks for the student's own project, ``my_api/``, which grows from worksheet 03 on: each starts the app as a
terminal would and judges it over HTTP, as a client would (:mod:`course_api.checks.student_app`)."""

from __future__ import annotations

from typing import Any

from course_api.checks.registry import exercise, fail
from course_api.checks.student_app import StudentApp, project_folder, running_app


def _json(answer: Any, request: str) -> Any:
    try:
        return answer.json()
    except ValueError:
        fail(f"{request} answered {answer.text[:200]!r}, which is not JSON: return a model or a dict.")


def _paths(app: StudentApp) -> dict[str, Any]:
    """The app's OpenAPI paths (what /docs shows)."""
    answer = app.get("/openapi.json")
    if answer.status_code != 200:
        fail(f"GET /openapi.json answered {answer.status_code}: keep FastAPI's documentation on (the default).")
    paths: dict[str, Any] = _json(answer, "GET /openapi.json").get("paths", {})
    return paths


def _response_schema(paths: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    """The JSON schema of a route's 200 answer, as /openapi.json describes it."""
    content = paths.get(path, {}).get(method, {}).get("responses", {}).get("200", {}).get("content", {})
    schema: dict[str, Any] = content.get("application/json", {}).get("schema", {})
    return schema


@exercise(
    "03.9",
    "your own API, in a file of its own",
    needs=(),
    files=("my_api/main.py",),
    points=2,
    hints=(
        'Read section 1 of notebooks/03_fastapi.ipynb ("A first main.py"): %%writefile writes a cell into a file. '
        "Your file is my_api/main.py, and it needs its own imports: a file does not see the notebook's.",
        "In the file: import FastAPI and BaseModel; app = FastAPI(title=...); class Health(BaseModel) with "
        "status: str; and a route for GET /health whose function returns a Health. Declare the answer's type with "
        "the return annotation (-> Health) or response_model=Health, as in sections 7 and 8.",
        '@app.get("/health") on def health() -> Health: return Health(status="ok"). The cell starts with the line '
        "%%writefile my_api/main.py, and nothing else may stand before it.",
    ),
)
def _03_9(ns: dict[str, Any]) -> str:
    folder = project_folder(ns)
    with running_app(folder) as app:
        answer = app.get("/health")
        paths = _paths(app)
        if answer.status_code == 404:
            fail(
                f"GET /health answered 404: your app has no such route. Its routes: {', '.join(paths) or 'none'}. "
                'Declare it with @app.get("/health").'
            )
        if answer.status_code != 200:
            fail(f"GET /health answered {answer.status_code}: {answer.text[:300]}")
        body = _json(answer, "GET /health")
        if body != {"status": "ok"}:
            fail(f'GET /health answered {body!r}; it should answer {{"status": "ok"}}.')
        schema = _response_schema(paths, "/health")
        if "Health" not in str(schema.get("$ref", "")):
            fail(
                "GET /health answers the right JSON, but without the response model Health: /docs cannot show "
                "what it answers. Declare it: def health() -> Health (or response_model=Health)."
            )
    return (
        f"{folder.name}/main.py started as its own server (uvicorn {folder.name}.main:app), and GET /health "
        "answered with your Health model."
    )
