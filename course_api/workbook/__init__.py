"""The workbook's tools: what runs the course around the server, for students, instructors and CI.

* :mod:`~course_api.workbook.background` -- ``serve_in_background()``: a real uvicorn server from a notebook cell
* :mod:`~course_api.workbook.checks` -- the exercises' self-checks (``check``, ``hint``, ``check_all``)
* :mod:`~course_api.workbook.exercises` -- worksheets generated from the worked answers
* :mod:`~course_api.workbook.runner`, :mod:`~course_api.workbook.grading` -- run every notebook; grade a class
* :mod:`~course_api.workbook.website`, :mod:`~course_api.workbook.lab`, :mod:`~course_api.workbook.doctor` -- the
  course website, JupyterLab's settings, the environment's diagnosis

It may use :mod:`course_api.server` and :mod:`course_api.system`, never the other way round.
"""
