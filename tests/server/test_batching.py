"""Micro-batching: same answers as one at a time, no waiting when idle, bounded queue, event loop never blocked."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from course_api.samples import digit_png, held_out_pixels
from course_api.server.app import create_app
from course_api.server.batching import BatcherClosed, MicroBatcher, QueueFull
from course_api.server.inference import Predictor
from course_api.server.settings import Settings
from course_api.workbook.background import serve_in_background

DEFAULTS = Settings.from_env(environ={})


def batcher_options(**changes):
    """The server's default micro-batching limits (one source: Settings), with ``changes``."""
    options = {
        "max_rows": DEFAULTS.microbatch_max_rows,
        "max_wait_s": DEFAULTS.microbatch_wait_ms / 1000,
        "queue_limit": DEFAULTS.queue_limit,
    }
    return {**options, **changes}


class Recorder:
    """A 'model' that doubles its input rows and remembers the size of every batch it ran."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.batches: list[int] = []
        self.delay = delay
        self.gate = gate

    def __call__(self, rows):
        if self.gate is not None:
            self.gate.wait(5)
        time.sleep(self.delay)
        self.batches.append(len(rows))
        return np.asarray(rows, dtype=np.float64) * 2


@pytest.fixture
def executor():
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_lone_request_runs_at_once_in_a_batch_of_one(executor):
    model = Recorder()

    async def main():
        batcher = MicroBatcher(model, executor, name="m", **batcher_options(max_wait_s=0.5))
        started = time.perf_counter()
        result = await batcher([1.0])
        elapsed = time.perf_counter() - started
        loop_started = batcher._loop_task is not None
        await batcher.close()
        return result, elapsed, loop_started

    result, elapsed, loop_started = run(main())
    assert not loop_started, "an idle batcher runs the request from its own task: no hand-off to the batch loop"
    assert result.tolist() == [2.0]
    assert model.batches == [1]
    assert elapsed < 0.5, "an idle batcher must not wait max_wait_s"  # generous: the wait itself would be 0.5 s


def test_requests_that_arrive_together_share_one_forward_pass_and_get_their_own_rows(executor):
    gate = threading.Event()
    model = Recorder(gate=gate)

    async def main():
        batcher = MicroBatcher(model, executor, name="m", **batcher_options(max_rows=64))
        first = asyncio.ensure_future(batcher([0.0]))  # occupies the model until the gate opens
        await asyncio.sleep(0.05)
        others = [asyncio.ensure_future(batcher([float(i), float(i) + 0.5])) for i in range(1, 11)]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(first, *others)
        stats = batcher.describe()
        await batcher.close()
        return results, stats

    results, stats = run(main())
    assert [r.tolist() for r in results] == [[0.0]] + [[2.0 * i, 2.0 * i + 1.0] for i in range(1, 11)]
    assert model.batches == [1, 20], "the ten requests that queued while the model ran form one batch"
    assert stats["requests"] == 11
    assert stats["batches"] == 2
    assert stats["largest_batch"] == 20
    assert stats["queued"] == 0


def test_batches_are_bounded_but_a_larger_request_still_runs(executor):
    gate = threading.Event()
    model = Recorder(gate=gate)

    async def main():
        batcher = MicroBatcher(model, executor, name="m", **batcher_options(max_rows=4))
        first = asyncio.ensure_future(batcher([0.0]))
        await asyncio.sleep(0.05)
        waiting = [asyncio.ensure_future(batcher([1.0, 1.0, 1.0])) for _ in range(3)]
        big = asyncio.ensure_future(batcher([5.0] * 9))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, *waiting, big)
        await batcher.close()

    run(main())
    assert model.batches == [1, 3, 3, 3, 9]


def test_a_full_queue_is_refused_and_the_rest_still_answered(executor):
    gate = threading.Event()
    model = Recorder(gate=gate)

    async def main():
        batcher = MicroBatcher(model, executor, name="digits", **batcher_options(queue_limit=3))
        accepted = [asyncio.ensure_future(batcher([float(i)])) for i in range(3)]
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull) as refused:
            await batcher([9.0])
        gate.set()
        results = await asyncio.gather(*accepted)
        await batcher.close()
        return refused.value, results, batcher.describe()

    error, results, stats = run(main())
    assert error.retry_after >= 1
    assert "busy" in str(error)
    assert [r.tolist() for r in results] == [[0.0], [2.0], [4.0]]
    assert stats["rejected"] == 1


def test_batching_off_runs_every_request_alone(executor):
    model = Recorder(delay=0.01)

    async def main():
        batcher = MicroBatcher(model, executor, name="m", **batcher_options(), enabled=False)
        results = await asyncio.gather(*[batcher([float(i)]) for i in range(5)])
        await batcher.close()
        return results

    results = run(main())
    assert [r.tolist() for r in results] == [[2.0 * i] for i in range(5)]
    assert model.batches == [1] * 5


def test_a_failing_model_fails_its_batch_and_the_batcher_goes_on(executor):
    calls = []

    def flaky(rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return np.asarray(rows) * 2

    async def main():
        batcher = MicroBatcher(flaky, executor, name="m", **batcher_options())
        with pytest.raises(RuntimeError, match="out of memory"):
            await batcher([1.0])
        result = await batcher([2.0])
        await batcher.close()
        return result

    assert run(main()).tolist() == [4.0]


def test_close_refuses_new_requests(executor):
    async def main():
        batcher = MicroBatcher(Recorder(), executor, name="m", **batcher_options())
        await batcher([1.0])
        await batcher.close()
        with pytest.raises(BatcherClosed):
            await batcher([1.0])

    run(main())


def test_batched_answers_equal_one_at_a_time(models, settings):
    """The real models: 48 digits and 48 sentences, batched by the Predictor or run alone, agree (allclose)."""
    images = [held_out_pixels(n % 10, index=n // 10) for n in range(48)]
    texts = [f"{word} course number {n}" for n, word in enumerate(["great", "awful", "not bad", "boring"] * 12)]

    async def main():
        predictor = Predictor(models, settings.with_changes(batching=True, microbatch_max_rows=16))
        try:
            digits = await asyncio.gather(*[predictor.digits([image]) for image in images])
            sentiment = await asyncio.gather(*[predictor.sentiment([text]) for text in texts])
            return np.concatenate(digits), np.concatenate(sentiment), predictor.describe()["batching"]
        finally:
            await predictor.aclose()

    digits, sentiment, stats = run(main())
    assert stats["digits"]["largest_batch"] > 1
    assert stats["digits"]["largest_batch"] <= 16
    alone_digits = np.concatenate([models.digit_probabilities(image[None]) for image in images])
    alone_sentiment = np.concatenate([models.sentiment_probabilities([text]) for text in texts])
    np.testing.assert_allclose(digits, alone_digits, atol=1e-5)
    np.testing.assert_allclose(sentiment, alone_sentiment, atol=1e-5)


@pytest.mark.parametrize("batching", [True, False])
def test_server_answers_the_same_with_and_without_batching(settings, batching):
    with TestClient(create_app(settings.with_changes(batching=batching))) as client:
        text = client.post("/predict/text", json={"text": "I love this course"}).json()
        image = client.post("/predict/image", files={"file": ("7.png", digit_png(7), "image/png")}).json()
        info = client.get("/model").json()["batching"]
    assert text["label"] == "positive"
    assert image["digit"] == 7
    assert info["digits"]["enabled"] is batching
    assert info["sentiment"]["requests"] == 1


def test_full_queue_is_a_503_with_retry_after(settings):
    app = create_app(settings.with_changes(queue_limit=1))
    with TestClient(app) as client:
        gate = threading.Event()
        predictor = app.state.predictor
        original = predictor.sentiment.function
        predictor.sentiment.function = lambda texts: (gate.wait(5), original(texts))[1]
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(client.post, "/predict/text", json={"text": "first"})
            deadline = time.monotonic() + 5
            while predictor.sentiment.queued == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            refused = client.post("/predict/text", json={"text": "second"})
            gate.set()
            assert first.result(10).status_code == 200
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert "busy" in refused.json()["detail"]


def test_the_event_loop_answers_while_the_model_runs(settings):
    """Inference runs in its own thread: a slow forward pass must not hold up the health check."""
    app = create_app(settings)
    with serve_in_background(app, name="batching-loop") as server:
        _check_loop_stays_free(app.state.predictor, server.url)


def _check_loop_stays_free(predictor, url: str) -> None:
    gate = threading.Event()
    original = predictor.digits.function
    predictor.digits.function = lambda rows: (gate.wait(5), original(rows))[1]
    try:
        with ThreadPoolExecutor(max_workers=1) as pool, httpx2.Client(base_url=url, timeout=10) as client:
            slow = pool.submit(client.post, "/predict/image", files={"file": ("7.png", digit_png(7), "image/png")})
            deadline = time.monotonic() + 5
            while predictor.digits.queued == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert predictor.digits.queued == 1, "the upload should be waiting for the model"
            with httpx2.Client(base_url=url, timeout=10) as other:
                assert other.get("/").status_code == 200  # answered while the model is still busy
            assert not slow.done()
            gate.set()
            assert slow.result(10).json()["digit"] == 7
    finally:
        predictor.digits.function = original
        gate.set()
