"""Load with nothing lost, in short: ``benchmarks/nothing_lost.py`` for a few seconds against a real server
process on 127.0.0.1, with a small queue so that some requests get the documented 503.

Every request must be answered with 2xx or 503 (with Retry-After and problem details), with no socket error,
every answer must be right for its own input, the queues must be empty afterwards, and the server's resident
memory must not grow by more than 100 MiB. No timing is asserted. The full run (20 s, 64 clients) is
``python -m benchmarks.nothing_lost``.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from benchmarks.nothing_lost import Workload, run_load
from benchmarks.servers import CourseServer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads memory from /proc (Linux)")


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload.build()


@pytest.mark.load
@pytest.mark.subprocess
def test_nothing_lost_under_load(workload):
    with CourseServer(device="cpu", queue_limit=8) as server:
        report = asyncio.run(run_load(server.url, seconds=4, concurrency=48, workload=workload, pid=server.pid))
        server.check_alive()  # raises if the server died under load
    print("\n" + report.summary())
    assert report.problems() == [], report.summary()
    assert report.sent == report.ok + report.busy_503
    assert set(report.by_kind) == {"text", "image", "pixels", "item", "health"}


def test_a_wrong_answer_would_be_caught(workload):
    """The checks are not vacuous: an answer for another input fails them."""
    import random

    from benchmarks.nothing_lost import make_request

    rng = random.Random(1)
    requests = [make_request(workload, rng, 0, n) for n in range(200)]
    text = next(r for r in requests if r.kind == "text")
    image = next(r for r in requests if r.kind == "image")
    item = next(r for r in requests if r.kind == "item")
    sentence = text.options["json"]["text"]
    other = next(
        expected for s, expected in workload.texts if abs(expected[1] - dict(workload.texts)[sentence][1]) > 0.05
    )
    label = "positive" if other[1] > other[0] else "negative"
    assert text.check({"label": label, "probabilities": {"negative": float(other[0]), "positive": float(other[1])}})
    assert image.check({"digit": 11, "probabilities": [0.1] * 10})
    assert item.check({"item_id": 1, "q": None})
