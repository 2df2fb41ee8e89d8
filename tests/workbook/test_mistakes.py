"""The mistake corpus: every exercise's check fails each real wrong answer with a message that names the mistake,
and accepts the worked answer and another correct one. Each answer runs as the student's cell would: after the
worksheet's setup cell and the cells before it (earlier exercises answered as in solutions/)."""

from __future__ import annotations

import contextlib
import importlib
import io
import linecache
import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from corpus import Case
from course_api.workbook.checks import EXERCISES, CheckFailed, ExerciseNotDone
from course_api.workbook.checks.registry import NOTEBOOKS, WIDTH, run_check
from helpers import ROOT

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
LESSONS = sorted(NOTEBOOKS)


def run_cell(source: str, ns: dict[str, Any], name: str) -> None:
    """Run ``source`` as a notebook cell: its lines show in tracebacks, its prints are kept quiet. A cell that
    starts with IPython's ``%%writefile [-a] PATH`` writes (or appends) the rest of its text to PATH, as IPython
    does (in an existing folder)."""
    first, _, body = source.partition("\n")
    if first.startswith("%%writefile"):
        *options, path = first.split()[1:]
        with open(path, "a" if "-a" in options else "w", encoding="utf-8") as file:
            file.write(body + "\n")
        return
    filename = f"<cell {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(source, filename, "exec", dont_inherit=True), ns)


def solution_block(source: str) -> str:
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(BEGIN))
    end = next(i for i, line in enumerate(lines) if line.strip().startswith(END))
    return "\n".join(line for line in lines[start + 1 : end] if not line.strip().startswith("### HINT:"))


class Worksheet:
    """A solution notebook, cut into its setup, the code cells before each exercise, and each worked answer."""

    def __init__(self, lesson: str) -> None:
        nb = nbformat.read(ROOT / "solutions" / f"{NOTEBOOKS[lesson]}.ipynb", as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
        self.setup = code[0]
        self.before: dict[str, list[str]] = {}
        self.answer: dict[str, str] = {}
        self.magic: dict[str, str] = {}  # an answer cell's first line when it is a cell magic (%%writefile ...)
        cells: list[str] = []
        for source in code[1:]:
            if source.startswith("check("):  # the cell before a check is the exercise's answer cell
                exercise = source.split('"')[1]
                self.before[exercise] = cells[:-1]
                self.answer[exercise] = solution_block(cells[-1])
                self.magic[exercise] = cells[-1].split("\n", 1)[0] if cells[-1].startswith("%%") else ""
            else:
                cells.append(source)


@pytest.fixture(scope="module", params=LESSONS)
def lesson(request, tmp_path_factory) -> Any:
    """The lesson's worksheet, its corpus module, and its namespace after the setup cell (run once)."""
    name = request.param
    folder = tmp_path_factory.mktemp(f"lesson{name}")
    old = Path.cwd()
    os.chdir(folder)  # worksheets write files (03 to 05: my_api/) next to themselves
    ns: dict[str, Any] = {"device": "cpu", "base_url": None}
    sheet = Worksheet(name)
    module = importlib.import_module(f"corpus.lesson{name}")
    if hasattr(module, "prepare"):  # what earlier worksheets left: 05 containerises the project of 04
        module.prepare(folder)
    run_cell(sheet.setup, ns, f"{name} setup")
    yield name, sheet, module, ns
    for value in list(ns.values()):
        if type(value).__name__ == "BackgroundServer":
            value.stop()
    os.chdir(old)


@pytest.fixture(autouse=True)
def _short_start_limit(monkeypatch):
    """A student's app that hangs at start-up is stopped after 10 s here (30 s for students)."""
    monkeypatch.setattr("course_api.workbook.checks.student_app.START_SECONDS", 10.0)


def shown_badly(exc: Exception) -> list[str]:
    """What is wrong with the block a notebook shows for a failed check (IPython's ``_render_traceback_``): a frame
    or a path of the course's code (the student's own lines may show), or a line wider than the output (one
    unbreakable word aside)."""
    shown = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in exc._render_traceback_()]  # type: ignore[attr-defined]
    course_code = re.compile(r"course_api[/\\]")
    problems = [f"shows the course's code: {line!r}" for line in shown if course_code.search(line)]
    wide = [line for line in shown if len(line) > WIDTH and " " in line.strip()]
    return problems + [f"a line wider than {WIDTH} columns: {line!r}" for line in wide]


def cases(lesson: str) -> list[Case]:
    module = importlib.import_module(f"corpus.lesson{lesson}")
    return list(module.CASES)


def attempt(lesson_fixture: Any, exercise: str, answer: str, label: str) -> str:
    """Run the cells before ``exercise``, then ``answer`` as its cell, then its check; the check's sentence."""
    name, sheet, module, base = lesson_fixture
    ns = dict(base)
    run_cell(module.RESET, ns, f"{name} reset")
    for index, source in enumerate(sheet.before[exercise]):
        run_cell(source, ns, f"{name} before {exercise} #{index}")
    magic = sheet.magic[exercise]
    run_cell(f"{magic}\n{answer.lstrip()}" if magic else answer, ns, label)  # the file's line 1 is the code's
    return run_check(EXERCISES[exercise], ns)


def test_every_exercise_has_a_corpus():
    for lesson in LESSONS:
        by_exercise: dict[str, list[Case]] = {}
        for case in cases(lesson):
            by_exercise.setdefault(case.exercise, []).append(case)
        for spec in (s for s in EXERCISES.values() if s.lesson == lesson):
            found = by_exercise.get(spec.id, [])
            wrong = [c for c in found if not c.passes]
            right = [c for c in found if c.passes]
            minimum = 6 if spec.lesson in ("03", "04", "05") else 3  # 6 where the student builds their own API
            assert len(wrong) >= minimum, f"{spec.id}: at least {minimum} real mistakes, found {len(wrong)}"
            assert right, f"{spec.id}: a second correct answer (not the worked one)"


def test_the_worked_answers_pass(lesson):
    name, sheet, _, _ = lesson
    for exercise in sorted(e for e in EXERCISES if e.startswith(name)):
        attempt(lesson, exercise, sheet.answer[exercise], f"{exercise} worked answer")


def test_other_correct_answers_pass(lesson):
    for case in (c for c in cases(lesson[0]) if c.passes):
        try:
            attempt(lesson, case.exercise, case.code, case.id)
        except CheckFailed as exc:
            pytest.fail(f"{case.id}: a correct answer was refused:\n{exc}")


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")  # the "missing await" mistakes
def test_every_mistake_is_caught_and_named(lesson):
    problems = []
    for case in (c for c in cases(lesson[0]) if not c.passes):
        try:
            attempt(lesson, case.exercise, case.code, case.id)
        except (CheckFailed, ExerciseNotDone) as exc:
            missing = [words for words in case.says if words.lower() not in str(exc).lower()]
            if missing:
                problems.append(f"{case.id}: the message does not say {missing}:\n    {exc}")
            problems += [f"{case.id}: {why}" for why in shown_badly(exc)]
        else:
            problems.append(f"{case.id}: the check accepted this mistake")
    assert not problems, "\n".join(problems)
