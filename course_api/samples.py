"""Sample inputs made from data that ships with scikit-learn: digit pictures as a student would draw them."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image


@lru_cache(maxsize=1)
def _test_digits() -> tuple[np.ndarray, np.ndarray]:
    from course_api.server.datasets import digits_split

    _, x_test, _, y_test = digits_split()
    return x_test, y_test


def held_out_pixels(digit: int, index: int = 0) -> np.ndarray:
    """The ``index``-th held-out 8x8 image (values 0..16) of ``digit``: the model never trained on it."""
    if not 0 <= digit <= 9:
        raise ValueError(f"digit must be 0..9, not {digit}")
    images, labels = _test_digits()
    return images[np.flatnonzero(labels == digit)[index]].copy()


def draw(pixels: np.ndarray, *, size: int = 128, dark_on_light: bool = True, mode: str = "L") -> Image.Image:
    """8x8 pixels (0..16) drawn as a smooth ``size`` x ``size`` picture, dark ink on white paper by default."""
    ink = np.clip(np.asarray(pixels, dtype=np.float32) / 16.0, 0, 1)
    grey = (255 - ink * 255) if dark_on_light else ink * 255
    image = Image.fromarray(grey.astype(np.uint8), mode="L").resize((size, size), Image.Resampling.BILINEAR)
    return image if mode == "L" else image.convert(mode)


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def digit_png(digit: int, index: int = 0, size: int = 128) -> bytes:
    """PNG bytes of a held-out handwritten ``digit``, ready to upload to ``/predict/image``."""
    return encode(draw(held_out_pixels(digit, index), size=size))


def save_digit_png(path: str | Path, digit: int, index: int = 0, size: int = 128) -> Path:
    """Write :func:`digit_png` to ``path`` and return the path."""
    path = Path(path)
    path.write_bytes(digit_png(digit, index, size))
    return path
