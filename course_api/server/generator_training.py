"""Training the text generator (:mod:`course_api.server.models.generator`) on scikit-learn's dataset descriptions.

The first 90% of the text trains it and the last 10% measures it, in bits per character: how many yes/no questions
the model needs, on average, to name the next character (0 would be certainty; a blind guess among ~90 characters
costs 6.5). Each step trains on a batch of windows drawn at random, with a seeded generator, from the training part.
:func:`course_api.server.training.train_all` calls it inside ``deterministic()``: one thread, the same bytes each time.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from course_api.server.datasets import DESCRIPTION_FILES, SEED, text_corpus
from course_api.server.models.generator import CharGRU, generate

TRAIN_SHARE = 0.9
STEPS = 300
BATCH = 32
WINDOW = 64  # characters per training window: how far back the gradient reaches
LEARNING_RATE = 1e-2
SAMPLE_PROMPT = "The dataset "


def train_generator(
    device: torch.device, *, steps: int = STEPS, seed: int = SEED, progress: bool = True
) -> tuple[CharGRU, dict[str, Any]]:
    """The trained generator (in eval mode, on ``device``) and its model card."""
    torch.manual_seed(seed)
    text = text_corpus()
    model = CharGRU(sorted(set(text))).to(device)
    ids = torch.tensor(model.vocabulary.encode(text), dtype=torch.long)
    split = int(TRAIN_SHARE * len(ids))
    _fit_generator(model, ids[:split], device, steps=steps, seed=seed, progress=progress)
    model.eval()
    sample = generate(model, SAMPLE_PROMPT, 80, temperature=0.8, seed=seed, device=device)
    card = {
        "name": "text-generator-gru",
        "task": "writing text one character at a time (POST /generate streams it)",
        "architecture": f"CharGRU: embedding({model.embedding.embedding_dim}) - GRU({model.gru.hidden_size}) - "
        f"linear({len(model.chars)}), one character in, the next character's scores out",
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocabulary_size": len(model.chars),
        "dim": model.embedding.embedding_dim,
        "hidden": model.gru.hidden_size,
        "data": f"scikit-learn's dataset descriptions (sklearn/datasets/descr, {len(DESCRIPTION_FILES)} .rst files, "
        f"{len(text)} characters, BSD-3-Clause); first 90% to train, last 10% to test",
        "train_size": split,
        "test_size": len(ids) - split,
        "test_bits_per_char": round(bits_per_char(model, ids[split:], device), 4),
        "input": "a prompt, any text; a character outside the vocabulary is read as a space",
        "output": "scores of the next character; the server picks it (temperature 0: the likeliest; above: drawn "
        "with a seeded random generator) and reads it back, one character at a time",
        "limits": "a toy: it has read 43,000 characters of dataset documentation and writes text that looks like "
        "it, without meaning; English-like text only",
        "sample": f"{json.dumps(SAMPLE_PROMPT)} + {json.dumps(sample)} (temperature 0.8, seed {seed})",
        "steps": steps,
        "batch": f"{BATCH} windows of {WINDOW} characters",
        "seed": seed,
        "trained_on": str(device),
    }
    return model, card


def _fit_generator(
    model: CharGRU, ids: torch.Tensor, device: torch.device, *, steps: int, seed: int, progress: bool
) -> None:
    """AdamW with a one-cycle schedule, cross-entropy of each next character, gradients clipped to norm 1."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LEARNING_RATE, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.arange(WINDOW + 1)
    model.train()
    bar = tqdm(range(steps), desc="generator", unit="step", disable=not progress, leave=True)
    for step in bar:
        starts = torch.randint(0, len(ids) - WINDOW - 1, (BATCH, 1), generator=generator)
        windows = ids[starts + offsets].to(device)  # (BATCH, WINDOW + 1): inputs, and the same shifted by one
        logits, _ = model(windows[:, :-1])
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if progress and step % 25 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")


def bits_per_char(model: CharGRU, ids: torch.Tensor, device: torch.device) -> float:
    """The mean cost of naming each next character of ``ids`` (read as one text), in bits."""
    with torch.inference_mode():
        logits, _ = model(ids[None, :-1].to(device))
        nats = nn.functional.cross_entropy(logits[0], ids[1:].to(device))
    return float(nats) / math.log(2)
