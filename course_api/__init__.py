"""course_api: the shared package of the "Creating APIs" course.

* :mod:`course_api.server` -- the real FastAPI server (``create_app``, ``app``)
* :mod:`course_api.notebook` -- ``serve_in_background`` to run it from a notebook cell
* :mod:`course_api.device` -- choosing cuda, mps or cpu
* :mod:`course_api.inference` -- the models, loaded once and run on one device
* :mod:`course_api.training` -- ``course-api train``
* :mod:`course_api.cli` -- the ``course-api`` command

Importing this package is cheap: the heavy modules load on first use, and CUDA is never touched
until a device is actually chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "serve_in_background": "course_api.notebook",
    "BackgroundServer": "course_api.notebook",
    "create_app": "course_api.server",
    "Settings": "course_api.settings",
    "resolve_device": "course_api.device",
}

__all__ = ["BackgroundServer", "Settings", "__version__", "create_app", "resolve_device", "serve_in_background"]

if TYPE_CHECKING:  # pragma: no cover
    from course_api.device import resolve_device
    from course_api.notebook import BackgroundServer, serve_in_background
    from course_api.server import create_app
    from course_api.settings import Settings


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'course_api' has no attribute {name!r}")
