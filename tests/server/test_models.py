"""The models: loading, known predictions, training, and the same answers on every available device."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

from course_api.server.device import available_devices
from course_api.server.inference import ModelService
from course_api.server.models.generator import CharGRU, CharVocabulary, generate, prime
from course_api.server.models.sentiment import negation_signs, tokenize
from course_api.server.models.store import DIGITS_FILE, GENERATOR_FILE, WeightsError, read_card, save_weights
from helpers import BIN


def test_models_load_in_eval_mode_on_the_chosen_device(models):
    assert models.device == torch.device("cpu")
    assert not models.digits.training
    assert not models.sentiment.training
    assert not models.generator.training
    assert all(p.device.type == "cpu" for p in models.digits.parameters())


def test_digit_model_is_accurate_on_held_out_digits(models, digits_test_split):
    x_test, y_test = digits_test_split
    predicted = models.digit_probabilities(x_test).argmax(1)
    assert (predicted == y_test).mean() >= 0.95


def test_model_card_records_held_out_accuracy(settings):
    card = read_card(settings.weights_dir / DIGITS_FILE)
    assert card["test_accuracy"] >= 0.95
    assert "0 (background) to 16" in card["input"]
    assert "preprocessing" in card
    text = (settings.weights_dir / "MODEL_CARD.md").read_text()
    assert "test accuracy" in text
    assert "sentiment" in text


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love this course", "positive"),
        ("This is terrible", "negative"),
        ("The lecture was excellent and very clear", "positive"),
        ("The food was awful", "negative"),
        ("This is not good", "negative"),
        ("This is not bad at all", "positive"),
        ("I don't like this movie", "negative"),
        ("I feel great today :)", "positive"),
    ],
)
def test_sentiment_of_plain_sentences(models, text, label):
    probabilities = models.sentiment_probabilities([text])[0]
    assert ("negative", "positive")[int(probabilities.argmax())] == label


def test_sentiment_model_card_accuracy(models):
    card = models.cards["sentiment"]
    assert card["test_accuracy"] >= 0.95
    assert card["plain_sentences_accuracy"] >= 0.9


def test_tokenizer_and_negation_scope():
    assert tokenize("I don't like it :(") == ["i", "don't", "like", "it", ":("]
    tokens = tokenize("not good, but great")
    assert negation_signs(tokens) == [1.0, -1.0, 1.0, 1.0, 1.0]


def test_unknown_words_do_not_crash(models):
    probabilities = models.sentiment_probabilities(["zxqv blorp", "😀 🎉", "日本語のテキスト"])
    assert probabilities.shape == (3, 2)
    assert np.allclose(probabilities.sum(1), 1)


def test_batches_give_the_same_answers_as_single_inputs(models, digits_test_split):
    x_test, _ = digits_test_split
    batch = models.digit_probabilities(x_test[:16])
    single = np.concatenate([models.digit_probabilities(x[None]) for x in x_test[:16]])
    assert np.allclose(batch, single, atol=1e-6)


@pytest.mark.parametrize("device", available_devices())
def test_every_available_device_matches_the_cpu(settings, models, digits_test_split, device):
    """On a GPU machine this compares cuda (and mps) with the CPU; on a CPU-only machine, cpu with itself."""
    other = ModelService.load(settings.weights_dir, device)
    x_test, _ = digits_test_split
    assert np.allclose(other.digit_probabilities(x_test), models.digit_probabilities(x_test), atol=1e-4)
    texts = ["I love this course", "This is terrible"]
    assert np.allclose(other.sentiment_probabilities(texts), models.sentiment_probabilities(texts), atol=1e-4)
    with torch.inference_mode():
        _, here = prime(models.generator, "The iris dataset", torch.device("cpu"))
        _, there = prime(other.generator, "The iris dataset", other.device)
    # Probabilities, as above (cuDNN may use TF32 in the GRU: raw scores differ more than their softmax)
    assert torch.allclose(torch.softmax(there.cpu(), -1), torch.softmax(here, -1), atol=1e-3)


def test_missing_weights_say_how_to_make_them(tmp_path):
    with pytest.raises(WeightsError, match=r"(make|course\.py) train"):
        ModelService.load(tmp_path, "cpu")


@pytest.mark.slow  # trains every model twice, in two processes at once (about 40 s on two cores)
@pytest.mark.subprocess
def test_training_twice_gives_the_same_bytes(tmp_path):
    """`course-api train` is reproducible: two runs (two processes) write byte-identical weights and model card."""
    runs = [
        subprocess.Popen(
            [str(BIN / "course-api"), "train", "--device", "cpu", "--no-progress", "--output", str(tmp_path / name)]
        )
        for name in ("first", "second")
    ]
    assert [run.wait(timeout=600) for run in runs] == [0, 0]
    for name in ("digits_cnn.safetensors", "sentiment.safetensors", "text_generator.safetensors", "MODEL_CARD.md"):
        first, second = ((tmp_path / run / name).read_bytes() for run in ("first", "second"))
        assert first == second, f"{name} differs between two runs of course-api train"
    assert not (tmp_path / "first" / "digits_cnn.safetensors").read_bytes().startswith(b"\x80")  # not a pickle


def test_sentiment_training_learns_from_the_lexicon():
    from course_api.server.training import train_sentiment

    model, card = train_sentiment(torch.device("cpu"), epochs=2, n_sentences=8000, progress=False)
    assert card["test_accuracy"] > 0.75  # chance is 0.5; the full run reaches 0.98
    assert card["vocabulary_size"] == len(model.vocab)


# ------------------------------------------------------------------------------------------ generator
def test_generator_card_and_vocabulary(models, settings):
    card = read_card(settings.weights_dir / GENERATOR_FILE)
    assert card["vocabulary_size"] == len(models.generator.chars)
    assert card["test_bits_per_char"] < 3.5  # a blind guess among ~90 characters costs 6.5 bits
    assert "scikit-learn" in card["data"]
    assert "text-generator-gru" in (settings.weights_dir / "MODEL_CARD.md").read_text()
    assert models.describe()["models"]["generator"]["vocabulary"] == "".join(models.generator.chars)


def test_generator_reads_any_text_and_writes_known_characters(models):
    cpu = torch.device("cpu")
    for prompt in ("日本語のテキスト 😀", "\x00\t", "The dataset "):
        text = generate(models.generator, prompt, 20, temperature=1.0, seed=1, device=cpu)
        assert len(text) == 20
        assert set(text) <= set(models.generator.chars)
    assert generate(models.generator, "Iris", 30, temperature=0, seed=0, device=cpu) == generate(
        models.generator, "Iris", 30, temperature=0, seed=99, device=cpu
    ), "temperature 0 draws nothing: the seed does not matter"


def test_vocabulary_reads_unknown_characters_as_spaces():
    vocabulary = CharVocabulary([" ", "a", "b"])
    assert vocabulary.encode("ab?c") == [1, 2, 0, 0]
    assert vocabulary.decode([2, 0, 1]) == "b a"
    with pytest.raises(ValueError, match="single characters"):
        CharVocabulary(["a", "b"])


def test_generator_training_twice_gives_the_same_bytes(tmp_path):
    """A short run of the generator's training, twice in this process: the same weights, byte for byte."""
    from course_api.server.generator_training import train_generator
    from course_api.server.training import deterministic

    files = []
    for name in ("first", "second"):
        with deterministic():
            model, card = train_generator(torch.device("cpu"), steps=15, progress=False)
        assert isinstance(model, CharGRU)
        assert not model.training
        files.append(tmp_path / f"{name}.safetensors")
        save_weights(model, files[-1], card)
    assert files[0].read_bytes() == files[1].read_bytes()
    assert card["steps"] == 15
    assert 0 < card["test_bits_per_char"] < 8
