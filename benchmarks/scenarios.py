"""What the benchmark sends: the scenarios, the request bodies written for wrk's Lua scripts, and the right answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

TEXT = "I love this course: the examples are clear and the server answers quickly."
BOUNDARY = "----course-api-bench-7MA4YWxkTrZu0gW"  # the same as in lua/image.lua
DIGIT = 7


@dataclass(frozen=True)
class Scenario:
    name: str
    endpoint: str  # for the report
    script: str  # in benchmarks/lua/
    server: str  # "course-api", "naive" or "plain"
    model: bool  # runs a model: measured with batching on and off

    @property
    def method(self) -> str:
        return self.endpoint.split()[0]

    @property
    def path(self) -> str:
        return self.endpoint.split()[1]


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("health", "GET /", "health.lua", "course-api", model=False),
        Scenario("image", "POST /predict/image", "image.lua", "course-api", model=True),
        Scenario("text", "POST /predict/text", "text.lua", "course-api", model=True),
        Scenario("pixels", "POST /predict/pixels", "pixels.lua", "course-api", model=True),
        Scenario("naive", "POST /predict", "naive.lua", "naive", model=False),
        Scenario("plain-health", "GET /", "health.lua", "plain", model=False),
        Scenario("plain", "POST /predict", "plain.lua", "plain", model=False),
    )
}

EXPECTED = {
    "health": "OK",
    "image": str(DIGIT),
    "pixels": str(DIGIT),
    "naive": str(DIGIT),
    "text": "positive",
    "plain-health": "OK",
    "plain": str(DIGIT),
}
HEALTH_SCENARIOS = ("health", "plain-health")  # GET /: each server's floor
UPLOAD_SCENARIOS = ("image", "plain")  # the PNG as multipart/form-data, field "file"


def multipart_upload(png: bytes) -> tuple[bytes, str]:
    """The body and Content-Type that lua/common.lua sends: ``png`` as field ``file`` of multipart/form-data."""
    body = b"\r\n".join(
        [
            f"--{BOUNDARY}".encode(),
            b'Content-Disposition: form-data; name="file"; filename="digit.png"',
            b"Content-Type: image/png",
            b"",
            png,
            f"--{BOUNDARY}--".encode(),
            b"",
        ]
    )
    return body, f"multipart/form-data; boundary={BOUNDARY}"


@dataclass
class Inputs:
    folder: Path

    def body(self, scenario: str) -> tuple[bytes | None, dict[str, str]]:
        """The exact bytes (and headers) the Lua script of ``scenario`` sends, for the check request."""
        if scenario in HEALTH_SCENARIOS:
            return None, {}
        if scenario in UPLOAD_SCENARIOS:
            body, content_type = multipart_upload((self.folder / "digit.png").read_bytes())
            return body, {"Content-Type": content_type}
        name = {"text": "text.json", "pixels": "pixels.json", "naive": "naive.json"}[scenario]
        return (self.folder / name).read_bytes(), {"Content-Type": "application/json"}


def write_inputs(folder: Path, naive_side: int) -> Inputs:
    """The request bodies: a held-out handwritten 7 as a 128x128 PNG, as 8x8 pixels, and as a grey
    ``naive_side`` x ``naive_side`` list of lists for the naive baseline; and a sentence."""
    import numpy as np

    from course_api.samples import digit_png, draw, held_out_pixels

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "digit.png").write_bytes(digit_png(DIGIT))
    pixels = held_out_pixels(DIGIT).astype(int).tolist()
    (folder / "pixels.json").write_text(json.dumps({"images": [pixels]}), encoding="utf-8")
    (folder / "text.json").write_text(json.dumps({"text": TEXT}), encoding="utf-8")
    grey = np.asarray(draw(held_out_pixels(DIGIT), size=naive_side), dtype=np.uint8).tolist()
    (folder / "naive.json").write_text(json.dumps({"image": grey}), encoding="utf-8")
    return Inputs(folder)


def answer(scenario: str, body: bytes) -> str:
    """The part of a JSON answer that :data:`EXPECTED` holds for ``scenario``."""
    data = json.loads(body)
    if scenario in HEALTH_SCENARIOS:
        return str(data.get("message"))
    if scenario in ("image", "naive", "plain"):
        return str(data["digit"])
    if scenario == "pixels":
        return str(data["predictions"][0]["digit"])
    return str(data["label"])
