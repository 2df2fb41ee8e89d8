"""Lesson 06, going further: answers students write for the exercises of solutions/06_going_further.ipynb."""

from __future__ import annotations

from corpus import correct, mistake

RESET = """
measured = {1: 105.0, 2: 190.0, 4: 330.0, 8: 345.0, 16: 350.0}
"""


def load(body: str) -> str:
    """A 06.1 answer: run_load with ``body`` (indented by 4) as its code."""
    lines = "".join(f"    {line}\n" if line else "\n" for line in body.strip("\n").splitlines())
    return f"def run_load(url, concurrency, total):\n{lines}"


ONE_REQUEST = """def one_request(_):
    started = time.perf_counter()
    requests.get(url, timeout=10).raise_for_status()
    return (time.perf_counter() - started) * 1000
"""

CASES = [
    # 06.1 a bounded load generator
    mistake(
        "06.1",
        "a plain loop: one request after another",
        load(
            """
latencies = []
for _ in range(total):
    started = time.perf_counter()
    requests.get(url, timeout=10).raise_for_status()
    latencies.append((time.perf_counter() - started) * 1000)
return latencies
"""
        ),
        "one after another",
    ),
    mistake(
        "06.1",
        "submits, then waits for each result at once",
        load(
            ONE_REQUEST
            + """
latencies = []
with ThreadPoolExecutor(max_workers=concurrency) as pool:
    for number in range(total):
        latencies.append(pool.submit(one_request, number).result())
return latencies
"""
        ),
        "one after another",
        ".result()",
    ),
    mistake(
        "06.1",
        "one thread per request: not bounded",
        load(
            ONE_REQUEST
            + """
with ThreadPoolExecutor(max_workers=total) as pool:
    return list(pool.map(one_request, range(total)))
"""
        ),
        "never more than concurrency",
    ),
    mistake(
        "06.1",
        "latencies in seconds",
        load(
            """
def one_request(_):
    started = time.perf_counter()
    requests.get(url, timeout=10).raise_for_status()
    return time.perf_counter() - started

with ThreadPoolExecutor(max_workers=concurrency) as pool:
    return list(pool.map(one_request, range(total)))
"""
        ),
        "seconds",
        "1000",
    ),
    mistake(
        "06.1",
        "one clock for the whole test, not per request",
        load(
            """
started = time.perf_counter()

def one_request(_):
    requests.get(url, timeout=10).raise_for_status()
    return (time.perf_counter() - started) * 1000

with ThreadPoolExecutor(max_workers=concurrency) as pool:
    return list(pool.map(one_request, range(total)))
"""
        ),
        "time each request on its own",
    ),
    mistake(
        "06.1",
        "each worker sends total // concurrency requests",
        load(
            ONE_REQUEST
            + """
def worker(_):
    return [one_request(n) for n in range(total // concurrency)]

with ThreadPoolExecutor(max_workers=concurrency) as pool:
    return [latency for part in pool.map(worker, range(concurrency)) for latency in part]
"""
        ),
        "exactly 42",
    ),
    mistake(
        "06.1",
        "no timeout",
        load(
            """
def one_request(_):
    started = time.perf_counter()
    requests.get(url).raise_for_status()
    return (time.perf_counter() - started) * 1000

with ThreadPoolExecutor(max_workers=concurrency) as pool:
    return list(pool.map(one_request, range(total)))
"""
        ),
        "without timeout=",
    ),
    mistake(
        "06.1",
        "no raise_for_status: failures look fast",
        load(
            """
def one_request(_):
    started = time.perf_counter()
    requests.get(url, timeout=10)
    return (time.perf_counter() - started) * 1000

with ThreadPoolExecutor(max_workers=concurrency) as pool:
    return list(pool.map(one_request, range(total)))
"""
        ),
        "raise_for_status",
    ),
    mistake(
        "06.1",
        "returns the futures, not their results",
        load(
            ONE_REQUEST
            + """
with ThreadPoolExecutor(max_workers=concurrency) as pool:
    return [pool.submit(one_request, n) for n in range(total)]
"""
        ),
        "Future",
        ".result()",
    ),
    mistake(
        "06.1",
        "forgets to return the list",
        load(
            ONE_REQUEST
            + """
with ThreadPoolExecutor(max_workers=concurrency) as pool:
    latencies = list(pool.map(one_request, range(total)))
"""
        ),
        "returned NoneType",
    ),
    correct(
        "06.1",
        "submit and as_completed, a session per request",
        """
from concurrent.futures import as_completed


def run_load(url, concurrency, total):
    def timed_get(_):
        with requests.Session() as session:
            start = time.perf_counter()
            response = session.get(url, timeout=5)
            elapsed = time.perf_counter() - start
        response.raise_for_status()
        return elapsed * 1000

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(timed_get, n) for n in range(total)]
        return [future.result() for future in as_completed(futures)]
""",
    ),
    correct(
        "06.1",
        "urllib.request instead of requests",
        """
import urllib.request


def run_load(url, concurrency, total):
    def one(_):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()
        return 1000 * (time.perf_counter() - started)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, range(total)))
""",
    ),
    # 06.2 micro-batching by hand
    mistake(
        "06.2",
        "drops the last, shorter chunk",
        """
def predict_batched(images, batch_size):
    chunks = []
    for i in range(0, len(images) - batch_size, batch_size):
        chunks.append(service.digit_probabilities(images[i : i + batch_size]))
    return np.concatenate(chunks)
""",
        "never predicted",
        "last chunk",
    ),
    mistake(
        "06.2",
        "one image at a time",
        """
def predict_batched(images, batch_size):
    return np.concatenate([service.digit_probabilities(image) for image in images])
""",
        "once per image",
    ),
    mistake(
        "06.2",
        "returns the list of batches",
        """
def predict_batched(images, batch_size):
    return [service.digit_probabilities(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
""",
        "list of 4 arrays",
        "np.concatenate",
    ),
    mistake(
        "06.2",
        "np.stack instead of np.concatenate",
        """
def predict_batched(images, batch_size):
    chunks = [service.digit_probabilities(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.stack(chunks)
""",
        "all input arrays must have the same shape",
        "np.concatenate",
    ),
    mistake(
        "06.2",
        "a batch size of 16 written in, not the argument",
        """
def predict_batched(images, batch_size=16):
    chunks = [service.digit_probabilities(images[i : i + 16]) for i in range(0, len(images), 16)]
    return np.concatenate(chunks)
""",
        "use the argument",
    ),
    mistake(
        "06.2",
        "return inside the loop",
        """
def predict_batched(images, batch_size):
    results = []
    for start in range(0, len(images), batch_size):
        results.append(service.digit_probabilities(images[start : start + batch_size]))
        return np.concatenate(results)
""",
        "`return` inside your loop",
    ),
    mistake(
        "06.2",
        "keeps only the last batch's answers",
        """
def predict_batched(images, batch_size):
    for start in range(0, len(images), batch_size):
        probabilities = service.digit_probabilities(images[start : start + batch_size])
    return probabilities
""",
        "only the last batch",
    ),
    mistake(
        "06.2",
        "slices up to batch_size instead of i + batch_size",
        """
def predict_batched(images, batch_size):
    chunks = [service.digit_probabilities(images[i:batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(chunks)
""",
        "consecutive chunks",
    ),
    correct(
        "06.2",
        "a while loop and np.vstack",
        """
def predict_batched(images, batch_size):
    parts = []
    start = 0
    while start < len(images):
        parts.append(service.digit_probabilities(images[start : start + batch_size]))
        start += batch_size
    return np.vstack(parts)
""",
    ),
    correct(
        "06.2",
        "np.array_split into the fewest chunks",
        """
import math


def predict_batched(images, batch_size):
    pieces = np.array_split(images, math.ceil(len(images) / batch_size))
    return np.concatenate([service.digit_probabilities(piece) for piece in pieces])
""",
    ),
    # 06.3 where the server saturates
    mistake(
        "06.3",
        "returns the best throughput",
        """
def saturation(measured):
    return max(measured.values())
""",
        "that is a throughput",
        "key",
    ),
    mistake(
        "06.3",
        "returns where throughput is highest",
        """
def saturation(measured):
    return max(measured, key=measured.get)
""",
        "where throughput is highest",
        "90%",
    ),
    mistake(
        "06.3",
        "> instead of >=",
        """
def saturation(measured):
    best = max(measured.values())
    return min(c for c, throughput in measured.items() if throughput > 0.9 * best)
""",
        ">=",
    ),
    mistake(
        "06.3",
        "the first in the dict's order",
        """
def saturation(measured):
    best = max(measured.values())
    for concurrency, throughput in measured.items():
        if throughput >= 0.9 * best:
            return concurrency
""",
        "not in order",
        "min",
    ),
    mistake(
        "06.3",
        "90 requests per second instead of 90% of the best",
        """
def saturation(measured):
    return min(c for c, throughput in measured.items() if throughput >= 90)
""",
        "0.9 times the best",
    ),
    mistake(
        "06.3",
        "returns every concurrency that qualifies",
        """
def saturation(measured):
    best = max(measured.values())
    return [c for c, throughput in sorted(measured.items()) if throughput >= 0.9 * best]
""",
        "not a list",
    ),
    mistake(
        "06.3",
        "stops where the next step gains less than 10%",
        """
def saturation(measured):
    levels = sorted(measured)
    for low, high in zip(levels, levels[1:]):
        if measured[high] < 1.1 * measured[low]:
            return low
    return levels[-1]
""",
        "0.9 times the best",
    ),
    correct(
        "06.3",
        "sorted keys and a ratio",
        """
def saturation(measured):
    best = max(measured.values())
    for concurrency in sorted(measured):
        if measured[concurrency] / best >= 0.9:
            return concurrency
""",
    ),
]
