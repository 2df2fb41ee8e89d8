"""What routes share, as FastAPI dependencies: the models, the settings and the image-decoding limiter.

Each is made once, at start-up, by the app's lifespan (:mod:`course_api.server.app`) and kept in ``app.state``;
a route asks for one by type, for example ``async def predict(models: Models, config: Config)``.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Request

from course_api.server.inference import Predictor
from course_api.server.settings import Settings


async def get_predictor(request: Request) -> Predictor:
    """The loaded models behind their micro-batchers."""
    predictor: Predictor = request.app.state.predictor
    return predictor


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_decode_limiter(request: Request) -> anyio.CapacityLimiter:
    """Bounds how many large images are decoded in worker threads at once (memory)."""
    limiter: anyio.CapacityLimiter = request.app.state.decode_limiter
    return limiter


Models = Annotated[Predictor, Depends(get_predictor)]
Config = Annotated[Settings, Depends(get_settings)]
DecodeLimiter = Annotated[anyio.CapacityLimiter, Depends(get_decode_limiter)]
