"""The course server's routes, one ``APIRouter`` per area; :func:`course_api.server.app.create_app` includes them.

* :mod:`~course_api.server.routes.basics`: ``GET /``, ``/items/{item_id}``, ``/status/{code}``, ``/astros.json``;
* :mod:`~course_api.server.routes.predictions`: ``POST /predict/text``, ``/predict/image``, ``/predict/pixels``,
  ``GET /model``;
* :mod:`~course_api.server.routes.generation`: ``POST /generate`` (server-sent events), ``/generate/jsonl``
  (JSON Lines): text from a small model, streamed as it is written;
* :mod:`~course_api.server.routes.playground`: ``GET /playground``, a client in plain HTML and JavaScript.
"""
