"""Micro-batching: requests that arrive together share one forward pass (see docs/ARCHITECTURE.md, 'Micro-batching').

An endpoint ``await``\\ s ``batcher(rows)`` with its own input rows and gets exactly its own rows of the result
back. A request that finds the model idle runs at once, from its own task. While the model is busy, requests
wait and then run together, up to ``max_rows`` rows in one pass in the inference thread; only under load
does the batch wait up to ``max_wait_s`` for more. Past ``queue_limit`` waiting requests, one more gets
:class:`QueueFull` (503 with ``Retry-After``). With ``enabled=False`` every request runs alone, with the same
queue limit: the baseline that notebook 06 and ``make bench`` compare against.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger("course_api.server.batching")

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
    future: asyncio.Future[np.ndarray]


class MicroBatcher:
    """Runs ``function(rows)`` for the rows of many requests at once. ``function`` must return one result row
    per input row, in order (an array of shape ``(len(rows), ...)``), and may run in any thread.

    Create it inside a running event loop (the server's lifespan) and :meth:`close` it at shutdown. The limits
    have no defaults here: the server passes its settings (``course_api.server.settings``, the one source of defaults).
    """

    def __init__(
        self,
        function: BatchFunction,
        executor: Executor,
        *,
        name: str,
        max_rows: int,
        max_wait_s: float,
        queue_limit: int,
        enabled: bool = True,
    ) -> None:
        if max_rows < 1 or queue_limit < 1 or max_wait_s < 0:
            raise ValueError("max_rows and queue_limit must be at least 1, and max_wait_s at least 0.")
        self.function = function
        self.executor = executor
        self.name = name
        self.enabled = enabled
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.queue_limit = queue_limit
        self.stats = BatchStats()
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._in_flight = 0  # requests accepted and not yet answered
        self._arrival = asyncio.Event()
        self._busy = False  # did the last batch find others waiting? Then wait a little for more.
        self._running = False  # a forward pass of this model is in progress
        self._closed = False
        self._loop_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------------ public
    @property
    def queued(self) -> int:
        """Requests accepted and not answered yet (waiting or running)."""
        return self._in_flight

    async def __call__(self, rows: Sequence[Any]) -> np.ndarray:
        """The model's output rows for ``rows`` (one request's inputs), batched with other requests."""
        if self._closed:
            raise self._shutting_down()
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
            future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
            self._waiting.append(_Waiting(rows, future))
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
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        while self._waiting:
            self._fail([self._waiting.popleft()])

    def describe(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "max_rows": self.max_rows,
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
            if batch and rows + len(waiting.rows) > self.max_rows:
                break
            batch.append(self._waiting.popleft())
            rows += len(waiting.rows)
        return batch

    def _waiting_rows(self) -> int:
        return sum(len(w.rows) for w in self._waiting)

    async def _gather_more(self) -> None:
        """Under load only: wait up to max_wait_s for more requests, but stop as soon as arrivals pause."""
        deadline = time.perf_counter() + self.max_wait_s
        while self._waiting_rows() < self.max_rows:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), timeout=min(remaining, self.max_wait_s / 4 or remaining))
            except TimeoutError:
                return  # nobody arrived for a while: go with what we have

    async def _batch_loop(self) -> None:
        while True:
            if not self._waiting or self._running:  # nothing to do, or a request runs at once (_run_now)
                self._arrival.clear()
                await self._arrival.wait()
                continue
            if self._busy and self.max_wait_s > 0:
                await self._gather_more()
            batch = self._take_batch()
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Waiting]) -> None:
        """One forward pass over ``batch`` in the inference thread; each request gets its own rows back."""
        inputs = [row for waiting in batch for row in waiting.rows]
        self._running = True
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(self.executor, self.function, inputs)
        except asyncio.CancelledError:
            self._fail(batch)
            raise
        except Exception as exc:  # the model failed: every request of this batch gets the error
            logger.exception("The %s model failed on a batch of %d", self.name, len(inputs))
            self._fail(batch, exc)
            return
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

    def _fail(self, batch: list[_Waiting], error: Exception | None = None) -> None:
        """Every request of ``batch`` still waiting gets ``error`` (by default: the model is shutting down)."""
        for waiting in batch:
            if not waiting.future.done():
                waiting.future.set_exception(error if error is not None else self._shutting_down())

    def _shutting_down(self) -> BatcherClosed:
        return BatcherClosed(f"The {self.name} model is shutting down.")
