"""The data the course's models learn from, shipped with scikit-learn (nothing is downloaded)."""

from __future__ import annotations

import numpy as np

SEED = 0  # one seed for the split and for training, so that the held-out digits never change


def digits_split(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, x_test, y_train, y_test)``: images as float32 ``(N, 8, 8)`` in 0..16."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    return x_train, x_test, y_train, y_test
