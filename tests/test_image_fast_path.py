"""The fast path of POST /predict/image answers exactly as the route does, and leaves everything else to it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from course_api.image_fast_path import single_file_part
from course_api.samples import digit_pixels, digit_png, draw, encode

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
        ("light-on-dark.png", encode(draw(digit_pixels(3), size=96, dark_on_light=False)), "image/png"),
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
