"""POST /generate (server-sent events) and /generate/jsonl (JSON Lines): the stream, its limits (4xx before it
starts), and a client that goes away: the generation stops with it."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import torch
from fastapi.testclient import TestClient

from course_api.server.app import create_app
from course_api.server.models.generator import generate
from helpers import wait_until

PROMPT = "The dataset "


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, parsed data) of each event of a text/event-stream body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = [line.partition(": ") for line in block.split("\n") if line and not line.startswith(":")]
        if fields:
            names = [value for key, _, value in fields if key == "event"]
            data = "\n".join(value for key, _, value in fields if key == "data")
            events.append((names[0] if names else "message", json.loads(data)))
    return events


def jsonl_items(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


def problem_of(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json", response.text[:300]
    return response.json()


def test_generate_streams_server_sent_events(client):
    response = client.post("/generate", json={"prompt": PROMPT, "max_tokens": 30})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names == ["token"] * 30 + ["done"]
    tokens = [data for _, data in events[:-1]]
    assert [t["index"] for t in tokens] == list(range(30))
    assert all(t["type"] == "token" and len(t["text"]) == 1 for t in tokens)
    done = events[-1][1]
    assert done["type"] == "done"
    assert done["text"] == "".join(t["text"] for t in tokens)
    assert (done["tokens"], done["prompt_tokens"], done["finish_reason"]) == (30, len(PROMPT), "length")
    assert done["device"] == "cpu"


def test_generate_jsonl_streams_the_same_items(client):
    request = {"prompt": PROMPT, "max_tokens": 25, "seed": 7}
    lines = client.post("/generate/jsonl", json=request)
    assert lines.status_code == 200, lines.text
    assert lines.headers["content-type"] == "application/jsonl"
    items = jsonl_items(lines.text)
    events = sse_events(client.post("/generate", json=request).text)
    assert items == [data for _, data in events]
    assert [item["type"] for item in items] == ["token"] * 25 + ["done"]


def test_the_stream_is_the_models_text_and_a_seed_repeats_it(client, models):
    """What the route streams is what the model writes in one go, for a temperature and seed."""
    for temperature, seed in ((0.0, 0), (0.8, 0), (1.2, 3)):
        body = {"prompt": PROMPT, "max_tokens": 40, "temperature": temperature, "seed": seed}
        done = jsonl_items(client.post("/generate/jsonl", json=body).text)[-1]
        expected = generate(
            models.generator, PROMPT, 40, temperature=temperature, seed=seed, device=torch.device("cpu")
        )
        assert done["text"] == expected, body
    texts = set()
    for seed in range(4):
        texts.add(jsonl_items(client.post("/generate/jsonl", json={"prompt": PROMPT, "seed": seed}).text)[-1]["text"])
    assert len(texts) > 1, "different seeds should draw different texts"


def test_max_tokens_defaults_to_100(client):
    done = jsonl_items(client.post("/generate/jsonl", json={"prompt": PROMPT}).text)[-1]
    assert done["tokens"] == 100


@pytest.mark.parametrize("path", ["/generate", "/generate/jsonl"])
@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"max_tokens": 5}, "body.prompt", "Field required"),
        ({"prompt": ""}, "body.prompt", "at least 1 character"),
        ({"prompt": "x" * 1001}, "body.prompt", "limit is 1000"),
        ({"prompt": PROMPT, "max_tokens": 0}, "body.max_tokens", "greater than or equal to 1"),
        ({"prompt": PROMPT, "max_tokens": -3}, "body.max_tokens", "greater than or equal to 1"),
        ({"prompt": PROMPT, "max_tokens": 501}, "body.max_tokens", "at most 500"),
        ({"prompt": PROMPT, "max_tokens": "5"}, "body.max_tokens", "valid integer"),
        ({"prompt": PROMPT, "max_tokens": True}, "body.max_tokens", "valid integer"),
        ({"prompt": PROMPT, "temperature": 2.5}, "body.temperature", "less than or equal to 2"),
        ({"prompt": PROMPT, "seed": -1}, "body.seed", "greater than or equal to 0"),
        ({"prompt": 42}, "body.prompt", "valid string"),
    ],
)
def test_mistakes_are_problem_details_before_the_stream(client, path, body, field, words):
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    problem = problem_of(response)
    assert problem["type"].endswith("/validation-error")
    assert problem["instance"] == path
    assert [e["field"] for e in problem["errors"]] == [field]
    assert words in problem["detail"], problem["detail"]


@pytest.mark.parametrize("path", ["/generate", "/generate/jsonl"])
def test_a_body_that_is_not_json_is_a_422(client, path):
    problem = problem_of(client.post(path, content=b'{"prompt": ', headers={"content-type": "application/json"}))
    assert problem["status"] == 422
    assert "not valid JSON" in problem["detail"]
    problem = problem_of(client.post(path, data={"prompt": "a form"}))
    assert problem["status"] == 422
    assert "application/json" in problem["detail"]


@pytest.fixture(scope="module")
def small(settings) -> Iterator[TestClient]:
    """The course app with small generation limits."""
    app = create_app(settings.with_changes(max_prompt_chars=10, max_new_tokens=20, max_json_bytes=200))
    with TestClient(app) as client:
        yield client


def test_limits_are_settings_and_in_the_schema(small):
    assert small.post("/generate", json={"prompt": "x" * 11}).json()["detail"].endswith("limit is 10: send less.")
    assert "at most 20" in small.post("/generate", json={"prompt": "x", "max_tokens": 21}).json()["detail"]
    done = jsonl_items(small.post("/generate/jsonl", json={"prompt": "x"}).text)[-1]
    assert done["tokens"] == 20  # the default, 100, is over this server's limit
    response = small.post("/generate", json={"prompt": "x" * 300})
    assert response.status_code == 413
    assert problem_of(response)["type"].endswith("/body-too-large")
    schema = small.get("/openapi.json").json()["components"]["schemas"]["GenerateIn"]["properties"]
    assert (schema["prompt"]["maxLength"], schema["max_tokens"]["maximum"]) == (10, 20)


def test_the_schema_documents_both_streams(test_client):
    paths = test_client.get("/openapi.json").json()["paths"]
    sse = paths["/generate"]["post"]["responses"]
    jsonl = paths["/generate/jsonl"]["post"]["responses"]
    assert set(sse["200"]["content"]) == {"text/event-stream"}
    assert set(jsonl["200"]["content"]) == {"application/jsonl"}
    assert sse["200"]["content"]["text/event-stream"]["itemSchema"]["properties"]["event"]["enum"] == ["token", "done"]
    for responses in (sse, jsonl):
        assert {"400", "413", "422", "503"} <= set(responses)
        assert "longer than 1000 characters" in responses["422"]["description"]  # this server's limits, filled in
        assert "above 500" in responses["422"]["description"]


# -------------------------------------------------------------------------- a client that goes away
def generation_stats(base_url: str) -> dict[str, int]:
    import httpx2

    return httpx2.get(base_url + "/model", timeout=10).json()["generation"]


def read_a_few_items(url: str, path: str, count: int) -> None:
    """Start a long stream over a real connection, read ``count`` items, then close the connection."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=10)
    try:
        body = json.dumps({"prompt": PROMPT, "max_tokens": 1_000_000})
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200
        seen = 0
        while seen < count:
            line = response.readline()
            assert line, "the stream ended early"
            seen += line.startswith((b"data:", b"{"))
    finally:
        connection.close()


