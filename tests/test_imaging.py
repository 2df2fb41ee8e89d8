"""Upload preprocessing: any size, colour and format-variant of a digit becomes the model's 8x8 input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from course_api.imaging import IMAGE_ERRORS, ImageError, decode_image, digit_pixels
from helpers import digit_png

LIMIT = 4096 * 4096


def predict(models, data: bytes) -> int:
    return int(models.digit_probabilities(digit_pixels(decode_image(data, max_pixels=LIMIT))[None]).argmax())


def test_drawn_test_digits_are_recognised(models, digits_test_split):
    x_test, y_test = digits_test_split
    hits = [predict(models, digit_png(x)) == y for x, y in zip(x_test[:120], y_test[:120], strict=True)]
    assert np.mean(hits) >= 0.95


@pytest.mark.parametrize(
    "variant",
    [
        {"mode": "RGB"},
        {"mode": "RGBA"},
        {"dark_on_light": False},
        {"scale": 3},
        {"scale": 60},
        {"fmt": "JPEG", "mode": "RGB"},
    ],
)
def test_colour_size_polarity_and_format_do_not_matter(models, digits_test_split, variant):
    x_test, y_test = digits_test_split
    hits = [predict(models, digit_png(x, **variant)) == y for x, y in zip(x_test[:40], y_test[:40], strict=True)]
    assert np.mean(hits) >= 0.9


def test_transparent_background_is_treated_as_paper(models, digits_test_split):
    x_test, y_test = digits_test_split
    ink = (np.clip(x_test[0] / 16, 0, 1) * 255).astype(np.uint8)
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 3] = ink  # black ink, transparent elsewhere
    image = Image.fromarray(rgba, mode="RGBA").resize((64, 64), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert predict(models, buffer.getvalue()) == y_test[0]


def test_image_errors_answer_with_their_problem_types_status():
    from course_api.problems import PROBLEM_TYPES

    for kind, status in IMAGE_ERRORS.items():
        assert PROBLEM_TYPES[kind][0] == status == ImageError("x", kind).status


def test_blank_image_gives_empty_pixels():
    blank = Image.new("L", (40, 40), 255)
    assert digit_pixels(blank).sum() == 0


def test_pixels_round_trip_through_png(digits_test_split):
    x_test, _ = digits_test_split
    data = digit_png(x_test[0], scale=8)
    again = digit_pixels(decode_image(data, max_pixels=LIMIT))
    assert again.shape == (8, 8)
    assert again.max() <= 16


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"", 422),
        (b"hello, I am a text file", 415),
        (b"GIF89a" + b"\x00" * 20, 415),
    ],
)
def test_bad_files_get_the_right_status(data, status):
    with pytest.raises(ImageError) as info:
        decode_image(data, max_pixels=LIMIT)
    assert info.value.status == status


def test_truncated_png_is_refused(digits_test_split):
    data = digit_png(digits_test_split[0][0])
    with pytest.raises(ImageError) as info:
        decode_image(data[: len(data) // 2], max_pixels=LIMIT)
    assert info.value.status == 422


def test_too_many_pixels_refused_before_decoding():
    buffer = io.BytesIO()
    Image.new("L", (300, 300), 255).save(buffer, format="PNG")
    with pytest.raises(ImageError) as info:
        decode_image(buffer.getvalue(), max_pixels=200 * 200)
    assert info.value.status == 413


def test_sample_digits_are_recognised(models):
    from course_api.samples import digit_png

    for digit in range(10):
        assert predict(models, digit_png(digit)) == digit
