"""Turn an uploaded image (PNG or JPEG, any size, any colour) into the digit model's 8x8 input.

The scikit-learn digits were made by scanning handwriting into 32x32 black-and-white bitmaps, with the
digit scaled to fill the box, then counting the ink pixels in each 4x4 block: every pixel of the 8x8
result is a count from 0 (no ink) to 16 (all ink). :func:`digit_pixels` repeats those steps on any image:

1. flatten transparency onto white and convert to grey;
2. find out which side is ink: a light background (paper) is inverted, a dark one (a screen) is kept;
3. crop to the ink, pad to a centred square, scale to 32x32 and threshold at half the ink range;
4. count the ink in each 4x4 block.
"""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger("course_api.server.imaging")

ACCEPTED_FORMATS = ("PNG", "JPEG")
BITMAP_SIDE = 32
BLOCK = 4
WORKING_SIDE = 512  # larger images are scaled down to about this size before preprocessing
SMALL_IMAGE_PIXELS = 512 * 512  # the server decodes larger images in a worker thread, off its event loop
AVERAGED_MODES = ("L", "RGB", "RGBX", "CMYK", "YCbCr", "I", "F")  # Image.reduce averages these without a copy


# What can be wrong with an upload, as the problem type the server answers with, and its HTTP status.
IMAGE_ERRORS = {"unsupported-image-type": 415, "image-too-large": 413, "unreadable-image": 422}


class ImageError(ValueError):
    """An upload that cannot be used as an image. ``kind`` is one of :data:`IMAGE_ERRORS`, which gives
    ``status``: unsupported-image-type (415), image-too-large (413) or unreadable-image (422)."""

    def __init__(self, message: str, kind: str = "unreadable-image") -> None:
        if kind not in IMAGE_ERRORS:
            raise ValueError(f"Unknown image error kind {kind!r}; known: {', '.join(IMAGE_ERRORS)}")
        super().__init__(message)
        self.kind = kind

    @property
    def status(self) -> int:
        """The HTTP status code to answer with."""
        return IMAGE_ERRORS[self.kind]


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Read the header of PNG or JPEG bytes, without decoding the pixels; refuse anything else and anything
    with more than ``max_pixels`` pixels (so a decompression bomb costs no memory)."""
    if not data:
        raise ImageError("The uploaded file is empty: send a PNG or JPEG image.")
    try:
        # Pillow warns about images over Image.MAX_IMAGE_PIXELS (about 89 million) and refuses those over twice
        # that; our own, lower limit below refuses them anyway, before any decoding.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise ImageError(
            "The uploaded file is not a PNG or JPEG image. Send a PNG or JPEG (other formats such as GIF, "
            "BMP, TIFF or WebP are not accepted).",
            "unsupported-image-type",
        ) from None
    except Image.DecompressionBombError:  # Pillow's own limit: twice Image.MAX_IMAGE_PIXELS
        raise ImageError(
            f"The image declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels; the limit is {max_pixels}. "
            "Scale it down before uploading.",
            "image-too-large",
        ) from None
    except Exception as exc:  # OSError, SyntaxError, struct.error...: whatever a broken or crafted file raises
        raise ImageError(f"The image could not be read ({_reason(exc)}); it may be truncated or corrupt.") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"The image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}. "
            "Scale it down before uploading.",
            "image-too-large",
        )
    if width < 1 or height < 1:
        raise ImageError(f"The image is {width}x{height} pixels: it has no pixels to read.")
    return image


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def load_image(image: Image.Image, *, max_side: int = WORKING_SIDE) -> Image.Image:
    """Decode the pixels of an image from :func:`open_image`, at no more than about ``max_side`` pixels a side.

    The model sees 8x8 blocks of a 32x32 bitmap, so a 4000x3000 photo carries no more information for it
    than a 512-pixel one. A JPEG is decoded at 1/2, 1/4 or 1/8 scale straight from its compressed data
    (``draft``: less work and memory than decoding it whole); other images are reduced after decoding.
    """
    try:
        if image.format == "JPEG" and max(image.size) > 2 * max_side:
            image.draft(image.mode if image.mode in ("L", "RGB") else "RGB", (max_side, max_side))
        image.load()
    except Exception as exc:  # whatever a broken or crafted file raises while decoding
        raise ImageError(f"The image could not be decoded ({_reason(exc)}); it may be truncated or corrupt.") from None
    factor = max(image.size) // max_side
    if factor >= 2:
        if image.mode in AVERAGED_MODES:
            image = image.reduce(factor)  # the mean of each factor x factor block
        else:
            # Pillow cannot average palette, 1-bit or 16-bit images, and averages transparent ones only after
            # copying the whole image (premultiplied alpha): take every factor-th pixel instead. A stroke
            # thinner than `factor` pixels would vanish in the 32x32 bitmap anyway.
            size = (max(1, image.width // factor), max(1, image.height // factor))
            image = image.resize(size, Image.Resampling.NEAREST)
    return image


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode PNG or JPEG bytes (:func:`open_image` then :func:`load_image`)."""
    return load_image(open_image(data, max_pixels=max_pixels))


