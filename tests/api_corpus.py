"""A corpus of requests to the course server, and what it answers: status, content type and body bytes.

tests/server/test_api_snapshot.py compares today's answers with tests/snapshots/api_answers.json, recorded before a
refactoring: a change of the code's shape must not change a byte of what a client sees. After a change that is
meant to alter an answer, record again: ``python -m api_corpus record`` from tests/ (and say why in the commit).
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "api_answers.json"
VOLATILE = ("seconds", "load_", "uptime")  # keys whose numbers vary from run to run (timings)


def _png(size: int = 64) -> bytes:
    from course_api.samples import digit_png

    return digit_png(7, size=size)


def _image(fmt: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, format=fmt)
    return buffer.getvalue()


def requests() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) for every route: good requests and each kind of mistake."""
    png = _png()
    json_type = {"content-type": "application/json"}
    long_text = "word " * 2000
    return [
        ("GET", "/", {}),
        ("GET", "/items/5", {"params": {"q": "somequery"}}),
        ("GET", "/items/abc", {}),
        ("GET", "/status/404", {}),
        ("GET", "/status/999", {}),
        ("GET", "/astros.json", {}),
        ("GET", "/nope", {}),
        ("DELETE", "/", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/docs", {}),
        ("GET", "/redoc", {}),
        ("GET", "/playground", {}),
        ("POST", "/predict/text", {"json": {"text": "I love this course"}}),
        ("POST", "/predict/text", {"json": {"text": "   "}}),
        ("POST", "/predict/text", {"json": {"text": long_text}}),
        ("POST", "/predict/text", {"json": {}}),
        ("POST", "/predict/text", {"content": b"{not json", "headers": json_type}),
        ("POST", "/predict/text", {"data": {"text": "a form"}}),
        ("POST", "/predict/image", {"files": {"file": ("seven.png", png, "image/png")}}),
        ("POST", "/predict/image", {"content": png, "headers": {"content-type": "image/png"}}),
        ("POST", "/predict/image", {"files": {"file": ("big.png", _png(600), "image/png")}}),
        ("POST", "/predict/image", {"files": {"file": ("x.jpg", _image("JPEG"), "image/jpeg")}}),
        ("POST", "/predict/image", {"files": {"file": ("x.gif", _image("GIF"), "image/gif")}}),
        ("POST", "/predict/image", {"files": {"file": ("cut.png", png[: len(png) // 2], "image/png")}}),
        ("POST", "/predict/image", {"files": {"file": ("empty.png", b"", "image/png")}}),
        ("POST", "/predict/image", {"files": {"other": ("seven.png", png, "image/png")}}),
        ("POST", "/predict/image", {"files": {"file": ("seven.png", png, "image/png")}, "data": {"note": "x"}}),
        ("POST", "/predict/image", {"content": b"GIF89a", "headers": {"content-type": "image/gif"}}),
        ("POST", "/predict/image", {"content": b"x" * 6_000_000, "headers": {"content-type": "image/png"}}),
        ("POST", "/predict/pixels", {"json": {"images": [[[0] * 8] * 8, [[16] * 8] * 8]}}),
        ("POST", "/predict/pixels", {"json": {"images": [[[0] * 8] * 7]}}),
        ("POST", "/predict/pixels", {"json": {"images": [[[0] * 8] * 8] * 100}}),
        (
            "POST",
            "/predict/pixels",
            {"content": b'{"images": [[[NaN]]]}', "headers": {"content-type": "application/json"}},
        ),
        ("POST", "/generate", {"json": {"prompt": "The dataset ", "max_tokens": 12}}),
        ("POST", "/generate/jsonl", {"json": {"prompt": "Iris", "max_tokens": 8, "temperature": 0, "seed": 1}}),
        ("POST", "/generate", {"json": {"prompt": ""}}),
        ("POST", "/generate", {"json": {"prompt": "x" * 1001}}),
        ("POST", "/generate", {"json": {"prompt": "The", "max_tokens": 0}}),
        ("POST", "/generate/jsonl", {"json": {"prompt": "The", "max_tokens": 501}}),
        ("POST", "/generate", {"content": b'{"prompt": ', "headers": json_type}),
        ("GET", "/model", {}),
    ]


def _masked(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, key) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and any(w in key for w in VOLATILE):
        return "<varies>"
    return value


def answers() -> list[dict[str, Any]]:
    """What a fresh course app (CPU, default settings) answers to each request, in order."""
    from fastapi.testclient import TestClient

    from course_api import Settings, create_app

    found = []
    with TestClient(create_app(Settings.from_env(environ={}, device="cpu"))) as client:
        for method, path, options in requests():
            response = client.request(method, path, **options)
            kind = response.headers.get("content-type", "")
            body: Any = response.text
            if kind.startswith("application/jsonl"):
                body = [_masked(json.loads(line)) for line in response.text.splitlines()]
            elif "json" in kind:
                body = _masked(response.json())
            found.append({"request": f"{method} {path}", "status": response.status_code, "type": kind, "body": body})
    return found


if __name__ == "__main__" and sys.argv[1:] == ["record"]:
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(answers(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {SNAPSHOT}")
