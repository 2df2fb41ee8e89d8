"""Where an image request's time goes, inside the server: the ASGI app driven in-process, without sockets.

    .venv/bin/python -m benchmarks.profile_image                 # 3000 requests of each kind, about 20 s
    .venv/bin/python -m benchmarks.profile_image --top 25        # more of cProfile's table

The app from ``create_app()`` (every middleware, the lifespan, the micro-batcher: the server as it runs) gets the
exact request the benchmark sends, the 128x128 PNG of a handwritten 7 as ``multipart/form-data``, one request at
a time, from an asyncio loop that plays uvicorn's part (scope, ``receive``, ``send``). uvicorn's own HTTP parsing
and the socket are left out: ``make bench`` measures those with the rest. It prints the time per request for
``GET /`` (the floor), ``POST /predict/image`` (multipart) and, when the route accepts it, the same PNG as a raw
``image/png`` body, then cProfile's view of the image request grouped by where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.scenarios import DIGIT, multipart_upload

Message = dict[str, Any]

# Where a function's own time counts: the first group whose marker is in "file:function".
GROUPS = (
    ("multipart parsing", ("multipart", "formparsers", "datastructures.py", "tempfile", "spooled")),
    ("image decode (Pillow)", ("PIL/",)),
    ("preprocessing (numpy)", ("imaging.py", "numpy", "fromnumeric")),
    ("model and batcher", ("torch", "batching.py", "inference.py", "models/")),
    ("JSON and validation", ("json", "pydantic", "encoders.py", "serializ")),
    ("FastAPI routing and dependencies", ("fastapi/", "starlette/routing", "dependencies")),
    ("middleware and ASGI", ("middleware", "starlette/", "anyio", "asyncio", "course_api/server/problems")),
)


def scope(method: str, path: str, content_type: bytes | None, length: int) -> Message:
    headers = [(b"host", b"127.0.0.1:8000"), (b"content-length", str(length).encode())]
    if content_type:
        headers.append((b"content-type", content_type))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


def caller(app: Any, method: str, path: str, body: bytes, content_type: bytes | None) -> Callable[[], Awaitable[int]]:
    """A coroutine function that sends one request to ``app`` and returns the status."""

    async def call() -> int:
        sent = False
        status = 0

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope(method, path, content_type, len(body)), receive, send)
        return status

    return call


async def per_request(call: Callable[[], Awaitable[int]], count: int) -> float:
    """Microseconds per request, one at a time, after a warm-up."""
    for _ in range(50):
        assert await call() == 200
    started = time.perf_counter()
    for _ in range(count):
        await call()
    return (time.perf_counter() - started) / count * 1e6


def grouped(profile: cProfile.Profile, count: int) -> list[tuple[str, float]]:
    """Own time per request (µs) by group, from the profile."""
    stats = pstats.Stats(profile)
    totals: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{function}"
        group = next((name for name, marks in GROUPS if any(mark in where for mark in marks)), "other")
        totals[group] = totals.get(group, 0.0) + own
    return sorted(((g, t / count * 1e6) for g, t in totals.items()), key=lambda item: -item[1])


async def run(count: int, top: int) -> None:
    from course_api.samples import digit_png
    from course_api.server.app import create_app
    from course_api.server.settings import Settings

    app = create_app(Settings.from_env(device="cpu"))
    png = digit_png(DIGIT)
    body, content_type = multipart_upload(png)
    async with app.router.lifespan_context(app):
        health = caller(app, "GET", "/", b"", None)
        image = caller(app, "POST", "/predict/image", body, content_type.encode())
        raw = caller(app, "POST", "/predict/image", png, b"image/png")
        print(f"GET /                          {await per_request(health, count):7.1f} µs per request")
        print(f"POST /predict/image multipart  {await per_request(image, count):7.1f} µs per request")
        if await raw() == 200:
            print(f"POST /predict/image image/png  {await per_request(raw, count):7.1f} µs per request")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(count):
            await image()
        profile.disable()
    print(f"\nOwn time per multipart image request, by group (cProfile, {count} requests; cProfile slows calls):")
    for group, micros in grouped(profile, count):
        print(f"  {group:<34} {micros:7.1f} µs")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    asyncio.run(run(args.requests, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
