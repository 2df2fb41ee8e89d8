"""A class's grades: ``grades.csv`` (a row per student), ``grades.json`` (with every check's message) and
``feedback/<student>.html`` (one page per student, readable offline: no script, no outside file)."""

from __future__ import annotations

import csv
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_api.workbook.checks.registry import EXERCISES, NOTEBOOKS, Outcome
from course_api.workbook.grading.probe import ExerciseResult
from course_api.workbook.grading.session import RANK, SheetResult

NOT_HANDED_IN = ExerciseResult(Outcome.NOT_DONE, "The worksheet was not handed in.")


@dataclass(frozen=True)
class ExerciseGrade:
    """An exercise's grade: its best result over the student's worksheets, the file that result came from (None:
    not handed in), and the points it earned of the most it could."""

    result: ExerciseResult
    file: str | None
    points: int
    most: int

    def as_dict(self) -> dict[str, Any]:
        """As grades.json has it."""
        return {"points": self.points, "max": self.most, **self.result.as_dict(), "file": self.file}


@dataclass
class StudentGrades:
    student: str
    sheets: list[SheetResult] = field(default_factory=list)

    def outcome(self, exercise_id: str) -> ExerciseGrade:
        """The best outcome of an exercise over the student's worksheets (a student may hand in two copies)."""
        spec = EXERCISES[exercise_id]
        best, file = NOT_HANDED_IN, None
        for sheet in self.sheets:
            found = sheet.exercises.get(exercise_id)
            if found is not None and (file is None or RANK[found.outcome] > RANK[best.outcome]):
                best, file = found, sheet.file
        points = spec.points if best.outcome is Outcome.DONE else 0
        return ExerciseGrade(best, file, points, spec.points)

    def outcomes(self) -> dict[str, ExerciseGrade]:
        return {exercise_id: self.outcome(exercise_id) for exercise_id in sorted(EXERCISES)}

    @property
    def total(self) -> int:
        return sum(grade.points for grade in self.outcomes().values())


def feedback_name(student: str, taken: set[str]) -> str:
    """A file name for the student's page: their folder's name, made safe, and unique."""
    base = re.sub(r"[^\w.-]+", "_", student).strip("._") or "student"
    name, number = base, 2
    while name.lower() in taken:
        name, number = f"{base}_{number}", number + 1
    taken.add(name.lower())
    return f"{name}.html"


def exercise_table() -> list[dict[str, Any]]:
    return [
        {"id": e.id, "title": e.title, "points": e.points, "worksheet": NOTEBOOKS[e.lesson]}
        for e in sorted(EXERCISES.values(), key=lambda e: e.id)
    ]


def to_json(students: list[StudentGrades], names: dict[str, str]) -> dict[str, Any]:
    return {
        "max_total": sum(e.points for e in EXERCISES.values()),
        "exercises": exercise_table(),
        "students": [
            {
                "student": s.student,
                "total": s.total,
                "feedback": f"feedback/{names[s.student]}",
                "exercises": {exercise_id: grade.as_dict() for exercise_id, grade in s.outcomes().items()},
                "worksheets": [
                    {
                        "file": sheet.file,
                        "lesson": sheet.lesson,
                        "notes": [note.text for note in sheet.notes],
                        "isolation": sheet.isolation,
                    }
                    for sheet in s.sheets
                ],
            }
            for s in students
        ],
    }


