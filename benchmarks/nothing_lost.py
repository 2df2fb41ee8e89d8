"""Load with nothing lost: many clients at once, a mix of endpoints, and every answer checked.

    python -m benchmarks.nothing_lost                      # 20 s, 64 clients, a fresh server on 127.0.0.1
    python -m benchmarks.nothing_lost --seconds 5 --concurrency 32 --queue-limit 16
    python -m benchmarks.nothing_lost --url http://127.0.0.1:8000 --pid 12345

It starts ``course-api serve`` on 127.0.0.1 and a free port (or uses ``--url``), then ``--concurrency``
clients send requests for ``--seconds``: texts with known sentiment, held-out digit images, batches of pixel
arrays, items and health checks. Each request's answer is checked against what the model gives for *that*
input, computed beforehand in this process (so an answer that went to the wrong request is caught). It counts

* answers: 2xx, the documented 503 (a full queue, with ``Retry-After`` and problem details), anything else;
* socket errors (refused, reset, timed out): there must be none;
* wrong answers: there must be none;

and afterwards checks that both model queues are empty again (``GET /model``) and how much the server's
resident memory grew. It exits 0 when nothing was lost, 1 otherwise, and can write the figures as JSON.
Requests go only to 127.0.0.1 (or the ``--url`` you give), and stop after ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.servers import CourseServer, memory_mib

if TYPE_CHECKING:
    import httpx2

TOLERANCE = 2e-3  # probabilities may differ this much between devices; a mix-up differs far more


# ------------------------------------------------------------------------------------- what to send
@dataclass
class Workload:
    """Inputs with their expected answers, computed offline with the same models on the CPU."""

    texts: list[tuple[str, np.ndarray]]
    images: list[tuple[bytes, np.ndarray]]
    pixels: np.ndarray  # (N, 8, 8) held-out digits
    pixel_probabilities: np.ndarray  # (N, 10)

    @classmethod
    def build(cls) -> Workload:
        from importlib import resources

        from course_api.samples import digit_png
        from course_api.server.datasets import digits_split
        from course_api.server.imaging import decode_image, digit_pixels
        from course_api.server.inference import ModelService
        from course_api.server.settings import default_weights_dir

        service = ModelService.load(default_weights_dir(), "cpu")
        lines = (resources.files("course_api") / "data" / "sentiment_eval.tsv").read_text(encoding="utf-8").splitlines()
        sentences = [line.split("\t", 1)[1] for line in lines if line and not line.startswith("#")]
        sentences += ["I love this course 😀", "Das ist gut", "not bad at all", "okay", "😡😡😡"]
        texts = list(zip(sentences, service.sentiment_probabilities(sentences), strict=True))
        pngs = [digit_png(d, index) for d in range(10) for index in range(5)]
        arrays = np.stack([digit_pixels(decode_image(png, max_pixels=10**7)) for png in pngs])
        images = list(zip(pngs, service.digit_probabilities(arrays), strict=True))
        _, x_test, _, _ = digits_split()
        x_test = np.asarray(x_test, dtype=np.float32)
        return cls(texts, images, x_test, service.digit_probabilities(x_test))


@dataclass
class Request:
    kind: str
    method: str
    path: str
    options: dict[str, Any]
    check: Callable[[Any], str | None]  # the parsed JSON answer -> None when right, else what is wrong


def _close(got: Any, expected: np.ndarray) -> bool:
    return len(got) == len(expected) and bool(np.allclose(np.asarray(got, dtype=np.float64), expected, atol=TOLERANCE))


def make_request(workload: Workload, rng: random.Random, worker: int, number: int) -> Request:
    roll = rng.random()
    if roll < 0.30:
        text, expected = rng.choice(workload.texts)

        def check_text(body: Any) -> str | None:
            got = [body["probabilities"]["negative"], body["probabilities"]["positive"]]
            label = "positive" if expected[1] > expected[0] else "negative"
            return None if body["label"] == label and _close(got, expected) else f"{text!r}: got {body}"

        return Request("text", "POST", "/predict/text", {"json": {"text": text}}, check_text)
    if roll < 0.55:
        png, expected = rng.choice(workload.images)

        def check_image(body: Any) -> str | None:
            ok = body["digit"] == int(expected.argmax()) and _close(body["probabilities"], expected)
            return None if ok else f"image of a {int(expected.argmax())}: got digit {body['digit']}"

        return Request(
            "image", "POST", "/predict/image", {"files": {"file": ("digit.png", png, "image/png")}}, check_image
        )
    if roll < 0.80:
        chosen = [rng.randrange(len(workload.pixels)) for _ in range(rng.randint(1, 8))]

        def check_pixels(body: Any) -> str | None:
            predictions = body["predictions"]
            if len(predictions) != len(chosen):
                return f"{len(chosen)} images sent, {len(predictions)} predictions back"
            for index, prediction in zip(chosen, predictions, strict=True):
                expected = workload.pixel_probabilities[index]
                if prediction["digit"] != int(expected.argmax()) or not _close(prediction["probabilities"], expected):
                    return f"held-out image {index}: got digit {prediction['digit']}"
            return None

        payload = {"images": workload.pixels[chosen].tolist()}
        return Request("pixels", "POST", "/predict/pixels", {"json": payload}, check_pixels)
    if roll < 0.95:
        item_id, q = worker * 1_000_000 + number, f"w{worker}-n{number}-é😀"

        def check_item(body: Any) -> str | None:
            return None if body == {"item_id": item_id, "q": q} else f"item {item_id}: got {body}"

        return Request("item", "GET", f"/items/{item_id}", {"params": {"q": q}}, check_item)
    return Request("health", "GET", "/", {}, lambda body: None if body.get("message") == "OK" else f"health: {body}")


# ------------------------------------------------------------------------------------------- counts
@dataclass
class Report:
    url: str
    seconds: float
    concurrency: int
    sent: int = 0
    ok: int = 0
    busy_503: int = 0
    other_status: dict[str, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    wrong: int = 0
    wrong_examples: list[str] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)
    requests_per_second: float = 0.0
    queued_after: dict[str, int] = field(default_factory=dict)
    batching: dict[str, Any] = field(default_factory=dict)
    rss_mib_before: float | None = None
    rss_mib_after: float | None = None
    peak_mib: float | None = None
    rss_growth_limit_mib: float = 100.0

    @property
    def answered(self) -> int:
        return self.ok + self.busy_503 + sum(self.other_status.values())

    def problems(self) -> list[str]:
        found = []
        if self.other_status:
            found.append(f"answers other than 2xx or 503: {self.other_status}")
        if self.socket_errors:
            found.append(f"socket errors: {self.socket_errors}")
        if self.wrong:
            found.append(f"{self.wrong} wrong answers, e.g. {self.wrong_examples[:3]}")
        if self.answered != self.sent:
            found.append(f"{self.sent} requests sent, {self.answered} answered")
        if any(self.queued_after.values()):
            found.append(f"queues not empty afterwards: {self.queued_after}")
        if self.rss_mib_before is not None and self.rss_mib_after is not None:
            growth = self.rss_mib_after - self.rss_mib_before
            if growth > self.rss_growth_limit_mib:
                found.append(f"resident memory grew by {growth:.0f} MiB (limit {self.rss_growth_limit_mib:.0f})")
        if self.ok == 0:
            found.append("no request succeeded")
        return found

    def summary(self) -> str:
        memory = ""
        if self.rss_mib_before is not None:
            memory = (
                f"; server memory {self.rss_mib_before:.0f} -> {self.rss_mib_after:.0f} MiB resident, "
                f"peak {self.peak_mib:.0f} MiB"
            )
        return (
            f"{self.sent} requests in {self.seconds:.1f} s from {self.concurrency} clients "
            f"({self.requests_per_second:.0f}/s): {self.ok} ok, {self.busy_503} busy (503), "
            f"{sum(self.other_status.values())} other, {sum(self.socket_errors.values())} socket errors, "
            f"{self.wrong} wrong; queued afterwards {self.queued_after}{memory}; mix {self.by_kind}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "answered": self.answered, "problems": self.problems()}


# --------------------------------------------------------------------------------------------- load
async def run_load(
    url: str,
    *,
    seconds: float,
    concurrency: int,
    workload: Workload,
    pid: int | None = None,
    seed: int = 6,
    rss_growth_limit_mib: float = 100.0,
) -> Report:
    """``concurrency`` clients send the mix to ``url`` for ``seconds``; every answer is checked."""
    import httpx2

    report = Report(url, seconds, concurrency, rss_growth_limit_mib=rss_growth_limit_mib)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        # Warm up (every kind once) before the memory baseline.
        rng = random.Random(seed)
        for number in range(40):
            request = make_request(workload, rng, 999, number)
            (await client.request(request.method, request.path, **request.options)).raise_for_status()
        if pid is not None:
            report.rss_mib_before = memory_mib(pid)["VmRSS"]
        kinds: Counter[str] = Counter()
        other: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        deadline = time.monotonic() + seconds

        async def worker(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            number = 0
            while time.monotonic() < deadline:
                request = make_request(workload, rng, index, number)
                number += 1
                kinds[request.kind] += 1
                report.sent += 1
                try:
                    response = await client.request(request.method, request.path, **request.options)
                except httpx2.TransportError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                _record(report, other, request, response)

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
        report.seconds = round(elapsed, 2)
        report.requests_per_second = round(report.sent / elapsed, 1)
        report.by_kind, report.other_status, report.socket_errors = dict(kinds), dict(other), dict(errors)
        await _check_queues(client, report)
    if pid is not None:
        memory = memory_mib(pid)
        report.rss_mib_after, report.peak_mib = memory["VmRSS"], memory["VmHWM"]
    return report


def _record(report: Report, other: Counter[str], request: Request, response: httpx2.Response) -> None:
    """Count one answer: 2xx (its body checked), the documented 503, or anything else."""
    if response.status_code == 503:
        body = response.json()
        if "Retry-After" in response.headers and body.get("status") == 503 and body.get("detail"):
            report.busy_503 += 1
        else:
            other["503 without Retry-After or problem details"] += 1
    elif 200 <= response.status_code < 300:
        report.ok += 1
        wrong = request.check(response.json())
        if wrong:
            report.wrong += 1
            if len(report.wrong_examples) < 10:
                report.wrong_examples.append(wrong)
    else:
        other[str(response.status_code)] += 1


async def _check_queues(client: httpx2.AsyncClient, report: Report) -> None:
    """Every answer has arrived, so nothing may still wait in a queue: the queues and batch figures after."""
    for _ in range(50):
        info = (await client.get("/model")).json()["batching"]
        report.queued_after = {name: stats["queued"] for name, stats in info.items()}
        if not any(report.queued_after.values()):
            break
        await asyncio.sleep(0.1)
    report.batching = {
        name: {k: stats[k] for k in ("requests", "batches", "mean_batch_size", "largest_batch", "rejected")}
        for name, stats in info.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nothing_lost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send requests (default 20)")
    parser.add_argument("--concurrency", type=int, default=64, help="clients at once (default 64)")
    parser.add_argument("--url", help="a running server to test (default: start one on 127.0.0.1)")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, to measure its memory")
    parser.add_argument("--device", default="cpu", help="device of the server this script starts (default cpu)")
    parser.add_argument("--queue-limit", type=int, help="COURSE_API_QUEUE_LIMIT of that server (small: see 503s)")
    parser.add_argument("--max-rss-growth", type=float, default=100.0, help="MiB the server may grow (default 100)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.seconds > 600 or args.concurrency < 1:
        parser.error("--seconds must be in (0, 600] and --concurrency at least 1")

    print("Computing the expected answers offline ...", flush=True)
    workload = Workload.build()

    def load(url: str, pid: int | None) -> Report:
        return asyncio.run(
            run_load(
                url,
                seconds=args.seconds,
                concurrency=args.concurrency,
                workload=workload,
                pid=pid,
                rss_growth_limit_mib=args.max_rss_growth,
            )
        )

    if args.url:
        report = load(args.url, args.pid)
    else:
        with CourseServer(device=args.device, queue_limit=args.queue_limit) as server:
            print(
                f"Server on {server.url} (pid {server.pid}); {args.concurrency} clients for {args.seconds:g} s ...",
                flush=True,
            )
            report = load(server.url, server.pid)
    print(report.summary())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
    problems = report.problems()
    for problem in problems:
        print("LOST:", problem, file=sys.stderr)
    print("Nothing lost." if not problems else "Something was lost.")
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
