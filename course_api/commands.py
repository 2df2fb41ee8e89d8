"""Commands to suggest in messages, written so that they work from where the user is.

A bare ``course-api ...`` works only in a shell where the course's ``.venv`` is activated. Under ``make`` (and in
notebooks, where no terminal command was typed) the make target works from the course folder; in a terminal the
same ``course-api`` the user just ran works again, as they typed it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def suggest(arguments: str, make_target: str) -> str:
    """A command line for ``course-api <arguments>``: ``make <make_target>`` or the ``course-api`` just run."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if os.environ.get("MAKELEVEL") or program is None or program.stem != "course-api":
        return f"make {make_target}"
    on_path = shutil.which("course-api")
    if on_path and Path(on_path).resolve() == program.resolve():
        return f"course-api {arguments}"
    return f"{sys.argv[0]} {arguments}"
