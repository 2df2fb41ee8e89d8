"""The fast path of POST /predict/image answers exactly as the route does, and leaves everything else to it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from course_api.samples import digit_png, draw, encode, held_out_pixels
from course_api.server.image_fast_path import single_file_part

BOUNDARY = b"xYzZY"


def multipart(*parts: bytes) -> bytes:
    body = b"".join(b"--" + BOUNDARY + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + BOUNDARY + b"--\r\n"


def file_part(data: bytes, name: bytes = b"file", filename: bytes | None = b"d.png") -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return disposition + b"\r\nContent-Type: image/png\r\n\r\n" + data


def test_the_one_file_part_is_found():
    assert single_file_part(multipart(file_part(b"\x89PNG...")), BOUNDARY) == b"\x89PNG..."
    data = b"ends with\r\n--xYz and more"  # a boundary-like line inside the data is data
    assert single_file_part(multipart(file_part(data)), BOUNDARY) == data


@pytest.mark.parametrize(
    "body",
    [
        multipart(file_part(b"a"), file_part(b"b", name=b"other")),  # two parts
        multipart(file_part(b"a", filename=None)),  # a plain field, not a file
        multipart(file_part(b"a", name=b"picture")),  # another field name
        b"preamble\r\n" + multipart(file_part(b"a")),
        multipart(file_part(b"a"))[:-4],  # no closing boundary
        b"--xYzZY\r\ngarbage",
        multipart(b"Content-Disposition form-data\r\n\r\na"),  # a header without a colon
        b"",
    ],
)
def test_anything_else_goes_to_the_route(body):
    assert single_file_part(body, BOUNDARY) is None


def images() -> list[tuple[str, bytes, str]]:
    rng = np.random.default_rng(3)
    noisy = Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8), "RGB")
    found = [
        ("light-on-dark.png", encode(draw(held_out_pixels(3), size=96, dark_on_light=False)), "image/png"),
        ("noise.png", _encode(noisy, "PNG"), "image/png"),
        ("noise.jpg", _encode(noisy, "JPEG"), "image/jpeg"),
        ("alpha.png", _encode(noisy.convert("RGBA"), "PNG"), "image/png"),
        ("palette.png", _encode(noisy.convert("P"), "PNG"), "image/png"),
        ("blank.png", _encode(Image.new("L", (16, 16), 255), "PNG"), "image/png"),
    ]
    found += [(f"digit{d}.png", digit_png(d, index=d % 3), "image/png") for d in range(10)]
    return found


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def test_the_fast_path_answers_byte_for_byte_as_the_route(test_client):
    for name, data, kind in images():
        fast = test_client.post("/predict/image", files={"file": (name, data, kind)})
        # An extra form field takes the request past the fast path, to FastAPI's form handling and the route.
        route = test_client.post("/predict/image", files={"file": (name, data, kind)}, data={"note": "x"})
        assert fast.status_code == route.status_code == 200, (name, fast.text, route.text)
        assert fast.content == route.content, name
        assert fast.headers["content-type"] == route.headers["content-type"]


def test_errors_still_come_from_the_route(test_client):
    answer = test_client.post("/predict/image", files={"file": ("notes.txt", b"not an image", "text/plain")})
    assert answer.status_code == 415
    assert answer.headers["content-type"] == "application/problem+json"


# ------------------------------------------------------------------------------------- the raw body
def test_a_raw_body_gets_the_same_answer_as_an_upload(client):
    """Content-Type: image/png or image/jpeg, the bytes as the body: the second way to call the route."""
    for name, data, kind in images():
        upload = client.post("/predict/image", files={"file": (name, data, kind)})
        raw = client.post("/predict/image", content=data, headers={"Content-Type": kind})
        assert raw.status_code == upload.status_code == 200, (name, raw.text)
        assert raw.content == upload.content, name


def test_a_raw_body_without_content_length_is_answered_by_the_route(test_client):
    """A chunked body never takes the fast path: wrapped as multipart, the route reads it as it arrives."""
    data = digit_png(4)

    def chunks():
        yield data[:1000]
        yield data[1000:]

    raw = test_client.post("/predict/image", content=chunks(), headers={"Content-Type": "image/png"})
    upload = test_client.post("/predict/image", files={"file": ("d.png", data, "image/png")})
    assert raw.status_code == 200, raw.text
    assert raw.content == upload.content


@pytest.mark.parametrize(
    ("data", "content_type", "status", "kind"),
    [
        (b"GIF89a" + b"\x00" * 40, "image/gif", 415, "unsupported-image-type"),  # any image/* type: the bytes decide
        (b"not an image", "image/png", 415, "unsupported-image-type"),
        (b"", "image/jpeg", 422, "unreadable-image"),
        (digit_png(2)[:600], "image/png", 422, "unreadable-image"),  # truncated
    ],
)
def test_a_raw_body_gets_the_uploads_errors(client, data, content_type, status, kind):
    raw = client.post("/predict/image", content=data, headers={"Content-Type": content_type})
    upload = client.post("/predict/image", files={"file": ("upload", data, content_type)})
    assert raw.status_code == upload.status_code == status, raw.text
    assert raw.headers["content-type"] == "application/problem+json"
    assert raw.json()["type"].endswith("/" + kind)
    assert raw.json()["detail"] == upload.json()["detail"]  # the same words, the file named "upload"
    assert raw.json()["detail"].startswith("upload: ")


def test_a_raw_body_keeps_the_size_limits(settings):
    from fastapi.testclient import TestClient

    from course_api.server.app import create_app

    app = create_app(settings.with_changes(max_body_bytes=20_000, max_upload_bytes=10_000))
    with TestClient(app) as small:
        too_big_a_file = b"\x89PNG\r\n\x1a\n" + b"\x00" * 15_000  # under the body limit, over the file limit
        answer = small.post("/predict/image", content=too_big_a_file, headers={"Content-Type": "image/png"})
        assert answer.status_code == 413, answer.text
        assert answer.json()["type"].endswith("/upload-too-large"), answer.text
        too_big_a_body = b"\x89PNG\r\n\x1a\n" + b"\x00" * 25_000
        answer = small.post("/predict/image", content=too_big_a_body, headers={"Content-Type": "image/png"})
        assert answer.status_code == 413, answer.text
        assert answer.json()["type"].endswith("/body-too-large"), answer.text


def test_no_file_says_both_ways_to_send_one(client):
    for request in ({"content": b"hello", "headers": {"Content-Type": "text/plain"}}, {"files": {"image": b"x"}}):
        answer = client.post("/predict/image", **request)
        assert answer.status_code == 422
        detail = answer.json()["detail"]
        for words in ("Field required", "field named file", "Content-Type: image/png"):
            assert words in detail


def test_the_raw_body_is_in_the_openapi_document(test_client):
    operation = test_client.get("/openapi.json").json()["paths"]["/predict/image"]["post"]
    assert set(operation["requestBody"]["content"]) == {"multipart/form-data", "image/png", "image/jpeg"}
    assert "Content-Type: image/png" in operation["description"]
