"""``course-api grade``: every student's worksheets, ``jobs`` at a time, each in its own sandboxed kernel."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_api.workbook.checks.registry import Outcome
from course_api.workbook.grading.gradebook import StudentGrades, write_all
from course_api.workbook.grading.session import Limits, SheetResult, grade_worksheet
from course_api.workbook.grading.submissions import NoteKind, Worksheet, find_students, load_worksheet


@dataclass
class ClassResult:
    students: list[StudentGrades]
    seconds: float

    @property
    def sheets(self) -> list[SheetResult]:
        return [sheet for student in self.students for sheet in student.sheets]

    @property
    def grader_trouble(self) -> list[str]:
        """Worksheets the grader itself could not run (no kernel, ...): not the students' doing."""
        return [
            f"{sheet.student}/{sheet.file}: {note.text}"
            for sheet in self.sheets
            for note in sheet.notes
            if note.kind is NoteKind.GRADER
        ]


def default_course() -> Path | None:
    """The course folder whose exercises/ holds the worksheets: here, or the one this package lives in."""
    for folder in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (folder / "exercises").is_dir():
            return folder
    return None


class ProgressBar:
    """A bar on a terminal; a line per worksheet in a log."""

    def __init__(self, total: int, echo: Callable[[str], None] | None) -> None:
        self.total, self.done, self.echo = total, 0, echo
        self.bar: Any = None
        if echo is None and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="worksheet", file=sys.stderr)

    def update(self, sheet: SheetResult) -> None:
        self.done += 1
        earned = sum(1 for result in sheet.exercises.values() if result.outcome is Outcome.DONE)
        line = (
            f"{sheet.student}/{sheet.file}: {earned} of {len(sheet.exercises)} exercises done ({sheet.seconds:.1f} s)"
        )
        if self.bar is not None:
            self.bar.set_postfix_str(f"{sheet.student}/{sheet.file}", refresh=False)
            self.bar.update(1)
        else:
            (self.echo or (lambda text: print(text, file=sys.stderr)))(f"[{self.done}/{self.total}] {line}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def _grade_all(sheets: list[Worksheet], jobs: int, limits: Limits, progress: ProgressBar) -> list[SheetResult]:
    gate = asyncio.Semaphore(jobs)

    async def one(sheet: Worksheet) -> SheetResult:
        async with gate:
            result = await grade_worksheet(sheet, limits)
        progress.update(result)
        return result

    return list(await asyncio.gather(*(one(sheet) for sheet in sheets)))


def grade_class(
    submissions: Path,
    output: Path,
    *,
    jobs: int = 1,
    limits: Limits | None = None,
    course: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> ClassResult:
    """Grade ``submissions/<student>/NN_*.ipynb`` into ``output``; the same input gives the same grades."""
    import time

    started = time.perf_counter()
    course = course or default_course()
    found = find_students(submissions)
    sheets = [load_worksheet(student, path, course) for student, paths in found.items() for path in paths]
    progress = ProgressBar(len(sheets), echo)
    try:
        results = asyncio.run(_grade_all(sheets, max(1, jobs), limits or Limits(), progress))
    finally:
        progress.close()
    students = {name: StudentGrades(name) for name in found}
    for result in results:  # gather keeps the input order: students and files sorted
        students[result.student].sheets.append(result)
    ordered = [students[name] for name in found]
    output.mkdir(parents=True, exist_ok=True)
    write_all(output, ordered)
    return ClassResult(ordered, round(time.perf_counter() - started, 1))
