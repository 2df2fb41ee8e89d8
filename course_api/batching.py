"""Micro-batching: requests that arrive together share one forward pass.

Every forward pass has a fixed cost (Python and PyTorch overhead per layer, moving data to the device, on a
GPU the launch of every kernel) that does not depend on how many inputs it holds. So under load, one pass
over 32 inputs is far cheaper than 32 passes over one. A :class:`MicroBatcher` sits between the endpoints
and a model:

* an endpoint ``await``\\ s ``batcher(rows)`` with its own input rows (one image, one text, or a client's
  batch of pixel arrays) and gets exactly its own rows of the result back;
* one loop on the event loop collects what is waiting, up to ``max_batch_size`` rows, and runs the model
  on all of it at once in the **inference thread** (so the event loop never blocks and keeps accepting
  requests while the model runs);
* a request that arrives when the model is idle runs **at once**, in a batch of one, straight from its own
  task (not even a hand-off to the batch loop): batching adds no latency at low load. Only while the
  server is busy (the previous batch found others waiting) does the loop wait up to ``max_wait_s`` for more
  requests to join;
* at most ``queue_limit`` requests wait; one more is refused with :class:`QueueFull` (the server answers
  503 with ``Retry-After``) instead of piling up memory and latency.

With ``enabled=False`` every request runs alone (per-request inference) in the same inference thread, with
the same queue limit: the baseline that notebook 06 and ``make bench`` compare against.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

logger = logging.getLogger("course_api.batching")

BatchFunction = Callable[[Sequence[Any]], np.ndarray]


class QueueFull(RuntimeError):
    """Too many requests are waiting for this model; try again after ``retry_after`` seconds."""

    def __init__(self, name: str, limit: int, retry_after: int = 1) -> None:
        super().__init__(
            f"The server is busy: {limit} requests are already waiting for the {name} model. "
            f"Try again in {retry_after} s."
        )
        self.retry_after = retry_after


class BatcherClosed(RuntimeError):
    """The server is shutting down and runs no more predictions."""


@dataclass
class BatchStats:
    """What a batcher has done so far; ``GET /model`` shows it."""

    requests: int = 0
    rows: int = 0
    batches: int = 0
    largest_batch: int = 0
    rejected: int = 0

    @property
    def mean_batch_rows(self) -> float:
        return self.rows / self.batches if self.batches else 0.0


@dataclass
class _Waiting:
    rows: Sequence[Any]
    future: asyncio.Future
    arrived: float


class MicroBatcher:
    """Runs ``function(rows)`` for the rows of many requests at once. ``function`` must return one result row
    per input row, in order (an array of shape ``(len(rows), ...)``), and may run in any thread.

    Create it inside a running event loop (the server's lifespan) and :meth:`close` it at shutdown.
    """

    def __init__(
        self,
        function: BatchFunction,
        executor: Executor,
        *,
        name: str,
        enabled: bool = True,
        max_batch_size: int = 64,
        max_wait_s: float = 0.002,
        queue_limit: int = 512,
    ) -> None:
        if max_batch_size < 1 or queue_limit < 1 or max_wait_s < 0:
            raise ValueError("max_batch_size and queue_limit must be at least 1, and max_wait_s at least 0.")
        self.function = function
        self.executor = executor
        self.name = name
        self.enabled = enabled
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.queue_limit = queue_limit
        self.stats = BatchStats()
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._in_flight = 0  # requests accepted and not yet answered
        self._arrival = asyncio.Event()
        self._busy = False  # did the last batch find others waiting? Then wait a little for more.
        self._running = False  # a forward pass of this model is in progress
        self._closed = False
        self._loop_task: asyncio.Task | None = None

    # ------------------------------------------------------------------------------------------ public
    @property
    def queued(self) -> int:
        """Requests accepted and not answered yet (waiting or running)."""
        return self._in_flight

    async def __call__(self, rows: Sequence[Any]) -> np.ndarray:
        """The model's output rows for ``rows`` (one request's inputs), batched with other requests."""
        if self._closed:
            raise BatcherClosed(f"The {self.name} model is shutting down.")
        if self._in_flight >= self.queue_limit:
            self.stats.rejected += 1
            raise QueueFull(self.name, self.queue_limit)
        self._in_flight += 1
        self.stats.requests += 1
        try:
            if not self.enabled:
                return await self._run_alone(rows)
            if not self._running and not self._waiting:
                return await self._run_now(rows)  # idle: no hand-off to the batch loop, not even one
            future = asyncio.get_running_loop().create_future()
            self._waiting.append(_Waiting(rows, future, time.perf_counter()))
            self._arrival.set()
            self._ensure_loop()
            return await future
        finally:
            self._in_flight -= 1

    async def close(self) -> None:
        """Stop the batch loop; requests still waiting get :class:`BatcherClosed`."""
        self._closed = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
            self._loop_task = None
        while self._waiting:
            waiting = self._waiting.popleft()
            if not waiting.future.done():
                waiting.future.set_exception(BatcherClosed(f"The {self.name} model is shutting down."))

    def describe(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "max_batch_size": self.max_batch_size,
            "max_wait_ms": round(self.max_wait_s * 1000, 3),
            "queue_limit": self.queue_limit,
            "queued": self.queued,
            "requests": self.stats.requests,
            "batches": self.stats.batches,
            "mean_batch_size": round(self.stats.mean_batch_rows, 2),
            "largest_batch": self.stats.largest_batch,
            "rejected": self.stats.rejected,
        }

    # ------------------------------------------------------------------------------------------ inside
    async def _run_alone(self, rows: Sequence[Any]) -> np.ndarray:
        result = await asyncio.get_running_loop().run_in_executor(self.executor, self.function, rows)
        self._count(len(rows))
        return result

    async def _run_now(self, rows: Sequence[Any]) -> np.ndarray:
        """The model is idle: run this request at once, from its own task. Requests that arrive meanwhile
        queue up, and the batch loop runs them together as soon as this one is done."""
        self._running = True
        try:
            return await self._run_alone(rows)
        finally:
            self._running = False
            self._busy = bool(self._waiting)
            if self._waiting:
                self._ensure_loop()
                self._arrival.set()

    def _ensure_loop(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._batch_loop(), name=f"batcher-{self.name}")

    def _count(self, rows: int) -> None:
        self.stats.batches += 1
        self.stats.rows += rows
        self.stats.largest_batch = max(self.stats.largest_batch, rows)

    def _take_batch(self) -> list[_Waiting]:
        """The waiting requests that fit in one batch (always at least one, even if it alone is larger)."""
        batch: list[_Waiting] = []
        rows = 0
        while self._waiting:
            waiting = self._waiting[0]
            if waiting.future.done():  # cancelled: the client went away
                self._waiting.popleft()
                continue
            if batch and rows + len(waiting.rows) > self.max_batch_size:
                break
            batch.append(self._waiting.popleft())
            rows += len(waiting.rows)
        return batch

    def _waiting_rows(self) -> int:
        return sum(len(w.rows) for w in self._waiting)

    async def _gather_more(self) -> None:
        """Under load only: wait up to max_wait_s for more requests, but stop as soon as arrivals pause."""
        deadline = time.perf_counter() + self.max_wait_s
        while self._waiting_rows() < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), timeout=min(remaining, self.max_wait_s / 4 or remaining))
            except asyncio.TimeoutError:
                return  # nobody arrived for a while: go with what we have

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting or self._running:  # nothing to do, or a request runs at once (_run_now)
                self._arrival.clear()
                await self._arrival.wait()
                continue
            if self._busy and self.max_wait_s > 0:
                await self._gather_more()
            batch = self._take_batch()
            if not batch:
                continue
            inputs = [row for waiting in batch for row in waiting.rows]
            self._running = True
            try:
                outputs = await loop.run_in_executor(self.executor, self.function, inputs)
            except asyncio.CancelledError:
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(BatcherClosed(f"The {self.name} model is shutting down."))
                raise
            except Exception as exc:  # the model failed: every request of this batch gets the error
                logger.exception("The %s model failed on a batch of %d", self.name, len(inputs))
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            finally:
                self._running = False
            self._count(len(inputs))
            start = 0
            for waiting in batch:
                end = start + len(waiting.rows)
                if not waiting.future.done():
                    waiting.future.set_result(outputs[start:end])
                start = end
            self._busy = bool(self._waiting)  # others arrived while the model ran: we are under load
