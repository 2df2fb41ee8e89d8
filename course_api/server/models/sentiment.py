"""A fastText-style sentiment classifier with negation: word vectors, averaged, then linear.

Text is lower-cased and split into words, contractions, emoticons and punctuation (:func:`tokenize`).
Each word the model knows has one row of an ``EmbeddingBag``; unknown words share a row of zeros, so
they add nothing. The vocabulary travels inside the weights file. Negation is handled the way classic sentiment
systems do it: the words in the scope of a negator ("not", "don't", "never", ...; up to three words,
or to the next punctuation or "but") count with a minus sign, so "not good" points the other way from
"good" for every word the model knows, not only for the pairs it happened to see in training.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import nn

SENTIMENT_LABELS: tuple[str, ...] = ("negative", "positive")
DEFAULT_DIM = 16

# fmt: off
NEGATORS = frozenset(
    {
        "not", "no", "never", "nor", "neither", "nothing", "hardly", "barely", "without", "cannot",
        "isn't", "aren't", "wasn't", "weren't", "don't", "doesn't", "didn't", "won't", "wouldn't",
        "can't", "couldn't", "shouldn't", "haven't", "hasn't", "hadn't", "ain't", "isnt", "dont",
        "doesnt", "didnt", "cant", "wont", "wasnt",
    }
)
# fmt: on
NEGATION_SCOPE = 3
SCOPE_BREAKS = frozenset({".", ",", "!", "?", ";", ":", "but"})

# Emoticons such as :) :( ;-) :D, then words and contractions (don't), then punctuation.
_TOKEN = re.compile(r"[:;=8][\-o\*']?[\)\]\(\[dDpP/\\|]|[^\W_]+(?:['’][^\W_]+)?|[.,!?;:]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """``"I don't like it :("`` -> ``["i", "don't", "like", "it", ":("]``."""
    return [t.lower().replace("’", "'") for t in _TOKEN.findall(text)]


def negation_signs(tokens: list[str]) -> list[float]:
    """+1 for each token, -1 for those in the scope of a preceding negator."""
    signs, remaining = [], 0
    for token in tokens:
        if token in SCOPE_BREAKS:
            remaining = 0
            signs.append(1.0)
        elif token in NEGATORS:
            remaining = NEGATION_SCOPE
            signs.append(1.0)
        else:
            signs.append(-1.0 if remaining > 0 else 1.0)
            remaining = max(0, remaining - 1)
    return signs


UNKNOWN = "<unk>"


class TextEncoder:
    """Maps text to vocabulary ids and weights (sign / number of tokens), with a cache: classroom inputs repeat."""

    def __init__(self, vocab: Sequence[str]) -> None:
        if not vocab or vocab[0] != UNKNOWN:
            raise ValueError(f"The vocabulary must start with {UNKNOWN!r}.")
        self.vocab = tuple(vocab)
        self._index = {word: i for i, word in enumerate(self.vocab)}
        self.features = lru_cache(maxsize=4096)(self._features)

    def _features(self, text: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
        tokens = tokenize(text) or [UNKNOWN]
        scale = 1.0 / len(tokens)
        ids = tuple(self._index.get(token, 0) for token in tokens)
        return ids, tuple(sign * scale for sign in negation_signs(tokens))

    def encode_batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat ``ids``, ``offsets`` and ``weights`` tensors for :class:`torch.nn.EmbeddingBag`."""
        ids: list[int] = []
        weights: list[float] = []
        offsets: list[int] = []
        for text in texts:
            offsets.append(len(ids))
            text_ids, text_weights = self.features(text)
            ids.extend(text_ids)
            weights.extend(text_weights)
        return (
            torch.tensor(ids, dtype=torch.long),
            torch.tensor(offsets, dtype=torch.long),
            torch.tensor(weights, dtype=torch.float32),
        )


class SentimentModel(nn.Module):
    """``EmbeddingBag`` (one row per vocabulary word, row 0 for unknown words, always zero) + linear."""

    def __init__(self, vocab: Sequence[str], dim: int = DEFAULT_DIM) -> None:
        super().__init__()
        self.encoder = TextEncoder(vocab)
        self.embedding = nn.EmbeddingBag(len(vocab), dim, mode="sum", padding_idx=0)
        self.classifier = nn.Linear(dim, len(SENTIMENT_LABELS))
        # Small starting values, as fastText uses: the mean of a few words should not start out large.
        with torch.no_grad():
            nn.init.uniform_(self.embedding.weight, -1.0 / dim, 1.0 / dim)
            self.embedding.weight[0].zero_()

    @property
    def vocab(self) -> tuple[str, ...]:
        return self.encoder.vocab

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(N, 2)``: negative, positive. ``weights`` carry the mean and the negation."""
        return self.classifier(self.embedding(ids, offsets, per_sample_weights=weights))
