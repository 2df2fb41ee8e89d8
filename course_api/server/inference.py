"""Running the course models: load once, keep on one device, predict in eval mode under ``inference_mode``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course_api.server.batching import MicroBatcher
from course_api.server.device import DeviceChoice, resolve_device
from course_api.server.generation import Streamer
from course_api.server.models.digits import DIGIT_CLASSES, IMAGE_SIDE, DigitCNN
from course_api.server.models.generator import CharGRU
from course_api.server.models.sentiment import SENTIMENT_LABELS, SentimentModel
from course_api.server.models.store import (
    DIGITS_FILE,
    GENERATOR_FILE,
    SENTIMENT_FILE,
    load_weights,
    read_card,
    read_metadata,
)
from course_api.server.settings import Settings
from course_api.system.cpu import limit_torch_threads


@dataclass
class ModelService:
    """The models on one device, with their cards. Create it with :meth:`load`."""

    digits: DigitCNN
    sentiment: SentimentModel
    generator: CharGRU
    choice: DeviceChoice
    cards: dict[str, dict[str, Any]]
    load_seconds: float = 0.0

    @property
    def device(self) -> torch.device:
        return self.choice.device

    @classmethod
    def load(cls, weights_dir: Path, device: str | torch.device | None = None) -> ModelService:
        """The models from ``weights_dir`` on the device :func:`~course_api.server.device.resolve_device` picks. The
        first load in a process also keeps torch's threads within its usable cores (:mod:`course_api.system.cpu`)."""
        start = time.perf_counter()
        limit_torch_threads()  # before any parallel work, so torch still lets it set the inter-op threads too
        choice = resolve_device(device)
        digits = load_weights(DigitCNN(), weights_dir / DIGITS_FILE, choice.device)
        vocab = json.loads(read_metadata(weights_dir / SENTIMENT_FILE)["vocab"])
        dim = int(read_card(weights_dir / SENTIMENT_FILE).get("dim", 16))
        sentiment = load_weights(SentimentModel(vocab, dim=dim), weights_dir / SENTIMENT_FILE, choice.device)
        generator = load_generator(weights_dir / GENERATOR_FILE, choice.device)
        cards = {
            "digits": read_card(weights_dir / DIGITS_FILE),
            "sentiment": read_card(weights_dir / SENTIMENT_FILE),
            "generator": read_card(weights_dir / GENERATOR_FILE),
        }
        return cls(digits, sentiment, generator, choice, cards, load_seconds=time.perf_counter() - start)

    def digit_probabilities(self, pixels: np.ndarray | Sequence) -> np.ndarray:
        """Probabilities ``(N, 10)`` for a batch of 8x8 images with values 0..16."""
        batch = np.asarray(pixels, dtype=np.float32)
        if batch.ndim == 2:
            batch = batch[None]
        if batch.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise ValueError(f"Expected images of shape (8, 8), got {batch.shape[1:]}.")
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device, non_blocking=True)
            return torch.softmax(self.digits(x), dim=1).cpu().numpy()

    def sentiment_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``(N, 2)`` (negative, positive) for a batch of texts."""
        ids, offsets, weights = self.sentiment.encoder.encode_batch(texts)
        with torch.inference_mode():
            logits = self.sentiment(ids.to(self.device), offsets.to(self.device), weights.to(self.device))
            return torch.softmax(logits, dim=1).cpu().numpy()

    def describe(self) -> dict[str, Any]:
        """What ``GET /model`` shows: device, why, and each model's card."""
        return {
            "device": str(self.device),
            "device_reason": self.choice.reason,
            "load_seconds": round(self.load_seconds, 3),
            "models": {
                "digits": {"classes": list(DIGIT_CLASSES), **self.cards["digits"]},
                "sentiment": {"classes": list(SENTIMENT_LABELS), **self.cards["sentiment"]},
                "generator": {"vocabulary": "".join(self.generator.chars), **self.cards["generator"]},
            },
        }


def load_generator(path: Path, device: torch.device) -> CharGRU:
    """The text generator of ``path``: its characters and sizes from the file's metadata, then its weights."""
    chars = json.loads(read_metadata(path)["vocab"])
    card = read_card(path)
    return load_weights(CharGRU(chars, dim=int(card["dim"]), hidden=int(card["hidden"])), path, device)


class Predictor:
    """How the server reaches the models: every forward pass runs in one inference thread (never on the
    event loop), through one :class:`~course_api.server.batching.MicroBatcher` per model.

    ``await predictor.digits(rows)`` and ``await predictor.sentiment(texts)`` return the probability rows
    for one request's inputs; ``predictor.text.stream(...)`` gives a generated text one character at a time
    (:mod:`course_api.server.generation`), each step in the same thread. Create it in the server's lifespan;
    :meth:`aclose` it at shutdown.
    """

    def __init__(self, service: ModelService, settings: Settings) -> None:
        self.service = service
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="course-api-inference")
        options: dict[str, Any] = {
            "enabled": settings.batching,
            "max_rows": settings.microbatch_max_rows,
            "max_wait_s": settings.microbatch_wait_ms / 1000,
            "queue_limit": settings.queue_limit,
        }
        self.digits = MicroBatcher(service.digit_probabilities, self.executor, name="digits", **options)
        self.sentiment = MicroBatcher(service.sentiment_probabilities, self.executor, name="sentiment", **options)
        self.text = Streamer(service.generator, service.device, self.executor)

    @property
    def device(self) -> torch.device:
        return self.service.device

    async def aclose(self) -> None:
        self.text.close()
        await asyncio.gather(self.digits.close(), self.sentiment.close())
        self.executor.shutdown(wait=True)

    def describe(self) -> dict[str, Any]:
        """``GET /model``: the service's description plus what each batcher and the text streamer have done."""
        return {
            **self.service.describe(),
            "batching": {"digits": self.digits.describe(), "sentiment": self.sentiment.describe()},
            "generation": self.text.describe(),
        }
