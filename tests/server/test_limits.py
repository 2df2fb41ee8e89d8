"""Limits: each is a setting (and a COURSE_API_* variable), each refusal its documented status."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from course_api.samples import digit_png
from course_api.server.app import create_app
from course_api.server.imaging import ImageError, decode_image, digit_pixels, open_image
from course_api.server.settings import Settings

LIMITS = {
    "max_body_bytes": 6 * 1024 * 1024,
    "max_json_bytes": 1024 * 1024,
    "max_upload_bytes": 5 * 1024 * 1024,
    "max_image_pixels": 4096 * 4096,
    "max_text_chars": 5000,
    "max_images_per_request": 256,
    "max_prompt_chars": 1000,
    "max_new_tokens": 500,
}


def encoded(fmt: str, size=(64, 64), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "white").save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def small(settings) -> Iterator[TestClient]:
    """The course app with every limit small."""
    app = create_app(
        settings.with_changes(
            max_body_bytes=20_000,
            max_json_bytes=2_000,
            max_upload_bytes=10_000,
            max_image_pixels=100 * 100,
            max_text_chars=50,
            max_images_per_request=3,
        )
    )
    with TestClient(app) as client:
        yield client


def kind(response) -> str:
    return response.json()["type"].rsplit("/", 1)[-1]


def test_defaults_and_environment_variables():
    defaults = Settings.from_env(environ={})
    for name, value in LIMITS.items():
        assert getattr(defaults, name) == value
        assert getattr(Settings.from_env(environ={f"COURSE_API_{name.upper()}": "1234"}), name) == 1234
    assert defaults.max_body_bytes > defaults.max_upload_bytes  # room for the multipart wrapping
    with pytest.raises(ValueError, match="COURSE_API_MAX_TEXT_CHARS"):
        Settings.from_env(environ={"COURSE_API_MAX_TEXT_CHARS": "lots"})
    with pytest.raises(ValueError, match="at least 1"):
        Settings.from_env(environ={"COURSE_API_MAX_BODY_BYTES": "0"})


def test_body_cap_on_every_route(small):
    big = b"\x00" * 30_000
    for method, path in (("POST", "/predict/image"), ("POST", "/"), ("PUT", "/items/5"), ("POST", "/nowhere")):
        response = small.request(method, path, content=big)
        assert response.status_code == 413, (method, path, response.text)
        assert kind(response) == "body-too-large", (method, path, response.text)
        assert "20000 bytes" in response.json()["detail"]


def test_body_cap_counts_chunked_bodies(small):
    """No Content-Length: the body is counted as it arrives, and refused the moment it passes the limit."""
    sent = []

    def chunks():
        for _ in range(100):
            sent.append(1)
            yield b"--b\r\n" + b"x" * 1000

    response = small.post(
        "/predict/image", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code in (400, 413)  # garbage multipart may be refused even before the limit
    payload = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n'

    def upload():
        yield payload
        for _ in range(100):
            yield b"\x00" * 1000
        yield b"\r\n--b--\r\n"

    response = small.post(
        "/predict/image", content=upload(), headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413
    assert kind(response) == "body-too-large"


def test_json_routes_have_their_own_smaller_cap(small):
    response = small.post("/predict/text", json={"text": "a" * 3000})
    assert response.status_code == 413
    assert "2000 bytes" in response.json()["detail"]
    response = small.post("/predict/pixels", json={"images": [[[0] * 8] * 8] * 20})
    assert response.status_code == 413


def test_upload_cap(small):
    response = small.post("/predict/image", files={"file": ("big.png", digit_png(3) + b"\x00" * 12_000, "image/png")})
    assert response.status_code == 413
    assert kind(response) == "upload-too-large"
    assert "10000 bytes" in response.json()["detail"]


def test_pixel_cap_reads_only_the_header(small):
    response = small.post("/predict/image", files={"file": ("wide.png", encoded("PNG", (200, 60)), "image/png")})
    assert response.status_code == 413
    assert kind(response) == "image-too-large"
    assert "200x60 = 12000 pixels" in response.json()["detail"]
    assert (
        small.post("/predict/image", files={"file": ("ok.png", encoded("PNG", (90, 90)), "image/png")}).status_code
        == 200
    )


def test_text_and_batch_caps(small):
    response = small.post("/predict/text", json={"text": "good " * 11})
    assert response.status_code == 422
    assert "limit is 50" in response.json()["detail"]
    response = small.post("/predict/pixels", json={"images": [[[0] * 8] * 8] * 4})
    assert response.status_code == 422
    assert "limit is 3" in response.json()["detail"]
    spec = small.get("/openapi.json").json()["components"]["schemas"]
    assert spec["TextIn"]["properties"]["text"]["maxLength"] == 50
    assert spec["PixelsIn"]["properties"]["images"]["maxItems"] == 3


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "WEBP", "ICO", "PPM", "PDF"])
def test_only_png_and_jpeg_are_decoded(fmt):
    with pytest.raises(ImageError) as error:
        open_image(encoded(fmt), max_pixels=10**8)
    assert error.value.status == 415
    assert error.value.kind == "unsupported-image-type"


def test_a_decompression_bomb_is_refused_from_its_header():
    """A PNG that says 20000x20000 (400 million pixels) is refused before any pixel is decoded."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(ImageError) as error:
        open_image(bomb, max_pixels=4096 * 4096)
    assert error.value.status == 413
    assert error.value.kind == "image-too-large"


@pytest.mark.parametrize("mode", ["P", "1", "I;16", "LA", "RGBA", "L", "RGB"])
def test_large_images_of_every_png_mode_are_read(mode):
    """Pillow cannot average (reduce) palette, 1-bit or 16-bit images: a large one must still work."""
    image = decode_image(encoded("PNG", (1500, 1100), mode), max_pixels=10**8)
    assert max(image.size) <= 1024
    assert digit_pixels(image).shape == (8, 8)
