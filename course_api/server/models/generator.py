"""A small character-level text generator: a GRU that reads text one character at a time and predicts the next.

Its vocabulary is the characters of its training text, sorted; it travels inside the weights file, as the
sentiment model's words do. A character it does not know is read as a space. Writing text is a loop of three
steps: :func:`prime` reads the prompt once and returns the GRU's hidden state and the scores of the next character,
:func:`pick` chooses that character (the likeliest, or drawn at a temperature from a seeded random generator), and
:func:`advance` reads it and gives the scores of the one after. The hidden state carries everything read so far,
so each new character costs the same, however long the text already is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

FALLBACK = " "  # an unknown character is read as this one
CHAR_DIM = 32
CHAR_HIDDEN = 256


class CharVocabulary:
    """Characters <-> ids: ``encode("Iris")`` is a list of ids, ``decode`` the way back."""

    def __init__(self, chars: Sequence[str]) -> None:
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars) or FALLBACK not in chars:
            raise ValueError(f"The vocabulary must be distinct single characters, {FALLBACK!r} among them.")
        self.chars = tuple(chars)
        self._index = {char: i for i, char in enumerate(self.chars)}
        self._fallback = self._index[FALLBACK]

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self._index.get(char, self._fallback) for char in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i] for i in ids)


class CharGRU(nn.Module):
    """An embedding per character, one GRU layer, a linear layer to the next character's scores."""

    def __init__(self, chars: Sequence[str], dim: int = CHAR_DIM, hidden: int = CHAR_HIDDEN) -> None:
        super().__init__()
        self.vocabulary = CharVocabulary(chars)
        self.embedding = nn.Embedding(len(chars), dim)
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, len(chars))

    @property
    def chars(self) -> tuple[str, ...]:
        return self.vocabulary.chars

    def forward(self, ids: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``(N, T, vocabulary)`` of the character after each of ``ids`` ``(N, T)``, and the new state
        ``(1, N, hidden)``. ``state`` is what an earlier call returned, or None to start from nothing."""
        output, state = self.gru(self.embedding(ids), state)
        return self.head(output), state


def prime(model: CharGRU, prompt: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``prompt`` in one pass: the hidden state after it and the scores of the character that follows."""
    ids = torch.tensor([model.vocabulary.encode(prompt or FALLBACK)], dtype=torch.long, device=device)
    logits, state = model(ids)
    return state, logits[0, -1]


def advance(model: CharGRU, char_id: int, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one more character: the new state and the scores of the next one."""
    ids = torch.tensor([[char_id]], dtype=torch.long, device=state.device)
    logits, state = model(ids, state)
    return state, logits[0, -1]


def pick(logits: torch.Tensor, temperature: float, rng: torch.Generator) -> int:
    """The next character's id: the likeliest at temperature 0, otherwise drawn from softmax(logits / temperature)
    with ``rng`` (on the CPU, so that a seed gives the same draws on every device)."""
    if temperature <= 0:
        return int(logits.argmax())
    scores = logits.detach().double().cpu()  # float64: a temperature such as 1e-300 stays above 0
    # Shifted so that the best is 0: a tiny temperature then sends the others to -inf, never the best to inf (NaN).
    probabilities = torch.softmax((scores - scores.max()) / temperature, dim=-1)
    return int(torch.multinomial(probabilities, 1, generator=rng))


def generate(
    model: CharGRU, prompt: str, max_tokens: int, *, temperature: float, seed: int, device: torch.device
) -> str:
    """``max_tokens`` characters after ``prompt``, all at once (the server streams them one by one instead)."""
    rng = torch.Generator().manual_seed(seed)
    written: list[int] = []
    with torch.inference_mode():
        state, logits = prime(model, prompt, device)
        for _ in range(max_tokens):
            written.append(pick(logits, temperature, rng))
            state, logits = advance(model, written[-1], state)
    return model.vocabulary.decode(written)
