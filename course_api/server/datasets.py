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


# The text generator's reading: the descriptions of scikit-learn's datasets (reStructuredText, about 43,000
# characters in 14 files), in this order; files a later scikit-learn adds are not read, so the text stays the same.
DESCRIPTION_FILES = (
    "breast_cancer.rst",
    "california_housing.rst",
    "covtype.rst",
    "diabetes.rst",
    "digits.rst",
    "iris.rst",
    "kddcup99.rst",
    "lfw.rst",
    "linnerud.rst",
    "olivetti_faces.rst",
    "rcv1.rst",
    "species_distributions.rst",
    "twenty_newsgroups.rst",
    "wine_data.rst",
)


def text_corpus() -> str:
    """scikit-learn's dataset descriptions (:data:`DESCRIPTION_FILES`), one after the other, with ``\\n`` line ends."""
    from importlib import resources

    folder = resources.files("sklearn.datasets") / "descr"
    texts = [(folder / name).read_text(encoding="utf-8").replace("\r\n", "\n") for name in DESCRIPTION_FILES]
    return "\n".join(texts)
