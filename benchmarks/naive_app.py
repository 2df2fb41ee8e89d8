"""The naive baseline: the digit model served the way a common first attempt writes it.

What makes it "naive" (each is a choice the course server does not make):

* the picture travels as JSON, ``{"image": [[0..255, ...], ...]}``, one list per row of grey pixels, instead of
  the PNG file itself (the benchmark sends the same 128x128 picture that ``/predict/image`` gets as a PNG:
  about 78 KB of JSON instead of a 3 KB PNG);
* a plain ``def`` route validated by a pydantic model with ``list[list[int]]``, turned into a tensor with
  ``torch.tensor(list)``;
* one forward pass per request (no micro-batching), under ``torch.no_grad()``.

It is not a strawman: the model is loaded once, at import (``model = ...`` at module level), on
the device that ``COURSE_API_DEVICE`` names, through the course's own loader, and the 8x8 input is made the
simple way (ink = 255 - grey, scaled to 0..16, averaged over 16x16 blocks), which classifies the held-out
digits the benchmark sends correctly. Run it with::

    uvicorn benchmarks.naive_app:app --port 8001
"""

from __future__ import annotations

import torch
from fastapi import FastAPI
from pydantic import BaseModel

from course_api.server.inference import ModelService
from course_api.server.settings import Settings

settings = Settings.from_env()
model = ModelService.load(settings.weights_dir, settings.device).digits  # once, at import
device = next(model.parameters()).device

app = FastAPI(title="Naive digit server (a common first attempt)")


class Picture(BaseModel):
    image: list[list[int]]  # grey pixels 0..255, dark ink on white paper, one list per row


@app.get("/")
def root() -> dict:
    return {"message": "OK", "device": str(device)}


@app.post("/predict")
def predict(picture: Picture) -> dict:
    grey = torch.tensor(picture.image, dtype=torch.float32, device=device)
    ink = (255.0 - grey) / 255.0 * 16.0  # the model's scale: 0 paper .. 16 ink
    pixels = torch.nn.functional.adaptive_avg_pool2d(ink[None, None], 8)  # (1, 1, 8, 8)
    with torch.no_grad():
        probabilities = torch.softmax(model(pixels), dim=1)[0].tolist()
    digit = max(range(len(probabilities)), key=probabilities.__getitem__)
    return {"digit": digit, "score": probabilities[digit], "probabilities": probabilities}
