"""A small CNN for the 8x8 handwritten digits that ship with scikit-learn (``load_digits``).

Input format: a float tensor of shape ``(N, 1, 8, 8)`` (or ``(N, 8, 8)``) with values 0..16, exactly as
``sklearn.datasets.load_digits().images`` holds them: 0 is background, 16 is full ink. The model scales
to 0..1 itself, so callers never have to remember the normalisation.
"""

from __future__ import annotations

import torch
from torch import nn

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
PIXEL_MAX = 16.0
IMAGE_SIDE = 8


class DigitCNN(nn.Module):
    """Two 3x3 convolutions, one 2x2 pooling, two linear layers: about 40k parameters."""

    def __init__(self, channels: int = 32, hidden: int = 64, dropout: float = 0.25) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels // 2, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels // 2, channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels * 4 * 4, hidden),
            nn.ReLU(),
            nn.Linear(hidden, len(DIGIT_CLASSES)),
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(N, 10)`` for pixels in 0..16."""
        if pixels.dim() == 3:
            pixels = pixels.unsqueeze(1)
        return self.classifier(self.features(pixels / PIXEL_MAX))
