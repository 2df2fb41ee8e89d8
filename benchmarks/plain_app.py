"""The plain peer: the digit model behind an upload route, as a student writes it in twenty lines.

Where the naive baseline (``naive_app.py``) sends the picture as JSON, this one takes the same PNG file as the
course server's ``/predict/image`` (``multipart/form-data``, field ``file``) and does the obvious thing with
it: an ``async def`` route, ``await file.read()``, Pillow's ``convert("L").resize((8, 8))``, ink = 255 - grey
scaled to 0..16, and one forward pass per request on the event loop (no micro-batching, no limits, no
problem details, no checks of the header before decoding). The model loads once, at import, through the
course's own loader, on the device ``COURSE_API_DEVICE`` names. ``GET /`` is its health route: the floor of
this server, as ``GET /`` is the course server's. Run it with::

    uvicorn benchmarks.plain_app:app --port 8002
"""

from __future__ import annotations

import io

import numpy as np
import torch
from fastapi import FastAPI, UploadFile
from PIL import Image

from course_api.server.inference import ModelService
from course_api.server.settings import Settings

settings = Settings.from_env()
model = ModelService.load(settings.weights_dir, settings.device).digits  # once, at import
device = next(model.parameters()).device

app = FastAPI(title="Plain digit server (twenty lines)")


@app.get("/")
async def root() -> dict:
    return {"message": "OK", "device": str(device)}


@app.post("/predict")
async def predict(file: UploadFile) -> dict:
    data = await file.read()
    image = Image.open(io.BytesIO(data)).convert("L").resize((8, 8))
    grey = torch.from_numpy(np.asarray(image, dtype=np.float32)).to(device)
    ink = (255.0 - grey) / 255.0 * 16.0  # the model's scale: 0 paper .. 16 ink
    with torch.no_grad():
        probabilities = torch.softmax(model(ink[None, None]), dim=1)[0].tolist()
    digit = max(range(len(probabilities)), key=probabilities.__getitem__)
    return {"digit": digit, "score": probabilities[digit]}
