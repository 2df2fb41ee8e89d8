"""What there is to grade: ``SUBMISSIONS/<student>/NN_*.ipynb``, read leniently, and the cells to run.

Grading goes by exercise id, not by cell position, so a worksheet's cells are planned, not taken as they are:

* the student's code cells run in the order the student left them (moved, copied and split cells included);
* cells that only call ``check(...)``, ``hint(...)`` or ``check_all(...)`` are left out: the grader runs the
  course's own checks itself, after every cell that mentions a name an exercise needs;
* a setup cell of the course's worksheet that the student deleted is put back where it was (found by lining the
  student's cells up with the course's), so an answer does not fail for want of an import it never touched.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from course_api.workbook.checks.registry import NOTEBOOKS

WORKSHEET = re.compile(r"^(\d\d)_.*\.ipynb$")
CHECK_CALLS = {"check", "hint", "check_all"}


class NoteKind(Enum):
    """What a worksheet's note is about: the grader acts on the kind, never on the note's words."""

    INFO = "info"  # what the grader noticed or did: setup cells put back, a file not copied
    CELL_ERROR = "cell error"  # a cell of the student's raised, or the kernel did not run it
    NOT_GRADED = "not graded"  # the file is no worksheet the grader can read: nothing in it was checked
    STOPPED = "stopped"  # the kernel stopped or the time ran out: the cells after were not run
    GRADER = "grader"  # the grader's own trouble (no kernel, ...): not the student's doing


@dataclass(frozen=True)
class Note:
    """A sentence about a whole worksheet for its feedback (``text``, written as it is), and what it is about."""

    text: str
    kind: NoteKind = NoteKind.INFO


class NotebookError(ValueError):
    """A file that is not a notebook the grader can read; the message says why, in words."""


@dataclass(frozen=True)
class Cell:
    source: str
    origin: str  # "student" or "restored"
    number: int  # position in the student's notebook (1-based); for a restored cell, the one before it


@dataclass
class Worksheet:
    student: str
    path: Path
    lesson: str | None
    cells: list[Cell] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def find_students(submissions: Path) -> dict[str, list[Path]]:
    """Each student's folder name and worksheets (``NN_*.ipynb``), sorted; checkpoint copies left out."""
    students: dict[str, list[Path]] = {}
    for folder in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        students[folder.name] = sorted(p for p in folder.glob("*.ipynb") if WORKSHEET.match(p.name) and p.is_file())
    return students


def lesson_of(path: Path) -> str | None:
    match = WORKSHEET.match(path.name)
    return match.group(1) if match and match.group(1) in NOTEBOOKS else None


def _source(cell: Any) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def read_code_cells(path: Path) -> list[str]:
    """The code cells' sources of the notebook at ``path``, from any nbformat version, or :class:`NotebookError`."""
    try:
        data = json.loads(path.read_bytes())
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{path.name} is not text (UTF-8): {exc.reason}.") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise NotebookError(f"{path.name} is not valid JSON ({exc.msg} at {where}); it may be cut short.") from None
    if not isinstance(data, dict):
        raise NotebookError(f"{path.name} is JSON but not a notebook (no cells).")
    cells = data.get("cells")
    if cells is None and isinstance(data.get("worksheets"), list):  # nbformat 3
        cells = [c for sheet in data["worksheets"] if isinstance(sheet, dict) for c in sheet.get("cells", [])]
        cells = [{**c, "source": c.get("input", "")} for c in cells if isinstance(c, dict)]
    if not isinstance(cells, list):
        raise NotebookError(f"{path.name} is JSON but not a notebook (no cells).")
    return [_source(c) for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]


def only_checks(source: str) -> bool:
    """Whether a cell does nothing but call check(), hint() or check_all()."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    return bool(tree.body) and all(
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id in CHECK_CALLS
        for node in tree.body
    )


def is_given(source: str) -> bool:
    """A setup cell of the course's worksheet: neither an answer stub nor a check."""
    return bool(source.strip()) and "raise NotImplementedError" not in source and not only_checks(source)


def _key(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _deleted(course: list[str], student: list[str], tag: str) -> list[str]:
    """The course's setup cells in a block of the alignment that no student cell of that block resembles."""
    if tag not in ("delete", "replace"):
        return []
    keys = [_key(s) for s in student]

    def kept(given: str) -> bool:
        key = _key(given)
        return any(key in other or difflib.SequenceMatcher(None, key, other).ratio() > 0.6 for other in keys)

    return [s for s in course if is_given(s) and not kept(s)]


def plan_cells(student: list[str], course: list[str] | None) -> list[Cell]:
    """The cells to run: the student's, plus the course's setup cells the student deleted, in place."""
    cells: list[Cell] = []
    opcodes: list[tuple[str, int, int, int, int]] = [("equal", 0, 0, 0, len(student))]
    if course:
        keys = ([_key(s) for s in course], [_key(s) for s in student])
        opcodes = list(difflib.SequenceMatcher(None, *keys, autojunk=False).get_opcodes())
    for tag, c_start, c_end, s_start, s_end in opcodes:
        block = student[s_start:s_end]
        cells += [Cell(s, "restored", s_start) for s in _deleted(course[c_start:c_end] if course else [], block, tag)]
        for number, source in enumerate(block, start=s_start + 1):
            if source.strip() and not only_checks(source):
                cells.append(Cell(source, "student", number))
    return cells


def course_worksheet(course: Path | None, lesson: str) -> list[str] | None:
    """The code cells of the course's own worksheet for ``lesson`` (``exercises/NN_name.ipynb``), if present."""
    if course is None:
        return None
    path = course / "exercises" / f"{NOTEBOOKS[lesson]}.ipynb"
    return read_code_cells(path) if path.is_file() else None


def load_worksheet(student: str, path: Path, course: Path | None) -> Worksheet:
    """Read and plan one worksheet; what went wrong is in its notes (and it then has no cells)."""
    sheet = Worksheet(student, path, lesson_of(path))
    if sheet.lesson is None:
        known = ", ".join(f"{name}.ipynb" for name in NOTEBOOKS.values())
        sheet.notes.append(
            Note(f"{path.name} is not a worksheet of this course (its worksheets are {known}).", NoteKind.NOT_GRADED)
        )
        return sheet
    try:
        course_cells = course_worksheet(course, sheet.lesson)
        sheet.cells = plan_cells(read_code_cells(path), course_cells)
    except NotebookError as exc:
        sheet.notes.append(Note(f"Not graded: {exc}", NoteKind.NOT_GRADED))
        return sheet
    if course_cells and not any(
        c.origin == "student" and _key(c.source) in map(_key, course_cells) for c in sheet.cells
    ):
        number = NOTEBOOKS[sheet.lesson]
        sheet.notes.append(
            Note(f"This does not look like worksheet {number}: no cell matches the course's. Graded as it is.")
        )
        sheet.cells = [c for c in sheet.cells if c.origin == "student"]
        return sheet
    restored = [c for c in sheet.cells if c.origin == "restored"]
    if restored:
        sheet.notes.append(
            Note(f"{len(restored)} setup cell(s) of the course's worksheet were missing and were put back.")
        )
    return sheet
