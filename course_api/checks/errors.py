"""When a student's code raises inside a check: name the exception, its message and the line of the student's
cell, then say what that error usually means."""

from __future__ import annotations

import linecache
import re
import sys
import sysconfig
import traceback
from pathlib import Path
from types import TracebackType

PACKAGE = str(Path(__file__).resolve().parent.parent)
_LIBRARY_DIRS = tuple(
    {str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib") if (p := sysconfig.get_path(key))}
    | {str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve())}
)


class StudentCodeError(Exception):
    """Student code raised ``error`` while the check was doing ``during`` (e.g. "POST /top3 with a text file")."""

    def __init__(self, during: str, error: BaseException) -> None:
        super().__init__(f"{during}: {type(error).__name__}: {error}")
        self.during = during
        self.error = error


# (exception type name, pattern in its message) -> what it usually means. The first match wins.
ADVICE: list[tuple[str, str, str]] = [
    (
        "",
        r"(int64|int32|float32|float64|numpy|ndarray).*(JSON serializable|serialize)|"
        r"(JSON serializable|serialize).*(int64|int32|float32|float64|numpy|ndarray)",
        "numpy numbers (numpy.int64, numpy.float32, ...) are not JSON numbers: convert each one with int() or "
        "float() (an array with .tolist()) before you return it.",
    ),
    (
        "TypeError",
        r"max_pixels",
        "decode_image(data, max_pixels=...) needs the most pixels you accept, as a keyword argument: "
        "for example max_pixels=4096 * 4096.",
    ),
    (
        "",
        r"coroutine",
        "A coroutine is the promise of an async function's result, not the result: put `await` before the call "
        "(inside an `async def`).",
    ),
    (
        "RuntimeError",
        r"(asyncio\.run|event loop is (already )?running)",
        "A notebook already runs an event loop, so uvicorn.run() and asyncio.run() cannot start another: "
        "use serve_in_background(app) instead.",
    ),
    (
        "KeyError",
        r"",
        "A dict has no entry for that key: check the key's spelling, and for a missing item answer 404 with "
        "raise HTTPException(status_code=404, detail=...) instead of letting a KeyError become a 500.",
    ),
    (
        "NameError",
        r"",
        "A name is used before it is defined: check its spelling, and run the cells above (the setup cell too).",
    ),
    (
        "UnidentifiedImageError",
        r"",
        "The upload is not an image Pillow can read: catch the error and answer 415 Unsupported Media Type.",
    ),
    (
        "ImageError",
        r"",
        "The upload is not a PNG or JPEG (or is too large): catch ImageError and answer with an HTTPException.",
    ),
    (
        "ConnectionError",
        r"",
        "Nothing answers at that address: check the URL (use the server's .url) and that the server runs.",
    ),
    (
        "ResponseValidationError",
        r"",
        "The function's answer does not match the route's response model: return the fields it declares.",
    ),
    (
        "AttributeError",
        r"'NoneType'",
        "Something is None where you expected a value: a function without `return` gives None.",
    ),
    (
        "TypeError",
        r"(missing \d+ required|takes \d+ positional|unexpected keyword)",
        "A function got other arguments than it takes: compare the call with the function's definition.",
    ),
]


def advice(error: BaseException) -> str:
    """What an error like ``error`` usually means, for a beginner; "" when nothing specific is known."""
    names = {cls.__name__ for cls in type(error).__mro__}
    text = f"{type(error).__name__}: {error}"
    for name, pattern, meaning in ADVICE:
        if (not name or name in names) and re.search(pattern, text):
            return meaning
    return ""


def is_student_file(filename: str) -> bool:
    """A notebook cell or a file of the student's, not the course package, the standard library or a package."""
    if filename.startswith("<") and filename.endswith(">"):
        return not filename.startswith("<frozen")
    path = str(Path(filename).resolve())
    return not path.startswith(PACKAGE) and not path.startswith(_LIBRARY_DIRS)


def student_line(tb: TracebackType | None) -> tuple[int, str] | None:
    """(line number, source line) of the last traceback frame in the student's code."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if is_student_file(filename):
            found = (lineno, linecache.getline(filename, lineno, frame.f_globals).strip())
    return found


def explain(error: BaseException, during: str = "") -> str | None:
    """The message for an error of the student's code, or None when it is not the student's.

    ``during`` names the request the check sent to the student's app: an error then is the student's even when
    no line of theirs is in the traceback (FastAPI failing to write their route's answer as JSON, say).
    """
    where = student_line(error.__traceback__)
    if where is None and not during:
        return None
    lines = [f"Your code raised {type(error).__name__}: {error}".rstrip(": ")]
    if during:
        lines[0] += f" (while the check sent {during})"
    if where is None:
        lines.append("  FastAPI raised it while handling your route's answer, after your function returned.")
    else:
        lineno, source = where
        lines.append(f"  in your cell, line {lineno}: {source}" if source else f"  in your cell, line {lineno}")
    meaning = advice(error)
    if meaning:
        lines.append(f"That usually means: {meaning}")
    else:
        lines.append("Read the error's message, fix that line, run your cell again, then the check.")
    return "\n".join(lines)
