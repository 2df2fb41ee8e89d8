"""Streaming text from the generator: one character per step, each step in the inference thread.

``async for char in streamer.stream(prompt, max_tokens, temperature=0.8, seed=0)`` gives the characters one at a
time. Every step (reading the prompt, then each character) runs in the inference thread that all forward passes
of the server share, never on the event loop, and the event loop waits for it between characters. So when the task
that iterates is cancelled (the client went away and the server stops its answer), no further step starts: the
work stops within one character. ``stats`` counts what was done (``GET /model`` shows it): ``tokens`` stops growing
as soon as no stream is left, and ``stopped`` counts the streams that ended before their last character.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from concurrent.futures import Executor
from dataclasses import asdict, dataclass

import torch

from course_api.server.models.generator import CharGRU, advance, pick, prime


@dataclass
class StreamStats:
    """What the streamer has done since the server started."""

    streams: int = 0  # running now
    requests: int = 0
    tokens: int = 0  # characters written, over every stream
    completed: int = 0
    stopped: int = 0  # ended early: the client went away, or the server is shutting down


@dataclass
class _Place:
    """One stream's place in its text: the GRU's hidden state, the next character's scores, its random draws."""

    state: torch.Tensor
    logits: torch.Tensor
    rng: torch.Generator


class Streamer:
    """Runs the generator for many streams at once, one step at a time each, in ``executor`` (one thread)."""

    def __init__(self, model: CharGRU, device: torch.device, executor: Executor) -> None:
        self.model = model
        self.device = device
        self.executor = executor
        self.stats = StreamStats()
        self.closed = False

    async def stream(self, prompt: str, max_tokens: int, *, temperature: float, seed: int) -> AsyncGenerator[str, None]:
        """The characters that follow ``prompt``, at most ``max_tokens`` of them; fewer if the server shuts down."""
        loop = asyncio.get_running_loop()
        self.stats.requests += 1
        self.stats.streams += 1
        written = 0
        try:
            place = await loop.run_in_executor(self.executor, self._start, prompt, seed)
            while written < max_tokens and not self.closed:
                char = await loop.run_in_executor(self.executor, self._step, place, temperature)
                written += 1
                yield char
        finally:
            self.stats.streams -= 1
            if written == max_tokens:
                self.stats.completed += 1
            else:
                self.stats.stopped += 1

    def close(self) -> None:
        """Let every stream end after its current character (at shutdown)."""
        self.closed = True

    def describe(self) -> dict[str, int]:
        return asdict(self.stats)

    # ------------------------------------------------------------------ the steps, in the inference thread
    def _start(self, prompt: str, seed: int) -> _Place:
        with torch.inference_mode():
            state, logits = prime(self.model, prompt, self.device)
        return _Place(state, logits, torch.Generator().manual_seed(seed))

    def _step(self, place: _Place, temperature: float) -> str:
        with torch.inference_mode():
            char_id = pick(place.logits, temperature, place.rng)
            place.state, place.logits = advance(self.model, char_id, place.state)
        self.stats.tokens += 1
        return self.model.chars[char_id]
