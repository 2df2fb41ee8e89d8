"""Training the course models from data that ships with installed packages: no download, fixed seeds.

* Digits: scikit-learn's ``load_digits`` (1,797 8x8 images), 80/20 stratified split.
* Sentiment: sentences generated from the VADER lexicon (7,500 words and emoticons rated by people from
  -4 to +4, shipped inside the ``vaderSentiment`` package), including negations such as "not good".
* Text generator: scikit-learn's dataset descriptions, one character at a time
  (:mod:`course_api.server.generator_training`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_api.server.datasets import SEED, digits_split
from course_api.server.generator_training import train_generator
from course_api.server.imaging import digit_pixels
from course_api.server.models.digits import DigitCNN
from course_api.server.models.sentiment import (
    NEGATORS,
    SENTIMENT_LABELS,
    UNKNOWN,
    SentimentModel,
    negation_signs,
    tokenize,
)
from course_api.server.models.store import DIGITS_FILE, GENERATOR_FILE, SENTIMENT_FILE, save_weights


@dataclass
class TrainResult:
    name: str
    path: Path
    card: dict[str, Any]
    seconds: float


def seed_everything(seed: int = SEED) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


@contextmanager
def deterministic() -> Iterator[None]:
    """Training gives the same weights every time on a machine: one CPU thread (a sum split over threads adds up
    in another order), deterministic kernels only, and a fixed cuBLAS workspace on CUDA."""
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic)


def _iterate(n_epochs: int, desc: str, progress: bool) -> tqdm[int]:
    return tqdm(range(n_epochs), desc=desc, unit="epoch", disable=not progress, leave=True)


# --------------------------------------------------------------------------------------------- digits
def round_trip(images: np.ndarray, scale: int = 6) -> np.ndarray:
    """Each image drawn as an upscaled picture and brought back through the upload preprocessing."""
    from PIL import Image

    out = np.empty_like(images)
    for i, img in enumerate(images):
        picture = Image.fromarray((255 - img / 16.0 * 255).astype(np.uint8), mode="L")
        picture = picture.resize((8 * scale, 8 * scale), Image.Resampling.BILINEAR)
        out[i] = digit_pixels(picture)
    return out


def train_digits(
    device: torch.device, *, epochs: int = 40, seed: int = SEED, progress: bool = True
) -> tuple[DigitCNN, dict[str, Any]]:
    seed_everything(seed)
    x_train, x_test, y_train, y_test = digits_split(seed)
    # The dataset's pixels plus the same digits after the upload preprocessing: uploads then look familiar.
    x_all = np.concatenate([x_train, round_trip(x_train)])
    y_all = np.concatenate([y_train, y_train])
    xs = torch.from_numpy(x_all).unsqueeze(1).to(device)
    ys = torch.from_numpy(y_all).long().to(device)
    model = DigitCNN().to(device)
    _fit_digits(model, xs, ys, device, epochs=epochs, seed=seed, progress=progress)
    model.eval()
    card = {
        "name": "digits-cnn",
        "task": "handwritten digit classification (0-9)",
        "architecture": "DigitCNN: conv3x3(16) - conv3x3(32) - maxpool2 - linear(64) - linear(10)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": "sklearn.datasets.load_digits (1,797 images), stratified 80/20 split, random_state=0",
        "train_size": len(x_train),
        "test_size": len(x_test),
        "test_accuracy": round(_digits_accuracy(model, x_test, y_test, device), 4),
        "test_accuracy_after_upload_preprocessing": round(
            _digits_accuracy(model, round_trip(x_test), y_test, device), 4
        ),
        "input": "float pixels, shape (N, 8, 8) or (N, 1, 8, 8), values 0 (background) to 16 (full ink)",
        "preprocessing": (
            "Uploads (PNG/JPEG, any size or colour): flatten transparency onto white, convert to grey, "
            "invert when the background is light, crop to the ink, pad to a square, resize to 32x32, "
            "threshold at half the ink range, count the ink in each 4x4 block (0..16)."
        ),
        "output": "10 logits; softmax gives the probability of each digit",
        "epochs": epochs,
        "seed": seed,
        "trained_on": str(device),
    }
    return model, card


def _fit_digits(
    model: DigitCNN, xs: torch.Tensor, ys: torch.Tensor, device: torch.device, *, epochs: int, seed: int, progress: bool
) -> None:
    """Mini-batches of 64, AdamW with a one-cycle schedule, each batch shifted by up to one pixel."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * ((len(xs) + 63) // 64))
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    bar = _iterate(epochs, "digits", progress)
    for _ in bar:
        model.train()
        order = torch.randperm(len(xs), generator=generator).to(device)
        for start in range(0, len(xs), 64):
            idx = order[start : start + 64]
            batch = xs[idx]
            # Shift by up to one pixel: handwriting is never perfectly centred.
            shift = torch.randint(-1, 2, (2,), generator=generator).tolist()
            batch = torch.roll(batch, shifts=shift, dims=(2, 3))
            optimizer.zero_grad()
            loss = loss_fn(model(batch), ys[idx])
            loss.backward()
            optimizer.step()
            scheduler.step()
        if progress:
            bar.set_postfix(loss=f"{loss.item():.3f}")