def preprocess(image: Image.Image) -> np.ndarray:
    """The model's 8x8 input for an image from :func:`open_image`: :func:`load_image`, then :func:`digit_pixels`.

    Whatever fails on the way is the upload's problem, an :class:`ImageError` (422), never a 500: a client can send
    any PNG or JPEG that Pillow opens, in any of its modes.
    """
    try:
        return digit_pixels(load_image(image))
    except ImageError:
        raise
    except Exception as exc:
        size = "x".join(map(str, image.size))
        logger.warning("Could not preprocess a %s %s image of %s", image.format, image.mode, size, exc_info=exc)
        raise ImageError(
            f"The image could not be processed ({type(exc).__name__}); send an ordinary PNG or JPEG."
        ) from None


def to_grey(image: Image.Image) -> np.ndarray:
    """Greyscale as uint8 0..255, with any transparency flattened onto a white background."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "L":
        image = image.convert("L")
    # The bytes as an array: a little cheaper than np.asarray(image), which goes through __array_interface__.
    return np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(image.height, image.width)


def _paper(grey: np.ndarray) -> bool:
    """Is the background light (paper: dark ink, to be inverted)? The median of the border is above 127."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    border.sort()
    middle = len(border) // 2  # the median, without np.median's overhead (this runs on every upload)
    median = float(border[middle]) if len(border) % 2 else (int(border[middle - 1]) + int(border[middle])) / 2
    return median > 127


def _span(flags: np.ndarray) -> tuple[int, int]:
    """The first and one past the last True of a 1-D boolean array that has one."""
    return int(flags.argmax()), len(flags) - int(flags[::-1].argmax())


def digit_pixels(image: Image.Image) -> np.ndarray:
    """The model's input for ``image``: an ``(8, 8)`` float32 array of ink counts 0..16.

    The steps are those of the module's docstring, written for speed (this runs on every upload): the whole
    image stays uint8 and is never inverted as a whole; only the crop around the ink is inverted where needed
    and scaled to 0..1 as float32, straight into the centred square.
    """
    grey = to_grey(image)
    paper = _paper(grey)
    darkest, brightest = int(grey.min()), int(grey.max())
    low, high = (255 - brightest, 255 - darkest) if paper else (darkest, brightest)
    if high == low:
        return np.zeros((BITMAP_SIDE // BLOCK, BITMAP_SIDE // BLOCK), dtype=np.float32)
    # ink > half the range, i.e. (ink - low) / (high - low) > 0.5, in whole numbers: ink > low + (high - low) // 2,
    # where ink is 255 - grey on paper
    threshold = low + (high - low) // 2
    mask = np.less(grey, 255 - threshold) if paper else np.greater(grey, threshold)
    rows, columns = mask.any(axis=1), mask.any(axis=0)
    if not rows.any():
        return np.zeros((BITMAP_SIDE // BLOCK, BITMAP_SIDE // BLOCK), dtype=np.float32)
    (top, bottom), (left, right) = _span(rows), _span(columns)
    height, width = bottom - top, right - left
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.float32)
    y, x = (side - height) // 2, (side - width) // 2
    region = square[y : y + height, x : x + width]
    crop = grey[top:bottom, left:right]
    if paper:  # ink - low = (255 - grey) - low: exact in float32, as in the steps above
        np.subtract(255 - low, crop, out=region, dtype=np.float32)
    else:
        np.subtract(crop, low, out=region, dtype=np.float32)
    region /= high - low
    scaled = Image.frombytes("F", (side, side), square)
    resized = scaled.resize((BITMAP_SIDE, BITMAP_SIDE), Image.Resampling.BILINEAR)
    bitmap = np.frombuffer(resized.tobytes(), dtype=np.float32).reshape(BITMAP_SIDE, BITMAP_SIDE) > 0.5
    # the ink in each 4x4 block, as two small matrix products (exact: sums of at most 16 ones)
    return _BLOCK_SUMS @ bitmap.astype(np.float32) @ _BLOCK_SUMS.T


# Row i of this (8, 32) matrix adds up columns 4i..4i+3: the 4x4 block counts of a 32x32 bitmap B are S @ B @ S.T.
_BLOCK_SUMS = np.kron(np.eye(BITMAP_SIDE // BLOCK, dtype=np.float32), np.ones((1, BLOCK), dtype=np.float32))
