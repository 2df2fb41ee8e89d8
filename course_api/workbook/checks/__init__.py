"""Self-checks for the exercises: ``check("01.2")`` after an exercise says what is right or what to fix.

A check reads the names your cell defined (``response``, ``crafts``, ...) from the notebook, tests them, and

* prints a short "well done" when everything is right;
* raises :class:`CheckFailed` with a message that says what is wrong and what to try;
* raises :class:`ExerciseNotDone` (a ``NotImplementedError``) when the exercise cell has not run yet.

``hint("01.2")`` gives the next hint each time it is called; ``check_all("01")`` at the end of worksheet 01 shows
every exercise as done, not done or failing (an :class:`Outcome`), with points
(``progress(lesson, namespace).as_dict()`` for tools). ``check_all()`` needs the worksheet's number: without it,
:class:`UnknownWorksheet` says so, whatever ran before.

The notebook's names are the ones its cells define: IPython's user namespace (a plain script's ``__main__``),
unless a ``namespace`` is given, as tools and tests do.

The registry and ``check()`` are in :mod:`course_api.workbook.checks.registry`; each lesson's checks in ``lessonNN``.
"""

from __future__ import annotations

# Importing the lesson modules registers their exercises in EXERCISES.
from course_api.workbook.checks import (  # noqa: F401
    lesson01,
    lesson02,
    lesson03,
    lesson03_app,
    lesson04,
    lesson05,
    lesson06,
    project,
)
from course_api.workbook.checks.registry import (
    EXERCISES,
    CheckFailed,
    Exercise,
    ExerciseNotDone,
    Outcome,
    Progress,
    ProgressRow,
    UnknownWorksheet,
    check,
    check_all,
    hint,
    progress,
    user_namespace,
)

__all__ = [
    "EXERCISES",
    "CheckFailed",
    "Exercise",
    "ExerciseNotDone",
    "Outcome",
    "Progress",
    "ProgressRow",
    "UnknownWorksheet",
    "check",
    "check_all",
    "hint",
    "progress",
    "user_namespace",
]