def _digits_accuracy(model: DigitCNN, images: np.ndarray, labels: np.ndarray, device: torch.device) -> float:
    with torch.inference_mode():
        pixels = torch.from_numpy(images).unsqueeze(1).to(device)
        return float((model(pixels).argmax(1).cpu().numpy() == labels).mean())


# ------------------------------------------------------------------------------------------ sentiment
NEGATORS_USED = ("not", "never", "isn't", "wasn't", "don't", "didn't", "doesn't", "no", "hardly", "aren't")
# fmt: off
FILLERS = (
    "i", "we", "you", "they", "it", "this", "that", "the", "a", "my", "our", "course", "lecture", "api",
    "server", "model", "movie", "food", "service", "book", "day", "teacher", "class", "notebook", "is",
    "was", "are", "were", "really", "very", "so", "quite", "today", "here", "and", "with", "of", "to",
    "experience", "product", "exercise", "code", "weather", "team", "people", "thing", "felt", "seems",
)
# fmt: on


def vader_lexicon() -> dict[str, float]:
    """Word -> mean human valence (-4..+4) from the VADER lexicon shipped in ``vaderSentiment``."""
    text = (resources.files("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8")
    lexicon = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            lexicon[parts[0].lower()] = float(parts[1])
    return lexicon


NEUTRAL_SHARE = 0.15
CONFIDENCE = 1.5  # target probability of "positive" = sigmoid(CONFIDENCE * summed valence)


def sentiment_sentences(n: int, seed: int = SEED, threshold: float = 0.5) -> tuple[list[str], np.ndarray]:
    """``n`` generated sentences and their summed valences (negative < 0 < positive, 0 for neutral ones).

    A sentence is a few neutral words around one or two lexicon words, sometimes intensified ("very")
    and sometimes negated. Its score is the sum of the valences, with the words in a negator's scope
    counted negatively: the same rule the model applies (:func:`negation_signs`). About one sentence in
    seven has no sentiment word at all (score 0), which teaches the model that everyday words are neutral.
    """
    rng = np.random.default_rng(seed)
    lexicon = {w: v for w, v in vader_lexicon().items() if abs(v) >= threshold and w not in NEGATORS}
    words = np.array(sorted(w for w in lexicon if tokenize(w) == [w]))
    sentences: list[str] = []
    scores: list[float] = []
    while len(sentences) < n:
        parts = [str(w) for w in rng.choice(FILLERS, size=rng.integers(0, 4))]
        if rng.random() < NEUTRAL_SHARE:
            parts += [str(w) for w in rng.choice(FILLERS, size=rng.integers(1, 5))]
            sentences.append(" ".join(parts))
            scores.append(0.0)
            continue
        for word in rng.choice(words, size=1 if rng.random() < 0.7 else 2):
            if rng.random() < 0.25:
                parts.append(str(rng.choice(NEGATORS_USED)))
            if rng.random() < 0.2:
                parts.append(str(rng.choice(("very", "really", "so", "quite"))))
            parts.append(str(word))
            parts += [str(w) for w in rng.choice(FILLERS, size=rng.integers(0, 3))]
        signs = negation_signs(parts)
        score = sum(lexicon.get(token, 0.0) * sign for token, sign in zip(parts, signs, strict=True))
        if abs(score) < 0.5:
            continue
        sentences.append(" ".join(parts))
        scores.append(float(score))
    return sentences, np.array(scores)


def eval_sentences() -> tuple[list[str], np.ndarray]:
    """Hand-written plain sentences (``course_api/data/sentiment_eval.tsv``) with their labels."""
    text = (resources.files("course_api") / "data" / "sentiment_eval.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return [r[1] for r in rows], np.array([SENTIMENT_LABELS.index(r[0]) for r in rows])


def _accuracy(model: SentimentModel, texts: list[str], labels: np.ndarray, device: torch.device) -> float:
    with torch.inference_mode():
        ids, offsets, weights = model.encoder.encode_batch(texts)
        predicted = model(ids.to(device), offsets.to(device), weights.to(device)).argmax(1).cpu().numpy()
    return float((predicted == labels).mean())


def train_sentiment(
    device: torch.device, *, epochs: int = 8, n_sentences: int = 60_000, seed: int = SEED, progress: bool = True
) -> tuple[SentimentModel, dict[str, Any]]:
    seed_everything(seed)
    texts, scores = sentiment_sentences(n_sentences, seed)
    split = int(0.9 * len(texts))
    train_texts = texts[:split]
    # Soft targets: a mild sentence ("fine") should be mildly positive, a neutral one 50/50.
    positive = torch.sigmoid(CONFIDENCE * torch.from_numpy(scores[:split]).float())
    targets = torch.stack([1 - positive, positive], dim=1)
    test = [i for i in range(split, len(texts)) if scores[i] != 0]  # accuracy needs a right answer
    test_texts = [texts[i] for i in test]
    test_labels = (scores[test] > 0).astype(int)
    vocab = [UNKNOWN, *sorted({token for text in train_texts for token in tokenize(text)})]
    model = SentimentModel(vocab).to(device)
    _fit_sentiment(model, train_texts, targets, device, epochs=epochs, seed=seed, progress=progress)
    model.eval()
    plain_texts, plain_labels = eval_sentences()
    card = {
        "name": "sentiment-bag-of-words",
        "task": "sentiment of an English sentence (negative / positive)",
        "architecture": "EmbeddingBag over word ids (mean, negated words counted negatively), then linear(2)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocabulary_size": len(model.vocab),
        "dim": model.embedding.embedding_dim,
        "data": (
            "sentences generated from the VADER lexicon (vaderSentiment, MIT licence), with negations and "
            "neutral sentences; soft targets sigmoid(1.5 x summed valence)"
        ),
        "train_size": len(train_texts),
        "test_size": len(test_texts),
        "test_accuracy": round(_accuracy(model, test_texts, test_labels, device), 4),
        "plain_sentences_accuracy": round(_accuracy(model, plain_texts, plain_labels, device), 4),
        "plain_sentences": len(plain_texts),
        "input": "a string; lower-cased and split into words, contractions, emoticons and punctuation",
        "output": "2 logits (negative, positive); softmax gives the probabilities",
        "limits": "a bag of words: no sarcasm, no long-range context, English only",
        "epochs": epochs,
        "seed": seed,
        "trained_on": str(device),
    }
    return model, card


def _fit_sentiment(
    model: SentimentModel,
    texts: list[str],
    targets: torch.Tensor,
    device: torch.device,
    *,
    epochs: int,
    seed: int,
    progress: bool,
) -> None:
    """Mini-batches of 256 sentences, Adam, cross-entropy against the soft ``targets``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    bar = _iterate(epochs, "sentiment", progress)
    for _ in bar:
        model.train()
        order = torch.randperm(len(texts), generator=generator)
        for start in range(0, len(order), 256):
            idx = order[start : start + 256].tolist()
            ids, offsets, weights = model.encoder.encode_batch([texts[i] for i in idx])
            optimizer.zero_grad()
            logits = model(ids.to(device), offsets.to(device), weights.to(device))
            loss = loss_fn(logits, targets[idx].to(device))
            loss.backward()
            optimizer.step()
        if progress:
            bar.set_postfix(loss=f"{loss.item():.3f}")


# ------------------------------------------------------------------------------------------------ all
def train_all(
    output: Path, device: torch.device, *, which: str = "all", progress: bool = True, digits_epochs: int = 40
) -> list[TrainResult]:
    with deterministic():
        return _train(output, device, which=which, progress=progress, digits_epochs=digits_epochs)


def _train(output: Path, device: torch.device, *, which: str, progress: bool, digits_epochs: int) -> list[TrainResult]:
    # name -> (file, how to train it, the attribute that the weights file keeps as "vocab"), in training order
    plan: dict[str, tuple[str, Callable[[], tuple[Any, dict[str, Any]]], str | None]] = {
        "digits": (DIGITS_FILE, lambda: train_digits(device, epochs=digits_epochs, progress=progress), None),
        "sentiment": (SENTIMENT_FILE, lambda: train_sentiment(device, progress=progress), "vocab"),
        "generator": (GENERATOR_FILE, lambda: train_generator(device, progress=progress), "chars"),
    }
    results = []
    for name, (file, train, vocab) in plan.items():
        if which not in ("all", name):
            continue
        start = time.perf_counter()
        model, card = train()
        path = output / file
        extra = {"vocab": json.dumps(getattr(model, vocab))} if vocab else None
        save_weights(model, path, card, extra=extra)
        results.append(TrainResult(name, path, card, time.perf_counter() - start))
    write_model_card(output)
    return results


def write_model_card(folder: Path) -> Path:
    """Regenerate ``MODEL_CARD.md`` in ``folder`` from the cards stored in its weight files."""
    from course_api.server.models.store import read_card

    lines = ["# Model card", "", "Generated by `course-api train` from the metadata stored in the weight files.", ""]
    for filename in (DIGITS_FILE, SENTIMENT_FILE, GENERATOR_FILE):
        path = folder / filename
        if not path.is_file():
            continue
        card = read_card(path)
        lines += [f"## {card.get('name', filename)} (`{filename}`)", ""]
        lines += [f"- **{key.replace('_', ' ')}**: {value}" for key, value in sorted(card.items()) if key != "name"]
        lines.append("")
    target = folder / "MODEL_CARD.md"
    target.write_text("\n".join(lines), encoding="utf-8", newline="\n")  # committed: the same bytes on Windows
    return target
