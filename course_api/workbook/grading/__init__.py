"""``course-api grade``: grade a class's worksheets, in parallel and safely.

* :mod:`~course_api.workbook.grading.submissions` finds ``SUBMISSIONS/<student>/NN_*.ipynb``, reads them leniently and
  plans the cells to run (by exercise id, not by position; deleted setup cells put back);
* :mod:`~course_api.workbook.grading.sandbox` is the kernel: its own network namespace where Linux allows, a memory cap;
* :mod:`~course_api.workbook.grading.probe` runs inside it: the course's own checks, kept out of the notebook's reach;
* :mod:`~course_api.workbook.grading.session` drives one worksheet in one kernel, with its limits, and cleans up;
* :mod:`~course_api.workbook.grading.cleanup` kills what a kernel started and removes its temporary folder;
* :mod:`~course_api.workbook.grading.gradebook` writes ``grades.csv``, ``grades.json`` and ``feedback/<student>.html``;
* :mod:`~course_api.workbook.grading.grader` puts it together, ``jobs`` worksheets at a time.
"""

from __future__ import annotations

from course_api.workbook.grading.grader import ClassResult, grade_class
from course_api.workbook.grading.session import Limits

__all__ = ["ClassResult", "Limits", "grade_class"]
