"""Checks for notebook 06, going further: a load generator, micro-batching, finding where a server saturates."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from course_api.workbook.checks.registry import exercise, fail

if TYPE_CHECKING:
    import numpy as np
    from fastapi import FastAPI

NOTEBOOK = "notebooks/06_going_further.ipynb"
CONCURRENCY, TOTAL = 4, 42  # 42 is no multiple of 4: total // concurrency requests per worker sends 40


# ---------------------------------------------------------------------------------------------- 06.1 load
def _slow_counting_app(state: dict[str, int]) -> FastAPI:
    """An app whose / takes 20 ms and counts in ``state`` the requests and the most in flight at once; its
    /broken answers 503."""
    from fastapi import FastAPI, HTTPException

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

    @app.get("/broken")
    def broken() -> dict:
        raise HTTPException(status_code=503, detail="Down for the check")

    return app


@contextmanager
def _recording_timeouts(seen: list[Any]) -> Iterator[None]:
    """While inside, every request sent with ``requests`` appends its ``timeout=`` to ``seen``."""
    from unittest import mock

    import requests

    original = requests.Session.request

    def recording(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("timeout"))
        return original(self, method, url, *args, **kwargs)

    with mock.patch.object(requests.Session, "request", recording):
        yield


def _check_latencies(latencies: Any) -> None:
    """Fail unless ``latencies`` is a list of TOTAL per-request times in milliseconds."""
    if not isinstance(latencies, list):
        fail(f"run_load returned {type(latencies).__name__}; it should return a list, one latency (ms) per request.")
    if len(latencies) != TOTAL:
        kind = f" of {type(latencies[0]).__name__}" if latencies else ""
        fail(f"run_load returned a list of {len(latencies)} items{kind}; expected {TOTAL}, one latency per request.")
    odd = next((x for x in latencies if not isinstance(x, int | float)), None)
    if odd is not None:
        what = type(odd).__name__
        fix = " call .result() on each Future (or use pool.map)" if what == "Future" else " return numbers"
        fail(f"run_load returned a list of {what} objects, not numbers:{fix}.")
    if min(latencies) < 15:
        fail(
            f"Latencies range from {min(latencies):.3g} to {max(latencies):.3g}, but each request takes at least "
            "20 ms: these look like seconds. Multiply time.perf_counter() differences by 1000 for milliseconds."
        )


def _check_little(latencies: list[float], seconds: float) -> None:
    """Fail when the latencies add up to more waiting than CONCURRENCY clients can do in ``seconds``."""
    if sum(latencies) / 1000 > CONCURRENCY * seconds * 1.1 + 0.05:
        fail(
            f"Your latencies add up to {sum(latencies) / 1000:.1f} s, more than {CONCURRENCY} clients can wait in "
            f"the {seconds:.2f} s the test took (Little's law): time each request on its own, starting the clock "
            "just before it is sent, inside the function that sends it."
        )


@exercise(
    "06.1",
    "a bounded load generator",
    needs=("run_load",),
    points=2,
    hints=(
        f"Read section 3 of {NOTEBOOK}, 'Latency against concurrency': `measure` runs clients in a "
        "ThreadPoolExecutor and `client` times each request. How do you bound how many run at once?",
        "A ThreadPoolExecutor with max_workers=concurrency never runs more than that many tasks at once. Give it "
        "`total` tasks, each sending one GET (with a timeout= and raise_for_status()) and returning its time in "
        "milliseconds; pool.map gives their results back in the order of its inputs.",
        "Write a function one_request(_) that takes time.perf_counter() before and after requests.get(url, "
        "timeout=10).raise_for_status() and returns the difference times 1000; then, inside `with "
        "ThreadPoolExecutor(max_workers=concurrency) as pool:`, return list(pool.map(one_request, range(total))).",
    ),
)
def _06_1(ns: dict[str, Any]) -> str:
    from course_api.workbook.background import serve_in_background

    run_load = ns["run_load"]
    if not callable(run_load):
        fail(f"`run_load` should be a function, run_load(url, concurrency, total); it is a {type(run_load).__name__}.")
    state = {"count": 0, "in_flight": 0, "peak": 0}
    timeouts: list[Any] = []
    with _recording_timeouts(timeouts), serve_in_background(_slow_counting_app(state), name="load-check") as server:
        started = time.perf_counter()
        latencies = run_load(server.url + "/", concurrency=CONCURRENCY, total=TOTAL)
        seconds = time.perf_counter() - started
        if state["count"] != TOTAL:
            fail(
                f"The server saw {state['count']} requests; run_load(url, concurrency={CONCURRENCY}, total={TOTAL}) "
                f"should send exactly {TOTAL}, whatever the concurrency."
            )
        _check_latencies(latencies)
        if state["peak"] > CONCURRENCY:
            fail(f"Up to {state['peak']} requests were in flight at once; never more than concurrency={CONCURRENCY}.")
        if state["peak"] < 2:
            fail(
                "The requests ran one after another: send them from a ThreadPoolExecutor(max_workers=concurrency), "
                "and do not wait for one response (.result()) before submitting the next request."
            )
        _check_little(latencies, seconds)
        _check_failures_raise(run_load, server.url + "/broken")
    if any(timeout is None for timeout in timeouts):
        fail("run_load sends requests without timeout=: one server that never answers would hang your test forever.")
    return f"{TOTAL} requests, at most {CONCURRENCY} at a time, in {seconds:.2f} s."


def _check_failures_raise(run_load: Callable[..., Any], url: str) -> None:
    """Fail when ``run_load`` returns normally for requests that all fail with 503."""
    try:
        run_load(url, concurrency=2, total=4)
    except Exception:  # any error will do: a failed request must not look like a fast response
        return
    fail(
        "run_load returned latencies for requests that all failed with 503: call response.raise_for_status(), "
        "so a broken server cannot look fast."
    )


# ----------------------------------------------------------------------------------------- 06.2 batching
def _batch_calls(ns: dict[str, Any], images: np.ndarray, batch_size: int) -> tuple[list[int], Any]:
    """(the size of each batch predict_batched gives the model, what predict_batched returns)."""
    service = ns["service"]
    calls: list[int] = []
    original = service.digit_probabilities

    def counting(batch: Any) -> np.ndarray:
        import numpy as np

        calls.append(len(np.asarray(batch)) if np.ndim(batch) != 2 else 1)
        return original(batch)

    service.digit_probabilities = counting
    try:
        result = ns["predict_batched"](images, batch_size=batch_size)
    finally:
        service.digit_probabilities = original
    return calls, result


def _check_calls(calls: list[int], batch_size: int, total: int) -> None:
    """Fail unless the model saw all ``total`` images in as few batches of at most ``batch_size`` as possible."""
    expected = [min(batch_size, total - start) for start in range(0, total, batch_size)]
    if sum(calls) == total and len(calls) == len(expected) and max(calls) <= batch_size:
        return  # [16, 16, 16, 2], or chunks of even size such as np.array_split gives
    if not calls:
        fail("predict_batched never called service.digit_probabilities: run the model on each chunk of images.")
    if len(calls) == total:
        fail(f"The model ran {total} times, once per image: that is no batching. Give it chunks of batch_size images.")
    if calls == expected[:-1]:
        fail(
            f"The model saw batches of {calls}: the last {expected[-1]} images were never predicted. The last chunk "
            "is shorter than batch_size; keep it (a range up to len(images), not len(images) - batch_size)."
        )
    if calls == expected[: len(calls)]:
        times = "once" if len(calls) == 1 else f"only {len(calls)} times"
        fail(f"The model ran {times}, then predict_batched stopped: is `return` inside your loop?")
    if batch_size != 16 and calls == [16, 16, 16, 2]:
        fail(f"With batch_size={batch_size} you still made batches of 16: use the argument, not a fixed number.")
    fail(
        f"The model saw batches of {calls}; {total} images in batches of {batch_size} should be {expected}: "
        f"consecutive chunks that start at 0, {batch_size}, {2 * batch_size}, ... and end batch_size later."
    )


def _check_result(result: Any, expected: np.ndarray, batch_size: int) -> None:
    """Fail unless ``result`` is one (N, 10) array equal to ``expected``."""
    import numpy as np

    if isinstance(result, list | tuple) and result and all(isinstance(r, np.ndarray) for r in result):
        fail(
            f"predict_batched returned a list of {len(result)} arrays, one per batch: join them into one array "
            "with np.concatenate."
        )
    shape = np.shape(result)
    if shape != expected.shape:
        last = len(expected) % batch_size or batch_size
        only_last = " (only the last batch's rows? keep every batch's result)" if shape[:1] == (last,) else ""
        fail(
            f"predict_batched returned shape {shape}; expected {expected.shape}, a row of 10 probabilities per "
            f"image, in order{only_last}."
        )
    if not np.allclose(np.asarray(result, dtype=float), expected, atol=1e-5):
        fail(
            "Batched probabilities differ from unbatched ones: keep the images in order and join the results in order."
        )


@exercise(
    "06.2",
    "micro-batching by hand",
    needs=("predict_batched", "service"),
    points=2,
    hints=(
        f"Read section 4 of {NOTEBOOK}, 'Micro-batching': the cells that compare 64 passes of 1 image with 1 pass "
        "of 64 images. What shape goes into service.digit_probabilities, and what shape comes out?",
        "Cut the images into consecutive chunks of at most batch_size: start at 0, then batch_size, 2 * batch_size, "
        "... up to len(images); the last chunk may be shorter. Run the model once per chunk, keep every result in "
        "a list, and join the list into one array at the end.",
        "range(0, len(images), batch_size) gives each chunk's start i, images[i : i + batch_size] the chunk; "
        "np.concatenate(list_of_results) joins the (n, 10) arrays into one (N, 10) array.",
    ),
)
def _06_2(ns: dict[str, Any]) -> str:
    from course_api.server.datasets import digits_split

    if not callable(ns["predict_batched"]):
        fail("`predict_batched` should be a function, predict_batched(images, batch_size).")
    images = digits_split()[1][:50]
    expected = ns["service"].digit_probabilities(images)
    for batch_size in (16, 20):
        calls, result = _batch_calls(ns, images, batch_size)
        _check_calls(calls, batch_size, len(images))
        _check_result(result, expected, batch_size)
    return "4 forward passes instead of 50 (3 with batch_size=20), and the same probabilities."


# --------------------------------------------------------------------------------------- 06.3 saturation
def _saturation_of(measured: dict[int, float]) -> int:
    best = max(measured.values())
    return min(c for c, throughput in measured.items() if throughput >= 0.9 * best)


def _saturation_message(got: Any, measured: dict[int, float], expected: int) -> str:
    """Why saturation(measured) returning ``got`` instead of ``expected`` is wrong, for a beginner."""
    call = f"saturation({measured}) returned {got!r}"
    if isinstance(got, list | tuple | set | dict):
        return f"{call}: return one concurrency, an int (the smallest that qualifies), not a {type(got).__name__}."
    if got in measured.values() and got not in measured:
        return f"{call}: that is a throughput (a value of the dict); return the concurrency (its key), {expected}."
    best = max(measured.values())
    first = next(c for c, t in measured.items() if t >= 0.9 * best)
    if list(measured) != sorted(measured) and got == first:
        return (
            f"{call}; expected {expected}. The dict is not in order here, and you returned the first concurrency "
            "that qualifies: take the smallest one (min), whatever order the dict lists them in."
        )
    if got == min((c for c, t in measured.items() if t > 0.9 * best), default=None):
        return f"{call}: 'at least 90%' includes exactly 90%, so compare with >=, not >. Expected {expected}."
    if got == max(measured, key=lambda c: measured[c]):
        return (
            f"{call}: that is where throughput is highest; the question is the lowest concurrency that reaches "
            f"90% of that best throughput, here {expected}."
        )
    return (
        f"{call}; expected {expected}, the lowest concurrency whose throughput is at least 0.9 times the best "
        "throughput (the largest value)."
    )


@exercise(
    "06.3",
    "where the server saturates",
    needs=("saturation",),
    points=1,
    hints=(
        f"Read section 3 of {NOTEBOOK}, 'Latency against concurrency', and the paragraph after its plots: where "
        "does throughput stop growing? Which numbers of `measured` are concurrencies, and which are throughputs?",
        "First find the best throughput (the largest value of the dict). Then, among the concurrencies (the keys) "
        "whose throughput is at least 90% of that best, return the smallest. Use >=: exactly 90% counts.",
        "best = max(measured.values()); then min(...) over the keys c of measured.items() whose throughput is "
        ">= 0.9 * best.",
    ),
)
def _06_3(ns: dict[str, Any]) -> str:
    saturation = ns["saturation"]
    if not callable(saturation):
        fail("`saturation` should be a function, saturation(measured), that returns a concurrency.")
    default = {1: 105.0, 2: 190.0, 4: 330.0, 8: 345.0, 16: 350.0}
    given = ns.get("measured")
    measured: dict[int, float] = given if isinstance(given, dict) and given else default
    datasets = [
        dict(measured),
        {1: 100.0, 2: 110.0, 4: 200.0, 8: 210.0, 16: 212.0},
        {16: 350.0, 1: 105.0, 8: 345.0, 4: 330.0, 2: 190.0},
        {1: 45.0, 2: 48.0, 4: 50.0},
        {1: 100.0},
    ]
    for data in datasets:
        expected = _saturation_of(data)
        got = saturation(dict(data))
        if got != expected or isinstance(got, bool):
            fail(_saturation_message(got, data, expected))
    return f"past concurrency {_saturation_of(measured)}, more clients only add waiting time."
