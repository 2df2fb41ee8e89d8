"""Every endpoint, in process (TestClient) and over loopback (a real uvicorn), with good and bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from helpers import digit_png


def test_health_check(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "OK"
    assert body["status-code"] == 200
    assert body["data"]["device"] == "cpu"
    assert body["data"]["models"] == ["digits", "generator", "sentiment"]


def test_item_with_query(client):
    assert client.get("/items/5", params={"q": "somequery"}).json() == {"item_id": 5, "q": "somequery"}
    assert client.get("/items/5").json() == {"item_id": 5, "q": None}


def test_item_id_must_be_an_integer(client):
    response = client.get("/items/foo")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["errors"][0]["loc"] == ["path", "item_id"]
    assert body["errors"][0]["field"] == "path.item_id"
    assert body["errors"][0]["input"] == "foo"
    assert "valid integer" in body["detail"]


def test_unknown_path_is_404(client):
    response = client.get("/item/5")  # the draft's path; the course uses /items/{item_id}
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
    assert body["status"] == 404
    assert "/item/5" in body["detail"]
    assert body["instance"] == "/item/5"


@pytest.mark.parametrize("code", [200, 201, 301, 404, 418, 500, 503])
def test_status_route_answers_with_the_code(client, code):
    response = client.get(f"/status/{code}", follow_redirects=False)
    assert response.status_code == code
    body = response.json()
    assert body["status-code"] == code
    assert body["class"].startswith(f"{code // 100}xx")
    if code >= 400:  # an error, even one asked for, is problem details (with the same members as extensions)
        assert response.headers["content-type"] == "application/problem+json"
        assert body["status"] == code
        assert body["type"] == "about:blank"
        assert str(code) in body["detail"]
    else:
        assert response.headers["content-type"] == "application/json"


def test_status_204_has_no_body(client):
    response = client.get("/status/204")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize("code", ["99", "600", "299", "abc"])
def test_status_route_rejects_unknown_codes(client, code):
    response = client.get(f"/status/{code}")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "code"]


def test_astros_has_the_public_shape(client):
    body = client.get("/astros.json").json()
    assert body["message"] == "success"
    assert body["number"] == len(body["people"]) > 0
    assert all(set(person) == {"name", "craft"} for person in body["people"])


def test_predict_text(client):
    response = client.post("/predict/text", json={"text": "I love this course"})
    assert response.status_code == 200
    body = response.json()
    assert body["label"] == "positive"
    assert body["device"] == "cpu"
    assert body["score"] == max(body["probabilities"].values())
    assert client.post("/predict/text", json={"text": "This is terrible"}).json()["label"] == "negative"


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"text": ""}, "at least 1 character"),
        ({"text": "   "}, "only whitespace"),
        ({}, "Field required"),
        ({"text": 42}, "valid string"),
        ({"text": ["a", "b"]}, "valid string"),
        ({"text": "x" * 6000}, "limit is 5000"),
    ],
)
def test_predict_text_bad_input_is_422_with_a_reason(client, payload, fragment):
    response = client.post("/predict/text", json=payload)
    assert response.status_code == 422
    assert fragment in json.dumps(response.json())


def test_predict_text_malformed_json(client):
    response = client.post(
        "/predict/text", content=b'{"text": "unterminated', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert "not valid JSON" in body["detail"]
    assert "character 9" in body["detail"]
    assert body["errors"][0]["type"] == "json_invalid"
    assert body["errors"][0]["loc"] == ["body"]


def test_predict_text_wrong_content_type(client):
    response = client.post("/predict/text", content=b"I love this course", headers={"Content-Type": "text/plain"})
    assert response.status_code == 422
    assert "application/json" in response.json()["detail"]  # says how to send JSON


def test_predict_image(client, digits_test_split):
    x_test, y_test = digits_test_split
    response = client.post("/predict/image", files={"file": ("digit.png", digit_png(x_test[0]), "image/png")})
    assert response.status_code == 200
    body = response.json()
    assert body["digit"] == y_test[0]
    assert len(body["probabilities"]) == 10
    assert abs(sum(body["probabilities"]) - 1) < 1e-4
    assert np.array(body["pixels"]).shape == (8, 8)
    assert body["width"] == body["height"] == 80


def test_predict_image_jpeg(client, digits_test_split):
    x_test, y_test = digits_test_split
    data = digit_png(x_test[1], fmt="JPEG", mode="RGB", scale=20)
    response = client.post("/predict/image", files={"file": ("digit.jpg", data, "image/jpeg")})
    assert response.status_code == 200
    assert response.json()["digit"] == y_test[1]


@pytest.mark.parametrize(
    ("files", "status", "fragment"),
    [
        ({"file": ("notes.txt", b"not an image", "text/plain")}, 415, "not a PNG or JPEG"),
        ({"file": ("empty.png", b"", "image/png")}, 422, "empty"),
        ({"wrong": ("digit.png", b"\x89PNG", "image/png")}, 422, "body.file"),
    ],
)
def test_predict_image_bad_uploads(client, files, status, fragment):
    response = client.post("/predict/image", files=files)
    assert response.status_code == status
    assert fragment in json.dumps(response.json())


def test_predict_image_without_any_body(client):
    response = client.post("/predict/image")
    assert response.status_code == 422
    assert "body.file" in response.json()["detail"]


def test_predict_image_as_json_instead_of_multipart(client):
    response = client.post("/predict/image", json={"file": "digit.png"})
    assert response.status_code == 422


def test_predict_pixels_batch(client, digits_test_split):
    x_test, y_test = digits_test_split
    response = client.post("/predict/pixels", json={"images": x_test[:5].tolist()})
    assert response.status_code == 200
    digits = [p["digit"] for p in response.json()["predictions"]]
    assert digits == y_test[:5].tolist()


@pytest.mark.parametrize(
    "images",
    [
        [],
        [[[0] * 8] * 7],
        [[[0] * 9] * 8],
        [[[17] + [0] * 7] + [[0] * 8] * 7],
        [[[-1] + [0] * 7] + [[0] * 8] * 7],
        [[["a"] + [0] * 7] + [[0] * 8] * 7],
        "not a list",
    ],
)
def test_predict_pixels_bad_shapes_and_values(client, images):
    response = client.post("/predict/pixels", json={"images": images})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"]
    assert all(e["field"].startswith("body") for e in body["errors"])


def test_predict_pixels_rejects_nan_and_infinity(client):
    row = "[" + ",".join(["NaN"] + ["0"] * 7) + "]"
    body = '{"images": [[' + ",".join([row] * 8) + "]]}"
    response = client.post("/predict/pixels", content=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "loc": ["body", "images", 0, 0, 0],
        "field": "body.images.0.0.0",
        "msg": "Input should be a finite number",
        "type": "finite_number",
        "input": "nan",
    }
    body = body.replace("NaN", "Infinity")
    response = client.post("/predict/pixels", content=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["input"] == "inf"


def test_predict_pixels_batch_limit(client):
    response = client.post("/predict/pixels", json={"images": [[[0] * 8] * 8] * 257})
    assert response.status_code == 422
    assert "limit is 256" in response.json()["detail"]


def test_model_info(client):
    body = client.get("/model").json()
    assert body["device"] == "cpu"
    assert body["models"]["digits"]["test_accuracy"] >= 0.95
    assert body["models"]["sentiment"]["classes"] == ["negative", "positive"]


def test_server_keeps_answering_after_bad_requests(client):
    client.post("/predict/image", files={"file": ("x.png", b"\x89PNG\r\n\x1a\n broken", "image/png")})
    client.post("/predict/text", content=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert client.get("/").status_code == 200


def test_openapi_documents_every_route_with_schemas(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in [
        "/",
        "/items/{item_id}",
        "/status/{code}",
        "/astros.json",
        "/predict/text",
        "/predict/image",
        "/predict/pixels",
        "/model",
        "/generate",
        "/generate/jsonl",
    ]:
        assert path in paths, path
    streams = {"/generate": "text/event-stream", "/generate/jsonl": "application/jsonl"}  # an item schema each
    for path, methods in paths.items():
        for method, operation in methods.items():
            content = operation["responses"]["200"]["content"]
            if path in streams:
                assert list(content) == [streams[path]], path
                assert content[streams[path]]["itemSchema"], f"{method.upper()} {path} has no item schema"
                continue
            schema = content["application/json"]["schema"]
            assert schema.get("$ref"), f"{method.upper()} {path} has no response model"
    assert "multipart/form-data" in paths["/predict/image"]["post"]["requestBody"]["content"]
    assert set(paths["/predict/image"]["post"]["responses"]) >= {"200", "413", "415", "422", "503"}


def test_start_up_freezes_its_objects_for_the_garbage_collector(settings):
    """gc.freeze() after loading: full collections no longer walk torch's objects (they stalled requests ~80 ms)."""
    import gc

    from fastapi.testclient import TestClient

    from course_api.server.app import create_app

    gc.unfreeze()
    with TestClient(create_app(settings)) as client:
        assert client.get("/").status_code == 200
        assert gc.get_freeze_count() > 10_000


def test_importing_the_server_builds_nothing_from_the_environment():
    """Only create_app() reads COURSE_API_* (when it is called without settings); importing the module does not."""
    import subprocess
    import sys

    code = "import course_api.server.app as m; print(hasattr(m, 'app'))"
    env = {**os.environ, "COURSE_API_MAX_BODY_BYTES": "not a number"}
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
