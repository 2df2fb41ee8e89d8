"""course_api: the shared package of the "Creating APIs" course, in three parts (docs/ARCHITECTURE.md):

* :mod:`course_api.server` -- the course server: the FastAPI app, its routes and the PyTorch models behind them
* :mod:`course_api.workbook` -- the workbook's tools: ``serve_in_background``, the checks, worksheets, grading, the
  website, the doctor
* :mod:`course_api.system` -- operating-system plumbing: ports, CPU limits, child processes, public addresses

What a notebook uses has a short path here, the same in every notebook::

    from course_api import serve_in_background, check, check_all, hint
    from course_api.samples import digit_png

Importing this package is cheap: each name loads its module on first use, and CUDA is never touched until a
device is actually chosen. The ``course-api`` command is :mod:`course_api.cli`.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

__version__ = metadata.version("course-api")

_LAZY = {
    "serve_in_background": "course_api.workbook.background",
    "BackgroundServer": "course_api.workbook.background",
    "check": "course_api.workbook.checks",
    "check_all": "course_api.workbook.checks",
    "hint": "course_api.workbook.checks",
    "start_process": "course_api.system.processes",
    "create_app": "course_api.server.app",
    "Settings": "course_api.server.settings",
    "ModelService": "course_api.server.inference",
    "resolve_device": "course_api.server.device",
}

__all__ = [
    "BackgroundServer",
    "ModelService",
    "Settings",
    "__version__",
    "check",
    "check_all",
    "create_app",
    "hint",
    "resolve_device",
    "serve_in_background",
    "start_process",
]

if TYPE_CHECKING:  # pragma: no cover
    from course_api.server.app import create_app
    from course_api.server.device import resolve_device
    from course_api.server.inference import ModelService
    from course_api.server.settings import Settings
    from course_api.system.processes import start_process
    from course_api.workbook.background import BackgroundServer, serve_in_background
    from course_api.workbook.checks import check, check_all, hint


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'course_api' has no attribute {name!r}")
