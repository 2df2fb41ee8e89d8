"""Fuzzing with schemathesis against the server's own OpenAPI schema: requests that fit the schema and
requests that break it, for every operation, in process (ASGI) and over loopback (a real uvicorn).

Every answer must conform to the schema (a documented status, its media type, headers and body schema),
no answer may be a 5xx except on ``GET /status/{code}`` (which answers any status on purpose), a request that
fits the schema must be accepted, and every 4xx/5xx body must be problem details.

Bounded: a fixed number of examples per operation and mode, derandomized (the same examples every run), no
example database; the whole module takes well under a minute on two cores.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from course_api.server.app import create_app
from course_api.server.settings import Settings

IN_PROCESS_EXAMPLES = 100
LOOPBACK_EXAMPLES = 25

# In process, /generate streams through the test transport one message per character: a small max_new_tokens keeps
# its 100 examples quick (over loopback, the default limit).
SETTINGS = Settings.from_env(environ={}, device="cpu").with_changes(max_new_tokens=16)
SPEC = create_app(SETTINGS).openapi()  # no models load here: only the lifespan loads them
OPERATIONS = [f"{method.upper()} {path}" for path, methods in SPEC["paths"].items() for method in methods]
# Negative examples need something to make invalid: parameters or a body.
TAKES_INPUT = [
    label
    for label in OPERATIONS
    if {"parameters", "requestBody"} & set(SPEC["paths"][label.split(" ", 1)[1]][label.split(" ", 1)[0].lower()])
]
CASES = [(label, "positive") for label in OPERATIONS] + [(label, "negative") for label in TAKES_INPUT]


def excluded_checks(path: str) -> list[Any]:
    """/status/{code} answers 4xx and 5xx on purpose; /predict/image's schema can say "a file" but not "a PNG
    of a digit", so a schema-valid upload may rightly get 413, 415 or 422 (each documented and checked)."""
    if path == "/status/{code}":
        return [not_a_server_error, positive_data_acceptance]
    if path == "/predict/image":
        return [positive_data_acceptance]
    return []


def check_problem_details(response: Any) -> None:
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type") or [""]  # schemathesis keeps every value of a header
    assert content_type == ["application/problem+json"], (content_type, response.text[:300])
    body = response.json()
    assert body["status"] == response.status_code, body
    assert body["title"], body
    assert body["type"], body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert "Traceback" not in response.text


def fuzz(schema: Any, label: str, mode: str, examples: int, **call: Any) -> None:
    method, path = label.split(" ", 1)
    excluded = excluded_checks(path)
    count = [0]

    @given(case=schema[path][method].as_strategy(generation_mode=GenerationMode(mode)))
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        count[0] += 1
        response = case.call_and_validate(excluded_checks=excluded, **call)
        check_problem_details(response)

    started = time.perf_counter()
    run()
    where = "over loopback" if call else "in process"
    print(f"{label} {mode} {where}: {count[0]} examples in {time.perf_counter() - started:.2f} s")


@pytest.fixture(scope="module")
def asgi_schema():
    from schemathesis.python import asgi

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(SETTINGS))
    yield schema
    asgi.shutdown_lifespans()  # stop the app schemathesis started (its models and inference thread)


@pytest.fixture(scope="module")
def loopback_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")


@pytest.mark.slow  # hypothesis: 100 examples for each operation and mode
@pytest.mark.parametrize(("label", "mode"), CASES)
def test_fuzz_in_process(asgi_schema, label, mode):
    fuzz(asgi_schema, label, mode, IN_PROCESS_EXAMPLES)


@pytest.mark.slow  # hypothesis: 25 examples for each operation and mode, over loopback
@pytest.mark.parametrize(("label", "mode"), CASES)
def test_fuzz_over_loopback(loopback_schema, live_server, label, mode):
    fuzz(loopback_schema, label, mode, LOOPBACK_EXAMPLES, base_url=live_server.url, timeout=30)


def test_every_operation_is_fuzzed():
    assert {
        "GET /",
        "GET /items/{item_id}",
        "GET /status/{code}",
        "GET /astros.json",
        "POST /predict/text",
        "POST /predict/image",
        "POST /predict/pixels",
        "GET /model",
        "POST /generate",
        "POST /generate/jsonl",
    } <= set(OPERATIONS)
    assert {
        "GET /items/{item_id}",
        "GET /status/{code}",
        "POST /predict/text",
        "POST /predict/image",
        "POST /predict/pixels",
        "POST /generate",
        "POST /generate/jsonl",
    } <= set(TAKES_INPUT)


def test_every_error_response_is_documented_as_problem_details():
    for label in OPERATIONS:
        method, path = label.split(" ", 1)
        for code, response in SPEC["paths"][path][method.lower()]["responses"].items():
            if code[0] in "45":
                assert set(response.get("content", {})) == {"application/problem+json"}, (label, code)
    schemas = SPEC["components"]["schemas"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(schemas["Problem"]["properties"])
    assert "errors" in schemas["ValidationProblem"]["required"]
