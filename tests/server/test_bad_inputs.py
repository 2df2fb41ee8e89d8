"""A corpus of bad inputs against a real server process: each gets its documented 4xx with problem details,
the server's peak memory stays bounded, and it answers ``GET /`` afterwards.

The server runs as ``course-api serve`` in its own process, so that its memory is its own: the test reads
VmHWM (the peak resident memory) from /proc before and after the corpus. The bound is generous (a resource
bound, not a timing): a decompression bomb or a 10 MB body that were read whole would break it by far.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from PIL import Image

from benchmarks.servers import CourseServer, memory_mib

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads memory from /proc (Linux)"),
    pytest.mark.load,
    pytest.mark.subprocess,
]

MIB = 1024 * 1024
PEAK_GROWTH_LIMIT_MIB = 150


# ------------------------------------------------------------------------------------------- files
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_of_zeros(width: int, height: int, *, colour_type: int = 0, channels: int = 1) -> bytes:
    """A real, complete PNG of width x height black pixels, compressed row by row (never whole in memory):
    a 20000x20000 one is a 400 MB image in a file of about 400 KB, a decompression bomb."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * channels)  # filter byte 0, then the pixels
    rows_per_block = max(1, MIB // len(row))
    parts = []
    for start in range(0, height, rows_per_block):
        parts.append(compressor.compress(row * min(rows_per_block, height - start)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def encoded(fmt: str, size: tuple[int, int] = (64, 64), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "white").save(buffer, format=fmt)
    return buffer.getvalue()


def digit(d: int = 7) -> bytes:
    from course_api.samples import digit_png

    return digit_png(d)


def multipart_stream(total: int, boundary: str = "corpus-boundary") -> Callable[[], Iterator[bytes]]:
    """A valid multipart upload of ``total`` bytes of file data, sent in chunks with no Content-Length."""

    def chunks() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        sent = 0
        while sent < total:
            size = min(MIB, total - sent)
            yield b"\x00" * size
            sent += size
        yield f"\r\n--{boundary}--\r\n".encode()

    return chunks


def nested(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


# ------------------------------------------------------------------------------------------ corpus
@dataclass
class Bad:
    name: str
    method: str
    path: str
    status: int
    kind: str | None  # the problem type after "problems/", or None for about:blank (or a 200)
    kwargs: Callable[[], dict[str, Any]] = field(default=dict)
    says: str = ""  # a fragment the detail must contain


def upload(
    name: str, data: bytes | Callable[[], bytes], content_type: str = "image/png"
) -> Callable[[], dict[str, Any]]:
    return lambda: {"files": {"file": (name, data() if callable(data) else data, content_type)}}


def raw_json(body: bytes | str) -> Callable[[], dict[str, Any]]:
    data = body.encode() if isinstance(body, str) else body
    return lambda: {"content": data, "headers": {"Content-Type": "application/json"}}


ROW_OF_ZEROS = ",".join(["0"] * 8)
CORPUS = [
    # uploads
    Bad("zero-byte file", "POST", "/predict/image", 422, "unreadable-image", upload("empty.png", b""), "empty"),
    Bad(
        "truncated PNG",
        "POST",
        "/predict/image",
        422,
        "unreadable-image",
        upload("half.png", lambda: digit()[: len(digit()) // 2]),
        "truncated",
    ),
    Bad(
        "text file named .png",
        "POST",
        "/predict/image",
        415,
        "unsupported-image-type",
        upload("notes.png", b"Dear diary, today I learnt HTTP."),
        "notes.png",
    ),
    Bad("GIF", "POST", "/predict/image", 415, "unsupported-image-type", upload("d.gif", lambda: encoded("GIF"))),
    Bad("BMP", "POST", "/predict/image", 415, "unsupported-image-type", upload("d.bmp", lambda: encoded("BMP"))),
    Bad("TIFF", "POST", "/predict/image", 415, "unsupported-image-type", upload("d.tiff", lambda: encoded("TIFF"))),
    Bad("WebP", "POST", "/predict/image", 415, "unsupported-image-type", upload("d.webp", lambda: encoded("WEBP"))),
    Bad(
        "PNG bomb declaring 20000x20000",
        "POST",
        "/predict/image",
        413,
        "image-too-large",
        upload("bomb.png", lambda: png_of_zeros(20_000, 20_000)),
        "Scale it down",
    ),
    Bad(
        "PNG of 5000x5000 (over max_image_pixels)",
        "POST",
        "/predict/image",
        413,
        "image-too-large",
        upload("big.png", lambda: png_of_zeros(5_000, 5_000)),
        "5000x5000",
    ),
    Bad(
        "JPEG of 5000x4000",
        "POST",
        "/predict/image",
        413,
        "image-too-large",
        upload("big.jpg", lambda: encoded("JPEG", (5_000, 4_000), "L"), "image/jpeg"),
        "5000x4000",
    ),
    Bad(
        "largest allowed image, 4096x4096 RGBA",
        "POST",
        "/predict/image",
        200,
        None,
        upload("largest.png", lambda: png_of_zeros(4096, 4096, colour_type=6, channels=4)),
    ),
    Bad(
        "palette PNG of 2000x1500",
        "POST",
        "/predict/image",
        200,
        None,
        upload("palette.png", lambda: encoded("PNG", (2000, 1500), "P")),
    ),
    Bad(
        "1-bit PNG of 2000x1500",
        "POST",
        "/predict/image",
        200,
        None,
        upload("bits.png", lambda: encoded("PNG", (2000, 1500), "1")),
    ),
    Bad(
        "16-bit PNG of 2000x1500",
        "POST",
        "/predict/image",
        200,
        None,
        upload("deep.png", lambda: encoded("PNG", (2000, 1500), "I;16")),
    ),
    Bad(
        "CMYK JPEG of 3000x3000",
        "POST",
        "/predict/image",
        200,
        None,
        upload("print.jpg", lambda: encoded("JPEG", (3000, 3000), "CMYK"), "image/jpeg"),
    ),
    Bad(
        "file over max_upload_bytes",
        "POST",
        "/predict/image",
        413,
        "upload-too-large",
        upload("padded.png", lambda: digit() + b"\x00" * (5 * MIB + 100)),
        "5242880 bytes",
    ),
    Bad(
        "10 MB body with Content-Length",
        "POST",
        "/predict/image",
        413,
        "body-too-large",
        upload("huge.png", b"\x00" * (10 * MIB)),
        "6291456 bytes",
    ),
    Bad(
        "10 MB chunked body (no Content-Length)",
        "POST",
        "/predict/image",
        413,
        "body-too-large",
        lambda: {
            "content": multipart_stream(10 * MIB)(),
            "headers": {"Content-Type": "multipart/form-data; boundary=corpus-boundary"},
        },
    ),
    Bad("10 MB body to a GET route", "POST", "/", 413, "body-too-large", lambda: {"content": b"\x00" * (10 * MIB)}),
    Bad(
        "multipart with 5000 fields",
        "POST",
        "/predict/image",
        400,
        "malformed-body",
        lambda: {"data": {f"f{i}": "x" for i in range(5000)}, "files": {"file": ("d.png", digit(), "image/png")}},
    ),
    Bad(
        "broken multipart",
        "POST",
        "/predict/image",
        400,
        "malformed-body",
        lambda: {"content": b"--nope\r\ngarbage", "headers": {"Content-Type": "multipart/form-data; boundary=b"}},
    ),
    Bad(
        "emoji file name",
        "POST",
        "/predict/image",
        415,
        "unsupported-image-type",
        upload("😀 notes.txt", b"just text", "text/plain"),
        "😀 notes.txt",
    ),
    Bad(
        "200-character file name",
        "POST",
        "/predict/image",
        415,
        "unsupported-image-type",
        upload("n" * 196 + ".txt", b"just text", "text/plain"),
    ),
    Bad(
        "10,000-character file name",
        "POST",
        "/predict/image",
        400,
        "malformed-body",
        upload("n" * 10_000 + ".txt", b"just text", "text/plain"),
    ),
    # the wrong content type
    Bad(
        "JSON sent to the upload route",
        "POST",
        "/predict/image",
        422,
        "validation-error",
        lambda: {"json": {"file": "digit.png"}},
        "body.file",
    ),
    Bad(
        "plain text sent to a JSON route",
        "POST",
        "/predict/text",
        422,
        "validation-error",
        lambda: {"content": b"I love this course", "headers": {"Content-Type": "text/plain"}},
        "application/json",
    ),
    Bad(
        "a form sent to a JSON route",
        "POST",
        "/predict/pixels",
        422,
        "validation-error",
        lambda: {"data": {"images": "0"}},
    ),
    Bad("no body at all", "POST", "/predict/text", 422, "validation-error"),
    # malformed JSON, NaN, Infinity, depth
    Bad(
        "malformed JSON",
        "POST",
        "/predict/text",
        422,
        "validation-error",
        raw_json('{"text": "unterminated'),
        "not valid JSON",
    ),
    Bad(
        "JSON that is not UTF-8",
        "POST",
        "/predict/text",
        400,
        "malformed-body",
        raw_json(b'{"text": "\xff\xfe"}'),
        "UTF-8",
    ),
    Bad(
        "NaN pixel",
        "POST",
        "/predict/pixels",
        422,
        "validation-error",
        raw_json('{"images": [[[NaN,0,0,0,0,0,0,0]' + f",[{ROW_OF_ZEROS}]" * 7 + "]]}"),
        "finite number",
    ),
    Bad(
        "Infinity pixel",
        "POST",
        "/predict/pixels",
        422,
        "validation-error",
        raw_json('{"images": [[[Infinity,0,0,0,0,0,0,0]' + f",[{ROW_OF_ZEROS}]" * 7 + "]]}"),
        "finite number",
    ),
    Bad(
        "-Infinity pixel",
        "POST",
        "/predict/pixels",
        422,
        "validation-error",
        raw_json('{"images": [[[-Infinity,0,0,0,0,0,0,0]' + f",[{ROW_OF_ZEROS}]" * 7 + "]]}"),
    ),
    Bad("NaN as the text", "POST", "/predict/text", 422, "validation-error", raw_json('{"text": NaN}'), "valid string"),
    Bad(
        "pixel out of range",
        "POST",
        "/predict/pixels",
        422,
        "validation-error",
        lambda: {"json": {"images": [[[17] + [0] * 7] + [[0] * 8] * 7]}},
        "body.images.0.0.0",
    ),
    Bad(
        "an image of 7 rows",
        "POST",
        "/predict/pixels",
        422,
        "validation-error",
        lambda: {"json": {"images": [[[0] * 8] * 7]}},
    ),
    Bad(
        "a batch over max_images_per_request",
        "POST",
        "/predict/pixels",
        422,
        "validation-error",
        lambda: {"json": {"images": [[[0] * 8] * 8] * 257}},
        "limit is 256",
    ),
    Bad(
        "a batch of 3000 garbage images (192,000 invalid values)",
        "POST",
        "/predict/pixels",
        422,
        "validation-error",
        lambda: {"json": {"images": [[["x"] * 8] * 8] * 3000}},
    ),
    Bad(
        "JSON nested 100,000 deep",
        "POST",
        "/predict/text",
        400,
        "malformed-body",
        raw_json(nested(100_000)),
        "nested too deeply",
    ),
    Bad(
        "objects nested 100,000 deep",
        "POST",
        "/predict/pixels",
        400,
        "malformed-body",
        raw_json(b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    ),
    Bad(
        "JSON nested 500 deep",
        "POST",
        "/predict/pixels",
        422,
        "validation-error",
        raw_json(b'{"images": ' + nested(500) + b"}"),
    ),
    # text
    Bad(
        "a text over max_text_chars",
        "POST",
        "/predict/text",
        422,
        "validation-error",
        lambda: {"json": {"text": "good " * 1001}},
        "limit is 5000",
    ),
    Bad("a 900 KB text", "POST", "/predict/text", 422, "validation-error", lambda: {"json": {"text": "x" * 900_000}}),
    Bad(
        "a 2 MB text (over max_json_bytes)",
        "POST",
        "/predict/text",
        413,
        "body-too-large",
        lambda: {"json": {"text": "x" * (2 * MIB)}},
        "1048576 bytes",
    ),
    Bad(
        "only whitespace",
        "POST",
        "/predict/text",
        422,
        "validation-error",
        lambda: {"json": {"text": " \t\n\u3000\u2028"}},
        "only whitespace",
    ),
    # unicode that is fine
    Bad("emoji", "POST", "/predict/text", 200, None, lambda: {"json": {"text": "I love this course 😀🎉"}}),
    Bad("only emoji", "POST", "/predict/text", 200, None, lambda: {"json": {"text": "😀" * 500}}),
    Bad(
        "right-to-left, combining marks, ZWJ",
        "POST",
        "/predict/text",
        200,
        None,
        lambda: {"json": {"text": "שלום é 👩‍👩‍👧 ﷺ Z̴̡͝a̷l̸g̵o"}},
    ),
    Bad(
        "a lone surrogate",
        "POST",
        "/predict/text",
        422,
        "validation-error",
        raw_json('{"text": "\\ud800 hello"}'),
        "unicode",
    ),
    Bad(
        "NUL and control characters",
        "POST",
        "/predict/text",
        200,
        None,
        lambda: {"json": {"text": "good\u0000\u0007\u001b[31m course"}},
    ),
    Bad("emoji in the path", "GET", "/items/%F0%9F%98%80", 422, "validation-error", says="path.item_id"),
    Bad("a 20-digit item id", "GET", "/items/99999999999999999999", 200, None),
    Bad("a 10,000-digit item id", "GET", "/items/" + "9" * 10_000, 422, "validation-error"),
    Bad("emoji in the query", "GET", "/items/5?q=%F0%9F%98%80", 200, None),
    Bad("a query over 200 characters", "GET", "/items/5?q=" + "q" * 300, 422, "validation-error", says="query.q"),
    # routing
    Bad("a path that does not exist", "GET", "/item/5", 404, None, says="/item/5"),
    Bad("the wrong method", "DELETE", "/predict/text", 405, None, says="POST"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[CourseServer]:
    with CourseServer(device="cpu") as server:
        with httpx2.Client(base_url=server.url, timeout=60) as client:
            # Warm up every route once, so that the baseline includes what any first request allocates.
            client.post("/predict/text", json={"text": "warm up"}).raise_for_status()
            client.post("/predict/image", files={"file": ("7.png", digit(), "image/png")}).raise_for_status()
            client.post("/predict/pixels", json={"images": [[[0] * 8] * 8]}).raise_for_status()
        yield server


def test_every_bad_input_gets_its_documented_answer_in_bounded_memory(server):
    before = memory_mib(server.pid)
    failures, peaks = [], []
    with httpx2.Client(base_url=server.url, timeout=120) as client:
        for bad in CORPUS:
            response = client.request(bad.method, bad.path, **bad.kwargs())
            peaks.append((bad.name, round(memory_mib(server.pid)["VmHWM"])))
            problem = _check(bad, response)
            if problem:
                failures.append(f"{bad.name}: {problem}")
        assert client.get("/").status_code == 200, "the server stopped answering after the corpus"
    after = memory_mib(server.pid)
    growth_mib = after["VmHWM"] - before["VmHWM"]
    print(
        f"\nbad-input corpus: {len(CORPUS)} requests; server peak memory {before['VmHWM']:.0f} MiB before, "
        f"{after['VmHWM']:.0f} MiB after (+{growth_mib:.0f} MiB); resident now {after['VmRSS']:.0f} MiB"
    )
    assert not failures, "\n".join(failures)
    assert growth_mib < PEAK_GROWTH_LIMIT_MIB, f"peak memory grew by {growth_mib:.0f} MiB: {peaks}"


def _check(bad: Bad, response: httpx2.Response) -> str | None:
    if response.status_code != bad.status:
        return f"expected {bad.status}, got {response.status_code}: {response.text[:300]}"
    if bad.status < 400:
        return None
    if response.headers.get("content-type") != "application/problem+json":
        return f"Content-Type is {response.headers.get('content-type')!r}, not application/problem+json"
    body = response.json()
    expected_type = f"tag:course-api,2026:problems/{bad.kind}" if bad.kind else "about:blank"
    if body.get("type") != expected_type or body.get("status") != bad.status:
        return f"type/status are {body.get('type')!r}/{body.get('status')!r}, expected {expected_type!r}/{bad.status}"
    detail = body.get("detail")
    if not isinstance(detail, str) or len(detail) < 10 or "Traceback" in response.text:
        return f"no helpful detail: {response.text[:300]}"
    if bad.says and bad.says not in detail:
        return f"detail {detail!r} does not mention {bad.says!r}"
    if bad.status == 422 and not body.get("errors"):
        return "a 422 without errors"
    if len(response.content) > 20_000:
        return f"the answer is {len(response.content)} bytes long"
    return None


def test_the_corpus_covers_what_the_issue_lists():
    names = " ".join(bad.name for bad in CORPUS).lower()
    for thing in (
        "zero-byte",
        "truncated png",
        "text file named .png",
        "gif",
        "bmp",
        "tiff",
        "20000x20000",
        "10 mb",
        "chunked",
        "malformed json",
        "nan",
        "infinity",
        "nested",
        "text over",
        "emoji",
        "wrong method",
    ):
        assert thing in names, thing
    json.dumps([bad.name for bad in CORPUS])  # every name is printable
