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

PACKAGE = str(Path(__file__).resolve().parents[2])  # course_api/
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
        r"^KeyError: -?\d+\.\d+$",
        "A float was used as a dict key: / always gives a float (204 / 100 is 2.04), while // gives the whole "
        "number (204 // 100 is 2).",
    ),
    (
        "KeyError",
        r"",
        "A dict has no entry for that key: check the key's spelling, and for a missing item answer 404 with "
        "raise HTTPException(status_code=404, detail=...) instead of letting a KeyError become a 500.",
    ),
    (
        "RuntimeError",
        r"requires grad",
        "The model recorded its work for training, and such a tensor cannot become NumPy: compute under "
        "`with torch.inference_mode():` (or call .detach() first).",
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
        r"HTTPException\(",
        "The function returned an HTTPException instead of raising it: write `raise HTTPException(status_code=..., "
        "detail=...)`; `return` is for the response, `raise` for an error.",
    ),
    (
        "ResponseValidationError",
        r"",
        "The function's return value does not match the route's response model: return the fields it declares.",
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
    (
        "TypeError",
        r"'method' object is not subscriptable",
        "A method was used without calling it: write response.json()[...] with the parentheses, not "
        "response.json[...].",
    ),
    (
        "UnicodeDecodeError",
        r"",
        "These bytes are not text (an image, say), so .decode() cannot read them: to put bytes in JSON, encode "
        "them as base64 text with base64.b64encode(data).decode('ascii').",
    ),
    (
        "TypeError",
        r"must be real number, not",
        "math.isnan() and math.isfinite() take only numbers: test isinstance(value, float) first.",
    ),
    (
        "",
        r"Out of range float values are not JSON compliant",
        "NaN and infinity have no JSON form: replace them (with None, or a number you agreed on) before sending "
        "or returning the data.",
    ),
    (
        "JSONDecodeError",
        r"",
        "The body is not JSON (it may be empty, or an HTML page): look at response.status_code and the "
        "Content-Type header before you call .json().",
    ),
    (
        "HTTPError",
        r"\d{3} (Client|Server) Error|(Client|Server) error '\d{3}",
        "The server answered with a 4xx or 5xx status, and raise_for_status() turned it into this exception: "
        "check the URL and what you sent.",
    ),
    (
        "MissingSchema",
        r"",
        "The URL is not complete: it needs http:// and the server's address in front of the path, for example "
        "{api_url}/astros.json rather than /astros.json.",
    ),
    (
        "",
        r"'numpy\.\w+' object is not iterable",
        "numpy numbers (numpy.int64, numpy.float32, ...) are not JSON numbers, and FastAPI cannot write them: "
        "convert each one with int() or float() (an array with .tolist()) before you return it.",
    ),
    (
        "TypeError",
        r"only (length-1|0-dimensional|size-1|integer scalar) arrays",
        "A NumPy array of several numbers was used where one number is expected: a model answers one row per "
        "input of a batch, so take the row you need first (probabilities[0] for a batch of one).",
    ),
    (
        "IndexError",
        r"(index out of range|out of bounds)",
        "An index past the end: a list of n items has indexes 0 to n - 1 (a list of one item has only index 0). "
        "Check the index you compute for the shortest list too.",
    ),
    (
        "ValueError",
        r"all input arrays must have the same shape",
        "np.stack puts arrays of the same shape on top of each other along a NEW axis. To join batches of "
        "different lengths one after another (16 + 16 + 2 rows), use np.concatenate (or np.vstack).",
    ),
    (
        "",
        r"'(Future|generator)' object",
        "That is a promise of a result (a Future, or a generator), not the result: call future.result() on each "
        "one (or use pool.map, which gives the results), or wrap a generator in list(...).",
    ),
]


def advice(error: BaseException) -> str:
    """What an error like ``error`` usually means, for a beginner; "" when nothing specific is known."""
    return advice_for({cls.__name__ for cls in type(error).__mro__}, f"{type(error).__name__}: {error}")


def advice_for(names: set[str], text: str) -> str:
    """:func:`advice` for an error known only by its type's names and its "Type: message" line (as a traceback
    printed by another process shows it)."""
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
    no line of theirs is in the traceback (FastAPI failing to write their route's response as JSON, say).
    """
    where = student_line(error.__traceback__)
    if where is None and not during:
        return None
    lines = [f"Your code raised {type(error).__name__}: {error}".rstrip(": ")]
    if during:
        lines[0] += f" (while the check sent {during})"
    if where is None:
        lines.append("  FastAPI raised it while handling your route's response, after your function returned.")
    else:
        lineno, source = where
        lines.append(f"  in your cell, line {lineno}: {source}" if source else f"  in your cell, line {lineno}")
    meaning = advice(error)
    if meaning:
        lines.append(f"That usually means: {meaning}")
    else:
        lines.append("Read the error's message, fix that line, run your cell again, then the check.")
    return "\n".join(lines)


def raised(call: str, error: BaseException, meaning: str = "") -> str:
    """A message for an exception that ``call`` of the student's function raised and the check caught on
    purpose: the exception, its message, the student's line, and what it means."""
    lines = [f"{call} raised {type(error).__name__}: {error}".rstrip(": ")]
    where = student_line(error.__traceback__)
    if where is not None:
        lines.append(f"  in your cell, line {where[0]}: {where[1]}")
    lines.append(meaning or advice(error) or "Read the error's message and fix that line.")
    return "\n".join(lines)
