"""The exercise registry: ``@exercise`` registers a check with its points and hints; ``check()`` runs one,
``hint()`` gives the next hint, ``check_all("NN")`` shows a worksheet's progress, ``fail()`` says what is wrong.

A check reads the names of the notebook: the ``namespace`` given, or else the one the notebook's cells run in
(:func:`user_namespace`). Nothing depends on which check ran before, except ``hint()``'s count of hints given.
"""

from __future__ import annotations

import contextlib
import io
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NoReturn

from course_api.workbook.checks.errors import StudentCodeError, explain

__all__ = [
    "EXERCISES",
    "NOTEBOOKS",
    "CheckFailed",
    "Exercise",
    "ExerciseNotDone",
    "Outcome",
    "Progress",
    "ProgressRow",
    "UnknownWorksheet",
    "check",
    "check_all",
    "exercise",
    "fail",
    "hint",
    "progress",
    "user_namespace",
]

# A check reads the notebook's names and returns the "well done" sentence (or calls fail()).
CheckFunction = Callable[[dict[str, Any]], str]

# Lesson number -> the notebook's name, the same in notebooks/, exercises/ and solutions/.
NOTEBOOKS = {
    "01": "01_requests",
    "02": "02_json",
    "03": "03_fastapi",
    "04": "04_serving_a_model",
    "05": "05_docker",
    "06": "06_going_further",
}


WIDTH = 100  # the columns an output shows in JupyterLab at a usual window size: messages wrap within them
RED, BOLD, PLAIN = "\x1b[31m", "\x1b[1m", "\x1b[0m"


def wrapped(text: str, width: int = WIDTH) -> list[str]:
    """The lines of ``text``, each cut at word boundaries to fit ``width``; an indented line's continuation keeps
    its indentation."""
    lines: list[str] = []
    for line in text.splitlines() or [""]:
        lead = line[: len(line) - len(line.lstrip())]
        lines += textwrap.wrap(
            line, width=width, subsequent_indent=lead, break_long_words=False, break_on_hyphens=False
        ) or [""]
    return lines


class _Shown(Exception):
    """An exception that a notebook shows as one short block (IPython calls ``_render_traceback_``): what is wrong
    and what to try, without the frames of the course's code. The cell still fails, as Run All and tests need."""

    exercise = ""  # "Exercise 01.2 (title)", set by check()
    mark, state = "✘", "is not right yet"

    def _render_traceback_(self) -> list[str]:
        message = str(self)
        if self.exercise and not message.startswith(self.exercise):
            message = f"{self.exercise} {self.state}:\n{message}"
        first, *rest = wrapped(f"{self.mark} {message}")
        return [f"{RED}{BOLD}{first}{PLAIN}", *rest]


class Outcome(Enum):
    """What became of an exercise: a worksheet's progress (``check_all``) and the grader's grades say it with these.
    The value is the word students read, in ``check_all``'s table, grades.json and the feedback pages."""

    DONE = "done"
    NOT_DONE = "not done"  # its answer is missing, or a file it needs
    FAILING = "failing"  # its answer is wrong, raised, or did not finish in time
    TAMPERED = "tampered"  # the grader's only: the notebook changed the course's checks
    ERROR = "error"  # the grader's only: this version of the course has no such exercise


class CheckFailed(_Shown):
    """Your answer runs but is not right yet; the message says what to fix."""

    __module__ = "course_api.workbook.checks"  # tracebacks name the public package


class ExerciseNotDone(_Shown, NotImplementedError):
    """The exercise cell has not defined its answer yet."""

    __module__ = "course_api.workbook.checks"
    mark, state = "·", "is not done yet"


