"""API keys on the generation routes (course_api.server.keys): open when none are configured; with keys, a
missing key is a 401 with WWW-Authenticate, another key a 403, both problem details before the stream starts;
a key is never in an answer or in the log; every other route stays open."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from course_api.server.app import create_app
from course_api.server.keys import key_matches
from course_api.server.settings import Settings, SettingsError

KEYS = ("first-key-0f3a9c", "second-key-77d1e2")
WRONG = "wrong-key-5b8e41"
BODY = {"prompt": "The dataset ", "max_tokens": 5}
PATHS = ("/generate", "/generate/jsonl")


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    """The course app with two API keys configured."""
    with TestClient(create_app(Settings.from_env(environ={}, device="cpu", api_keys=list(KEYS)))) as client:
        yield client


def assert_no_key_in(text: str) -> None:
    for key in (*KEYS, WRONG):
        assert key not in text


@pytest.mark.parametrize("path", PATHS)
def test_without_keys_configured_the_routes_are_open(test_client, path):
    assert test_client.app.state.settings.api_keys == ()
    assert test_client.post(path, json=BODY).status_code == 200
    assert test_client.post(path, json=BODY, headers={"X-API-Key": WRONG}).status_code == 200


@pytest.mark.parametrize("path", PATHS)
def test_a_missing_key_is_a_401_with_www_authenticate(keyed, path):
    for headers in ({}, {"X-API-Key": ""}):
        response = keyed.post(path, json=BODY, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == 'APIKey header="X-API-Key"'
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith("/api-key-missing")
        assert (problem["status"], problem["instance"]) == (401, path)
        assert "X-API-Key" in problem["detail"]


@pytest.mark.parametrize("path", PATHS)
def test_a_wrong_key_is_a_403_that_echoes_nothing(keyed, path, caplog):
    caplog.set_level(logging.DEBUG)
    for wrong in (WRONG, KEYS[0][:-1], KEYS[0] + "x", KEYS[0].upper(), "é-not-ascii"):
        response = keyed.post(path, json=BODY, headers={"X-API-Key": wrong.encode()})
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "www-authenticate" not in response.headers
        assert response.json()["type"].endswith("/api-key-refused")
        assert_no_key_in(response.text)
        assert_no_key_in(json.dumps(dict(response.headers)))
    assert_no_key_in(caplog.text)


@pytest.mark.parametrize("path", PATHS)
def test_a_right_key_gets_the_stream(keyed, path, caplog):
    caplog.set_level(logging.DEBUG)
    for key in KEYS:
        response = keyed.post(path, json=BODY, headers={"X-API-Key": key})
        assert response.status_code == 200, response.text
        assert response.text.count('"token"') == 5
        assert_no_key_in(response.text)
    assert_no_key_in(caplog.text)


def test_the_key_is_checked_before_the_body(keyed):
    """A request without a key learns nothing about its body: 401, not 422."""
    assert keyed.post("/generate", json={"prompt": ""}).status_code == 401
    assert keyed.post("/generate", json={"prompt": ""}, headers={"X-API-Key": KEYS[1]}).status_code == 422


def test_other_routes_stay_open_with_keys_configured(keyed):
    assert keyed.get("/").status_code == 200
    assert keyed.get("/model").status_code == 200
    assert keyed.get("/items/5").status_code == 200
    assert keyed.post("/predict/text", json={"text": "I love this course"}).status_code == 200
    assert keyed.post("/predict/pixels", json={"images": [[[0] * 8] * 8]}).status_code == 200
    assert keyed.get("/openapi.json").status_code == 200


def test_the_schema_documents_the_key(keyed):
    spec = keyed.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["APIKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert ("security" in operation) == (path in PATHS), path
    for path in PATHS:
        operation = spec["paths"][path]["post"]
        assert operation["security"] == [{"APIKey": []}]
        responses = operation["responses"]
        assert set(responses["401"]["content"]) == set(responses["403"]["content"]) == {"application/problem+json"}
        assert "WWW-Authenticate" in responses["401"]["headers"]
    assert_no_key_in(json.dumps(spec))


def test_without_keys_configured_the_schema_makes_the_key_optional(test_client):
    """An empty security requirement ({}) says "no key needed": what a server without keys does (fuzzers agree)."""
    spec = test_client.get("/openapi.json").json()
    assert "APIKey" in spec["components"]["securitySchemes"]
    for path in PATHS:
        assert spec["paths"][path]["post"]["security"] == [{"APIKey": []}, {}]


def test_keys_come_from_a_comma_separated_variable_and_are_never_shown():
    settings = Settings.from_env(environ={"COURSE_API_API_KEYS": f" {KEYS[0]}, {KEYS[1]} ,"}, device="cpu")
    assert [key.get_secret_value() for key in settings.api_keys] == list(KEYS)
    assert_no_key_in(repr(settings) + str(settings) + settings.model_dump_json())
    handed = Settings.model_validate_json(settings.handover_json())  # what course-api serve's workers get
    assert [key.get_secret_value() for key in handed.api_keys] == list(KEYS)
    assert settings.with_changes(port=1).api_keys == settings.api_keys
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(environ={}, api_keys=[KEYS[0], 42])
    assert_no_key_in(str(raised.value))
    assert "COURSE_API_API_KEYS" in str(raised.value)
    description = Settings.model_fields["api_keys"].description or ""
    assert "open" in description
    assert "401" in description


def test_every_key_is_compared():
    keys = [SecretStr(key) for key in KEYS]
    assert key_matches(KEYS[0], keys)
    assert key_matches(KEYS[1], keys)
    assert not key_matches(WRONG, keys)
    assert not key_matches("", keys)
    assert not key_matches(KEYS[0], [])

    compared: list[str] = []

    class Watched(SecretStr):
        def get_secret_value(self) -> str:
            compared.append(super().get_secret_value())
            return super().get_secret_value()

    assert key_matches(KEYS[0], [Watched(key) for key in KEYS])
    assert compared == list(KEYS), "the comparison stopped at the first match"
