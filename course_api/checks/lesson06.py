"""Checks for notebook 06, going further: a load generator, micro-batching, finding where a server saturates."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from course_api.checks.registry import exercise, fail

if TYPE_CHECKING:
    import numpy as np
    from fastapi import FastAPI


def _slow_counting_app(state: dict[str, int]) -> FastAPI:
    """An app whose / takes 20 ms and counts in ``state`` the requests and the most in flight at once."""
    from fastapi import FastAPI

    lock = threading.Lock()
    app = FastAPI()

    @app.get("/")
    def root() -> dict:
        with lock:
            state["count"] += 1
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        time.sleep(0.02)
        with lock:
            state["in_flight"] -= 1
        return {"ok": True}

    return app


@exercise("06.1", "a bounded load generator", needs=("run_load",))
def _06_1(ns: dict[str, Any]) -> str:
    from course_api.notebook import serve_in_background

    state = {"count": 0, "in_flight": 0, "peak": 0}
    with serve_in_background(_slow_counting_app(state), name="load-check") as server:
        started = time.perf_counter()
        latencies = ns["run_load"](server.url + "/", concurrency=4, total=40)
        seconds = time.perf_counter() - started
    if state["count"] != 40:
        fail(
            f"The server saw {state['count']} requests; run_load(url, concurrency=4, total=40) should send exactly 40."
        )
    if not isinstance(latencies, list) or len(latencies) != 40:
        fail("run_load should return a list with one latency (in ms) per request.")
    if state["peak"] > 4:
        fail(f"Up to {state['peak']} requests were in flight at once; never more than `concurrency`.")
    if state["peak"] < 2:
        fail("The requests ran one after another: use a ThreadPoolExecutor(max_workers=concurrency).")
    if min(latencies) < 15 or max(latencies) > 5000:
        fail(
            f"Latencies range from {min(latencies):.1f} to {max(latencies):.1f}: measure each request in "
            "milliseconds with time.perf_counter() before and after it."
        )
    return f"40 requests, at most 4 at a time, in {seconds:.2f} s."


@exercise("06.2", "micro-batching by hand", needs=("predict_batched", "service"))
def _06_2(ns: dict[str, Any]) -> str:
    import numpy as np

    from course_api.datasets import digits_split

    service = ns["service"]
    images = digits_split()[1][:50]
    calls: list[int] = []
    original = service.digit_probabilities

    def counting(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return original(batch)

    service.digit_probabilities = counting
    try:
        result = ns["predict_batched"](images, batch_size=16)
    finally:
        service.digit_probabilities = original
    if calls != [16, 16, 16, 2]:
        fail(f"The model was called with batches of {calls}; 50 images in batches of 16 should be [16, 16, 16, 2].")
    result = np.asarray(result)
    if result.shape != (50, 10):
        fail(f"predict_batched returned shape {result.shape}; expected (50, 10), one row per image, in order.")
    if not np.allclose(result, original(images), atol=1e-5):
        fail("Batched answers differ from unbatched ones: keep the images in order and concatenate the results.")
    return "4 forward passes instead of 50, and the same answers."


@exercise("06.3", "where the server saturates", needs=("saturation",))
def _06_3(ns: dict[str, Any]) -> str:
    measured = ns.get("measured") or {1: 105.0, 2: 190.0, 4: 330.0, 8: 345.0, 16: 350.0}
    expected = min(c for c, rps in sorted(measured.items()) if rps >= 0.9 * max(measured.values()))
    got = ns["saturation"](measured)
    if got != expected:
        fail(
            f"saturation(measured) returned {got!r}; the lowest concurrency that reaches 90% of the best "
            f"throughput is {expected}."
        )
    if ns["saturation"]({1: 100.0}) != 1:
        fail("With one measurement, that concurrency is the answer.")
    return f"past concurrency {expected}, more clients only add waiting time."