class UnknownWorksheet(_Shown, ValueError):
    """``check_all()`` was not told which worksheet, or was told one that does not exist; the message says how to
    call it."""

    __module__ = "course_api.workbook.checks"


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    needs: tuple[str, ...]
    run: CheckFunction
    points: int = 1
    hints: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # files of the student's project that the check reads, e.g. "my_api/main.py"

    @property
    def lesson(self) -> str:
        return self.id.split(".")[0]

    @property
    def steps(self) -> tuple[str, ...]:
        """The hints, then where the worked answer is."""
        where = f"solutions/{NOTEBOOKS.get(self.lesson, self.lesson)}.ipynb, exercise {self.id}"
        last = f"The worked answer is in {where}. Compare it with yours line by line, then run the check again."
        return (*self.hints, last)


EXERCISES: dict[str, Exercise] = {}
# hint()'s only memory: exercise id -> how many hints it gave, so that each call gives the next one.
HINTS_GIVEN: dict[str, int] = {}


def exercise(
    exercise_id: str,
    title: str,
    needs: tuple[str, ...],
    *,
    points: int = 1,
    hints: tuple[str, ...] = (),
    files: tuple[str, ...] = (),
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check of ``exercise_id``, worth ``points``, with ``hints``
    (from a pointer to where to look, to the key idea; never the answer's line). ``needs`` are the notebook's
    names the check reads; ``files``, the project's files (the check itself says when one is missing)."""

    def register(func: CheckFunction) -> CheckFunction:
        EXERCISES[exercise_id] = Exercise(exercise_id, title, needs, func, points, hints, files)
        return func

    return register


def _spec(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        raise ValueError(f"There is no exercise {exercise_id!r}; known: {', '.join(sorted(EXERCISES))}.")
    return EXERCISES[exercise_id]


def user_namespace() -> dict[str, Any]:
    """The names the notebook's cells define: IPython's user namespace in a notebook or IPython, and the
    ``__main__`` module's in a plain script."""
    try:
        from IPython import get_ipython
    except ImportError:  # IPython is not installed: never a notebook
        shell = None
    else:
        shell = get_ipython()
    if shell is not None:
        namespace: dict[str, Any] = shell.user_ns
        return namespace
    return vars(sys.modules["__main__"])


def run_check(spec: Exercise, ns: dict[str, Any]) -> str:
    """Run ``spec``'s check on ``ns``; the "well done" sentence, or :class:`CheckFailed` /
    :class:`ExerciseNotDone`. An error in the student's code becomes a CheckFailed that shows it."""
    __tracebackhide__ = True
    missing = [name for name in spec.needs if name not in ns]
    if missing:
        names = ", ".join(f"`{n}`" for n in missing)
        raise ExerciseNotDone(
            f"Exercise {spec.id} ({spec.title}) is not done yet: the cell above must define {names}. "
            "Replace the `raise NotImplementedError` line with your code and run that cell first."
        )
    try:
        return spec.run(ns)
    except (CheckFailed, ExerciseNotDone):
        raise
    except StudentCodeError as exc:
        message = explain(exc.error, exc.during)
        if message is None:
            raise exc.error from None
        raise CheckFailed(message) from None
    except Exception as exc:
        message = explain(exc)
        if message is None:  # not the student's code: a bug in the check, shown as it is
            raise
        raise CheckFailed(message) from None


def check(exercise_id: str, namespace: dict[str, Any] | None = None) -> None:
    """Check exercise ``exercise_id`` against the names defined in ``namespace`` (default: the notebook's,
    :func:`user_namespace`)."""
    __tracebackhide__ = True  # IPython and pytest hide this frame: the student sees only the message
    spec = _spec(exercise_id)
    ns = namespace if namespace is not None else user_namespace()
    try:
        message = run_check(spec, ns)
    except _Shown as exc:
        exc.exercise = f"Exercise {exercise_id} ({spec.title})"
        raise
    print("\n".join(wrapped(f"✔ Exercise {exercise_id} ({spec.title}): {message}")))


def hint(exercise_id: str) -> None:
    """Print the next hint for ``exercise_id``: each call goes one step further, the last says where the worked
    answer is (the count is kept per exercise, in :data:`HINTS_GIVEN`)."""
    spec = _spec(exercise_id)
    steps = spec.steps
    number = min(HINTS_GIVEN.get(exercise_id, 0) + 1, len(steps))
    HINTS_GIVEN[exercise_id] = number
    more = "" if number < len(steps) else " (the last one)"
    heading = f"Hint {number} of {len(steps)}{more} for exercise {exercise_id} ({spec.title}):"
    print("\n".join(wrapped(f"{heading}\n{steps[number - 1]}")))


def fail(message: str) -> NoReturn:
    """Stop the check with :class:`CheckFailed` and ``message``."""
    __tracebackhide__ = True
    raise CheckFailed(message)


@dataclass(frozen=True)
class ProgressRow:
    """One exercise of a worksheet's progress: what became of it and what its check said."""

    id: str
    title: str
    points: int
    outcome: Outcome
    message: str

    @property
    def earned(self) -> int:
        return self.points if self.outcome is Outcome.DONE else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "points": self.points,
            "earned": self.earned,
            "status": self.outcome.value,
            "message": self.message,
        }


@dataclass
class Progress:
    """A worksheet's progress: each exercise done, not done or failing, with points. ``as_dict()`` for tools."""

    lesson: str
    rows: list[ProgressRow] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(row.earned for row in self.rows)

    @property
    def total(self) -> int:
        return sum(row.points for row in self.rows)

    def as_dict(self) -> dict[str, Any]:
        exercises = [row.as_dict() for row in self.rows]
        return {"lesson": self.lesson, "points": self.points, "total": self.total, "exercises": exercises}

    def __repr__(self) -> str:
        marks = {Outcome.DONE: "✔", Outcome.NOT_DONE: "·", Outcome.FAILING: "✘"}
        lines = [f"Worksheet {self.lesson}: {self.points} of {self.total} points"]
        for row in self.rows:
            points = f"{row.earned}/{row.points}"
            shown = f"{marks.get(row.outcome, '?')} {row.outcome.value}"
            lines.append(f"  {row.id}  {shown:<11} {points:>5}  {row.title}")
            if row.outcome is Outcome.FAILING:
                lines.append(f"        {row.message.splitlines()[0]}")
        return "\n".join(lines)


def _progress_row(spec: Exercise, namespace: dict[str, Any]) -> ProgressRow:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            message = run_check(spec, namespace)
        outcome = Outcome.DONE
    except ExerciseNotDone as exc:
        outcome, message = Outcome.NOT_DONE, str(exc)
    except Exception as exc:  # CheckFailed, or a bug anywhere: reported, never a crash
        outcome, message = Outcome.FAILING, str(exc) or type(exc).__name__
    return ProgressRow(spec.id, spec.title, spec.points, outcome, message)


def progress(lesson: str, namespace: dict[str, Any]) -> Progress:
    """Run every check of ``lesson`` against ``namespace``, quietly; the result per exercise."""
    specs = sorted((s for s in EXERCISES.values() if s.lesson == lesson), key=lambda s: s.id)
    return Progress(lesson, [_progress_row(spec, namespace) for spec in specs])


def check_all(lesson: str | None = None, namespace: dict[str, Any] | None = None) -> Progress:
    """Every exercise of worksheet ``lesson`` (its number, e.g. "03"), checked against ``namespace`` (default: the
    notebook's, :func:`user_namespace`): done, not done or failing, with points. Without ``lesson``,
    :class:`UnknownWorksheet` says to name the worksheet: the result never depends on what ran before."""
    __tracebackhide__ = True
    if lesson is None:
        first = next(iter(NOTEBOOKS))
        raise UnknownWorksheet(
            f'Which worksheet? Give its number: check_all("{first}") in {NOTEBOOKS[first]}.ipynb, '
            f'check_all("{max(NOTEBOOKS)}") in {NOTEBOOKS[max(NOTEBOOKS)]}.ipynb, and so on.'
        )
    if lesson not in NOTEBOOKS:
        known = ", ".join(f'"{number}"' for number in NOTEBOOKS)
        raise UnknownWorksheet(f"There is no worksheet {lesson!r}: the worksheets are {known}.")
    return progress(lesson, namespace if namespace is not None else user_namespace())
