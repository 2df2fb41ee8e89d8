"""The exercise registry: ``@exercise`` registers a check, ``check()`` runs one, ``fail()`` says what is wrong."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

__all__ = ["EXERCISES", "CheckFailed", "Exercise", "ExerciseNotDone", "check", "exercise", "fail"]

# A check reads the notebook's names and returns the "well done" sentence (or calls fail()).
CheckFunction = Callable[[dict[str, Any]], str]


class CheckFailed(Exception):
    """Your answer runs but is not right yet; the message says what to fix."""

    __module__ = "course_api.checks"  # tracebacks name the public package


class ExerciseNotDone(NotImplementedError):
    """The exercise cell has not defined its answer yet."""

    __module__ = "course_api.checks"


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    needs: tuple[str, ...]
    run: CheckFunction


EXERCISES: dict[str, Exercise] = {}


def exercise(exercise_id: str, title: str, needs: tuple[str, ...]) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check of ``exercise_id``."""

    def register(func: CheckFunction) -> CheckFunction:
        EXERCISES[exercise_id] = Exercise(exercise_id, title, needs, func)
        return func

    return register


def check(exercise_id: str, namespace: dict[str, Any] | None = None) -> None:
    """Check exercise ``exercise_id`` against the names defined in the notebook (or in ``namespace``)."""
    __tracebackhide__ = True  # IPython and pytest hide this frame: the student sees only the message
    if exercise_id not in EXERCISES:
        raise ValueError(f"There is no exercise {exercise_id!r}; known: {', '.join(sorted(EXERCISES))}.")
    spec = EXERCISES[exercise_id]
    # Frame 1 is the caller's: the notebook cell that ran check(...).
    ns = namespace if namespace is not None else sys._getframe(1).f_globals
    missing = [name for name in spec.needs if name not in ns]
    if missing:
        names = ", ".join(f"`{n}`" for n in missing)
        raise ExerciseNotDone(
            f"Exercise {exercise_id} ({spec.title}) is not done yet: the cell above must define {names}. "
            "Replace the `raise NotImplementedError` line with your code and run that cell first."
        )
    message = spec.run(ns)
    print(f"✔ Exercise {exercise_id} ({spec.title}): {message}")


def fail(message: str) -> NoReturn:
    """Stop the check with :class:`CheckFailed` and ``message``."""
    __tracebackhide__ = True
    raise CheckFailed(message)