def write_csv(path: Path, students: list[StudentGrades]) -> None:
    ids = sorted(EXERCISES)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", *ids, "total"])
        for s in students:
            outcomes = s.outcomes()
            writer.writerow([s.student, *(outcomes[i].points for i in ids), s.total])


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; table-layout: fixed; }
col.exercise { width: 30%; } col.points { width: 5rem; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem; text-align: left; vertical-align: top; }
td.points { white-space: nowrap; text-align: right; }
.done { color: #1a7f37; } .failing, .tampered { color: #b42318; } .not-done { color: #6b7280; }
pre { white-space: pre-wrap; margin: 0; font-size: .9rem; }
.note { background: #fff7e6; border-left: 4px solid #f0a500; padding: .4rem .8rem; margin: .3rem 0; }
"""


def _points(lesson: str, outcomes: dict[str, ExerciseGrade]) -> str:
    ids = [i for i in outcomes if EXERCISES[i].lesson == lesson]
    return f"{sum(outcomes[i].points for i in ids)} of {sum(outcomes[i].most for i in ids)} points"


def _contents(outcomes: dict[str, ExerciseGrade]) -> str:
    """Links to each worksheet's section: a way to it with the keyboard (Tab, Enter) as well as by scrolling."""
    items = "".join(
        f'<li><a href="#lesson-{lesson}">{html.escape(name)}</a>: {_points(lesson, outcomes)}</li>'
        for lesson, name in NOTEBOOKS.items()
    )
    return f'<nav aria-label="Worksheets"><ul>{items}</ul></nav>'


def _sheet_section(lesson: str, grades: StudentGrades, outcomes: dict[str, ExerciseGrade]) -> str:
    ids = [i for i in sorted(outcomes) if EXERCISES[i].lesson == lesson]
    sheets = [s for s in grades.sheets if s.lesson == lesson]
    parts = [f'<h2 id="lesson-{lesson}">{html.escape(NOTEBOOKS[lesson])}: {_points(lesson, outcomes)}</h2>']
    if not sheets:
        return parts[0] + '\n<p class="not-done">Not handed in.</p>'
    parts.append(f"<p>File: {html.escape(', '.join(s.file for s in sheets))}</p>")
    parts += [f'<p class="note">{html.escape(note.text)}</p>' for s in sheets for note in s.notes]
    parts.append('<table><col class="exercise"><col class="points"><col>')
    parts.append("<tr><th>exercise</th><th>points</th><th>result</th></tr>")
    for i in ids:
        o = outcomes[i]
        status = html.escape(o.result.outcome.value)
        parts.append(
            f'<tr><td>{i} {html.escape(EXERCISES[i].title)}</td><td class="points">{o.points} / {o.most}</td>'
            f'<td><strong class="{status.replace(" ", "-")}">{status}</strong>'
            f"<pre>{html.escape(o.result.message)}</pre></td></tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def feedback_page(grades: StudentGrades) -> str:
    outcomes = grades.outcomes()
    most = sum(o.most for o in outcomes.values())
    others = [s for s in grades.sheets if s.lesson is None]
    notes = "".join(f'<p class="note">{html.escape(n.text)}</p>' for s in others for n in s.notes)
    if not grades.sheets:
        notes += '<p class="note">No worksheets were found in this folder (names like 01_requests.ipynb).</p>'
    body = "\n".join(_sheet_section(lesson, grades, outcomes) for lesson in NOTEBOOKS)
    title = f"Feedback for {html.escape(grades.student)}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><main><h1>{title}</h1>"
        f"<p><strong>{grades.total} of {most} points.</strong> Each exercise shows what the course's check said "
        f"about your answer: fix what it names, then run the check in your notebook to see it pass. A cell is named "
        f"by its place among the notebook's code cells, counting from the top.</p>"
        f"{notes}{_contents(outcomes)}{body}</main></body></html>\n"
    )


def write_all(output: Path, students: list[StudentGrades]) -> dict[str, str]:
    """Write the three outputs into ``output``; each student's feedback file name."""
    feedback = output / "feedback"
    feedback.mkdir(parents=True, exist_ok=True)
    for old in feedback.glob("*.html"):
        old.unlink()
    taken: set[str] = set()
    names = {s.student: feedback_name(s.student, taken) for s in students}
    for s in students:
        (feedback / names[s.student]).write_text(feedback_page(s), encoding="utf-8")
    write_csv(output / "grades.csv", students)
    data = to_json(students, names)
    (output / "grades.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return names
