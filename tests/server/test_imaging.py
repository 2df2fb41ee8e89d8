"""Upload preprocessing: any size, colour and format-variant of a digit becomes the model's 8x8 input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from course_api.server.imaging import IMAGE_ERRORS, ImageError, decode_image, digit_pixels
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
    from course_api.server.problems import PROBLEM_TYPES

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


def reference_digit_pixels(image: Image.Image) -> np.ndarray:
    """The steps of course_api.server.imaging's docstring, written plainly (as digit_pixels was before it was made
    faster): digit_pixels must give exactly these numbers."""
    from course_api.server.imaging import _paper, to_grey

    grey = to_grey(image)
    ink = 255 - grey if _paper(grey) else grey  # dark ink on paper is inverted, light ink on a screen is kept
    low, high = int(ink.min()), int(ink.max())
    mask = ink > low + (high - low) // 2
    if high == low or not mask.any():
        return np.zeros((8, 8), dtype=np.float32)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = (ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32) - low) / (high - low)
    side = max(crop.shape)
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    bitmap = np.asarray(Image.fromarray(square).resize((32, 32), Image.Resampling.BILINEAR)) > 0.5
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)).astype(np.float32)


def test_digit_pixels_gives_exactly_the_plain_steps():
    rng = np.random.default_rng(11)
    from course_api.samples import digit_png as sample_png

    pictures: list[Image.Image] = [Image.open(io.BytesIO(sample_png(d))) for d in range(10)]
    for k in range(120):
        height, width = (int(n) for n in rng.integers(1, 150, 2))
        grey = rng.integers(0, 256, (height, width)).astype(np.uint8)
        if k % 3 == 0:  # black and white: bilinear ties at exactly 0.5
            grey = (grey > 200).astype(np.uint8) * 255
        elif k % 3 == 1:  # sparse dark ink on paper
            grey = 255 - ((grey > 230) * int(rng.integers(1, 256))).astype(np.uint8)
        pictures += [Image.fromarray(grey), Image.fromarray(np.stack([grey, 255 - grey, grey // 2], -1))]
        pictures.append(Image.fromarray(np.stack([grey, grey, grey, 255 - grey], -1)))  # RGBA
    pictures += [Image.new("L", (10, 10), 7), Image.new("RGBA", (10, 10), (0, 0, 0, 0)), Image.new("1", (20, 20), 1)]
    for picture in pictures:
        expected, found = reference_digit_pixels(picture), digit_pixels(picture)
        assert found.dtype == np.float32
        assert found.shape == (8, 8)
        assert np.array_equal(found, expected), (picture.mode, picture.size)