@pytest.fixture(scope="module")
def long_streams(settings):
    from course_api.workbook.background import serve_in_background

    with serve_in_background(settings=settings.with_changes(max_new_tokens=1_000_000), name="pytest-gen") as server:
        yield server


@pytest.mark.parametrize("path", ["/generate", "/generate/jsonl"])
def test_generation_stops_when_the_client_goes_away(long_streams, path):
    before = generation_stats(long_streams.url)
    read_a_few_items(long_streams.url, path, 5)
    assert wait_until(lambda: generation_stats(long_streams.url)["streams"] == 0, timeout=10), "the stream goes on"
    settled = generation_stats(long_streams.url)
    time.sleep(0.5)
    after = generation_stats(long_streams.url)
    assert after["tokens"] == settled["tokens"], "characters were still written after the client left"
    assert 5 <= after["tokens"] - before["tokens"] < 100_000
    assert after["stopped"] == before["stopped"] + 1
    assert after["completed"] == before["completed"]


def test_streaming_does_not_hold_up_other_requests(long_streams):
    """While a long stream is read, the event loop still answers other requests at once."""
    import threading

    import httpx2

    stop = threading.Event()

    def read_until_told() -> None:
        with httpx2.Client(base_url=long_streams.url, timeout=10) as reader:
            body = {"prompt": PROMPT, "max_tokens": 1_000_000}
            with reader.stream("POST", "/generate/jsonl", json=body) as response:
                for _ in response.iter_lines():
                    if stop.is_set():
                        break

    thread = threading.Thread(target=read_until_told)
    thread.start()
    try:
        assert wait_until(lambda: generation_stats(long_streams.url)["streams"] == 1, timeout=10)
        slowest = 0.0
        for _ in range(10):
            start = time.perf_counter()
            assert httpx2.get(long_streams.url + "/", timeout=10).status_code == 200
            slowest = max(slowest, time.perf_counter() - start)
        assert slowest < 0.5
    finally:
        stop.set()
        thread.join(timeout=10)
    assert wait_until(lambda: generation_stats(long_streams.url)["streams"] == 0, timeout=10)
