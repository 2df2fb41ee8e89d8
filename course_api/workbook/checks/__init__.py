"""Self-checks for the exercises: ``check("01.2")`` after an exercise says what is right or what to fix.

A check reads the names your cell defined (``response``, ``crafts``, ...) from the notebook, tests them, and

* prints a short "well done" when everything is right;
* raises :class:`CheckFailed` with a message that says what is wrong and what to try;
* raises :class:`ExerciseNotDone` (a ``NotImplementedError``) when the exercise cell has not run yet.

``hint("01.2")`` gives the next hint each time it is called; ``check_all()`` at the end of a worksheet shows
every exercise as done, not done or failing, with points (``progress(lesson, namespace).as_dict()`` for tools).

The registry and ``check()`` are in :mod:`course_api.checks.registry`; each lesson's checks in ``lessonNN``.
"""

from __future__ import annotations

# Importing the lesson modules registers their exercises in EXERCISES.
from course_api.checks import (  # noqa: F401
    lesson01,
    lesson02,
    lesson03,
    lesson03_app,
    lesson04,
    lesson05,
    lesson06,
    project,
)
from course_api.checks.registry import (
    EXERCISES,
    CheckFailed,
    Exercise,
    ExerciseNotDone,
    Progress,
    check,
    check_all,
    hint,
    progress,
)

__all__ = [
    "EXERCISES",
    "CheckFailed",
    "Exercise",
    "ExerciseNotDone",
    "Progress",
    "check",
    "check_all",
    "hint",
    "progress",
]
