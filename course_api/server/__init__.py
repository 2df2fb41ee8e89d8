"""The course server: the FastAPI app that students study and call, and the PyTorch models behind it.

* :mod:`~course_api.server.app` -- ``create_app(settings)`` assembles the app (lifespan, errors, middleware, routes)
* :mod:`~course_api.server.settings` -- every setting, its default, bound and ``COURSE_API_*`` variable
* :mod:`~course_api.server.routes` -- the routes, one ``APIRouter`` per area; :mod:`~course_api.server.problems`
  -- the one error format (RFC 9457 problem details)
* :mod:`~course_api.server.inference` -- the models on one device, behind micro-batchers
  (:mod:`~course_api.server.batching`); :mod:`~course_api.server.models` -- the networks and their weights

It imports nothing of :mod:`course_api.workbook`; below it is only :mod:`course_api.system`. docs/ARCHITECTURE.md
draws the map.
"""

from __future__ import annotations

from importlib import metadata

VERSION = metadata.version("course-api")  # pyproject.toml's, the one place it is written
