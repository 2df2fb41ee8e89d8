"""One error format: every 4xx and 5xx answer is RFC 9457 problem details, documented in OpenAPI."""

from __future__ import annotations

import logging

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from course_api.server.app import create_app
from course_api.server.batching import BatcherClosed, QueueFull
from course_api.server.problems import MAX_ECHO, PROBLEM_MEDIA_TYPE, PROBLEM_TYPES, TYPE_PREFIX, field_error, type_uri


def assert_problem(response, status: int, kind: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["type"] == (type_uri(kind) if kind else "about:blank")
    assert body["title"] == (PROBLEM_TYPES[kind][1] if kind else body["title"])
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert len(body["detail"]) > 10
    assert body["instance"].startswith("/")
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    if status == 422:
        assert body["errors"]
        assert all({"loc", "field", "msg", "type"} <= set(e) for e in body["errors"])
    return body


@pytest.fixture(scope="module")
def broken_client(settings):
    """The course app plus routes that fail on purpose, the way a bug or an overload would."""
    app = create_app(settings)

    @app.get("/test/boom")
    async def boom():
        raise RuntimeError("secret internals: /home/teacher/.env")

    @app.get("/test/busy")
    async def busy():
        raise QueueFull("digits", 512, retry_after=2)

    @app.get("/test/closing")
    async def closing():
        raise BatcherClosed("The digits model is shutting down.")

    @app.get("/test/dict-detail")
    async def dict_detail():
        raise HTTPException(409, detail={"reason": "conflict", "id": 3})

    @app.get("/test/not-modified")
    async def not_modified():
        raise HTTPException(304)

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_validation_errors_name_each_field(client):
    body = assert_problem(client.get("/items/foo", params={"q": "x" * 300}), 422, "validation-error")
    fields = {e["field"]: e for e in body["errors"]}
    assert set(fields) == {"path.item_id", "query.q"}
    assert fields["path.item_id"]["loc"] == ["path", "item_id"]
    assert fields["path.item_id"]["input"] == "foo"
    assert fields["query.q"]["input"] == "x" * MAX_ECHO + "…"  # a short, safe echo
    assert body["detail"].startswith("Invalid request: ")
    assert "path.item_id" in body["detail"]


def test_route_errors_and_routing_errors(client):
    assert_problem(client.get("/nowhere"), 404)
    body = assert_problem(client.delete("/predict/text"), 405)
    assert "POST" in body["detail"]
    assert client.delete("/predict/text").headers["allow"] == "POST"  # the Allow header survives
    assert_problem(
        client.post("/predict/image", files={"file": ("a.txt", b"text", "text/plain")}), 415, "unsupported-image-type"
    )
    body = assert_problem(client.post("/predict/text", json={"text": " "}), 422, "validation-error")
    assert body["errors"] == [
        {"loc": ["body", "text"], "field": "body.text", "msg": body["detail"], "type": "text_blank"}
    ]


def test_status_route_errors_are_problems_with_the_echo_as_extensions(client):
    body = assert_problem(client.get("/status/418"), 418)
    assert body["title"] == "I'm a Teapot" or body["title"] == "I'm a teapot"
    assert body["phrase"] == body["title"]
    assert body["class"] == "4xx client error"
    assert body["status-code"] == 418
    response = client.get("/status/503")
    assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert client.get("/status/200").headers["content-type"] == "application/json"


def test_unexpected_errors_are_500_without_internals(broken_client, caplog):
    with caplog.at_level(logging.ERROR, logger="course_api.server"):
        response = broken_client.get("/test/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.text
    assert "RuntimeError" not in response.text
    assert "bug in the server" in body["detail"]
    assert any(record.exc_info and "secret internals" in str(record.exc_info[1]) for record in caplog.records)


def test_overload_and_shutdown_are_503_with_retry_after(broken_client):
    response = broken_client.get("/test/busy")
    body = assert_problem(response, 503, "server-busy")
    assert response.headers["retry-after"] == "2"
    assert "busy" in body["detail"]
    response = broken_client.get("/test/closing")
    assert_problem(response, 503, "shutting-down")
    assert response.headers["retry-after"] == "5"


def test_other_http_exceptions(broken_client):
    body = assert_problem(broken_client.get("/test/dict-detail"), 409)
    assert '"reason": "conflict"' in body["detail"]  # a non-string detail becomes its JSON text
    response = broken_client.get("/test/not-modified")
    assert response.status_code == 304
    assert response.content == b""


def test_strings_a_client_sent_cannot_break_the_error_answer(client):
    # A file name that is not UTF-8, one with an emoji, and a 10,000-character one.
    for name in (b"bad\xff\xfe\xed\xa0\x80.txt", "😀.txt".encode(), b"n" * 10_000 + b".txt"):
        body = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
            b"Content-Type: text/plain\r\n\r\nnot an image\r\n--b--\r\n"
        )
        response = client.post(
            "/predict/image", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert response.status_code in (400, 415)
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert len(response.content) < 2000
        response.json()  # valid JSON, valid UTF-8


def test_echo_is_short_and_safe():
    assert field_error(["body", "x"], "m", "t", float("nan"))["input"] == "nan"
    assert field_error(["body", "x"], "m", "t", 10**200).get("input") is None  # a 200-digit number is not echoed
    assert "input" not in field_error(["body", "x"], "m", "t", [1, 2, 3])
    assert "input" not in field_error(["body", "x"], "m", "t")
    assert field_error(["body", "x"], "m", "t", b"\xff\xfeabc")["input"] == "\ufffd\ufffdabc"


def test_a_batch_of_garbage_is_summarised_not_listed(client):
    response = client.post("/predict/pixels", json={"images": [[["x"] * 8] * 8] * 100})
    body = assert_problem(response, 422, "validation-error")
    assert len(body["errors"]) == 1
    assert body["errors"][0]["type"] == "too_many_errors"
    assert "6400 invalid values" in body["detail"]
    assert "images.0.0.0" in body["detail"]
    assert len(response.content) < 2000


def test_problem_types_are_names_not_links():
    for kind in PROBLEM_TYPES:
        uri = type_uri(kind)
        assert uri.startswith(TYPE_PREFIX)
        assert uri.startswith("tag:")
        assert "http" not in uri
    with pytest.raises(KeyError):
        type_uri("no-such-problem")


def test_openapi_documents_the_errors_of_every_route(client):
    spec = client.get("/openapi.json").json()
    operations = {(m.upper(), p): op for p, ops in spec["paths"].items() for m, op in ops.items()}
    for (method, path), operation in operations.items():
        for code, response in operation["responses"].items():
            if code[0] in "45":
                assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], (method, path, code)
                schema = response["content"][PROBLEM_MEDIA_TYPE]["schema"]["$ref"]
                expected = "ValidationProblem" if code == "422" else "Problem"
                assert schema.endswith("/" + expected), (method, path, code, schema)
        if method == "POST":
            assert {"400", "413", "422", "503"} <= set(operation["responses"]), path
            assert operation["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    assert {"413", "415"} <= set(operations[("POST", "/predict/image")]["responses"])
    assert {"4XX", "5XX"} <= set(operations[("GET", "/status/{code}")]["responses"])
    assert "422" in operations[("GET", "/items/{item_id}")]["responses"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's default 422 is replaced
