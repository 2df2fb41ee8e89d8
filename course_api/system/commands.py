"""Commands to suggest in messages, written so that they work from where the user is.

A bare ``course-api ...`` works only in a shell where the course's ``.venv`` is activated. Under ``make`` the make
target works from the course folder; under ``course.py`` (and on Windows, where there is usually no ``make``) the
same ``course.py`` command does; in a terminal the same ``course-api`` the user just ran works again, as they
typed it. In a notebook, where no command was typed, it is the make target (``course.py`` on Windows).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

COURSE_PY = "COURSE_PY"  # course.py sets it for what it runs


def course_py(arguments: str) -> str:
    """``course.py <arguments>`` as it is typed here: ``py course.py`` on Windows, ``python3 course.py`` elsewhere."""
    return f"{'py' if os.name == 'nt' else 'python3'} course.py {arguments}"


def suggest(arguments: str, make_target: str, *, course_api: bool = True) -> str:
    """A command line for ``course-api <arguments>`` (``course.py <arguments>``, ``make <make_target>``) that works
    from where the user is; ``course_api=False`` for set-up commands that only ``course.py`` and ``make`` have."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if os.environ.get("MAKELEVEL"):
        return f"make {make_target}"
    if course_api and program is not None and program.stem == "course-api":
        on_path = shutil.which("course-api")
        if on_path and Path(on_path).resolve() == program.resolve():
            return f"course-api {arguments}"
        return f"{sys.argv[0]} {arguments}"
    if os.environ.get(COURSE_PY) or os.name == "nt":
        return course_py(arguments)
    return f"make {make_target}"
