"""Saving and loading weights as safetensors (never pickle), with the model card in the file's metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from course_api.system.commands import suggest

M = TypeVar("M", bound=nn.Module)

DIGITS_FILE = "digits_cnn.safetensors"
SENTIMENT_FILE = "sentiment.safetensors"
GENERATOR_FILE = "text_generator.safetensors"


class WeightsError(RuntimeError):
    """Weights missing or not matching the model; the message says how to make them."""


def save_weights(model: nn.Module, path: Path, card: dict[str, Any], extra: dict[str, str] | None = None) -> None:
    """Write ``model``'s parameters to ``path`` with ``card`` (and any ``extra`` strings) as metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    metadata = {"card": json.dumps(card, sort_keys=True), **(extra or {})}
    save_file(tensors, str(path), metadata=metadata)
    _canonical_header(path)


def _canonical_header(path: Path) -> None:
    """Rewrite the file's JSON header with sorted keys: safetensors writes metadata in a random order, and the
    same weights must give the same bytes (training twice is compared byte for byte)."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8 : 8 + size]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the format pads the header to a multiple of 8 bytes
    path.write_bytes(len(header).to_bytes(8, "little") + header + data[8 + size :])


def read_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file, read without loading the tensors."""
    _require(path)
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def read_card(path: Path) -> dict[str, Any]:
    """The model card stored in a safetensors file."""
    return json.loads(read_metadata(path).get("card", "{}"))


def load_weights(model: M, path: Path, device: torch.device) -> M:
    """Load ``path`` into ``model``, move it to ``device`` and switch it to eval mode."""
    _require(path)
    state = load_file(str(path), device="cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(
            f"{path} does not match {type(model).__name__} ({exc}). "
            f"Re-create it with '{suggest('train', 'train')}' in the course folder."
        ) from None
    return model.to(device).eval()


def _require(path: Path) -> None:
    if not path.is_file():
        command = suggest("train", "train")
        raise WeightsError(f"No weights at {path}. Create them with '{command}' in the course folder.")
