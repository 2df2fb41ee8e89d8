"""Hints teach without giving the answer away: no stub (the worksheet's `raise NotImplementedError(...)` text) and no
first hint holds a line of its solution; every exercise has hints that go one step further each time."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

import nbformat
import pytest

from course_api.workbook.checks import EXERCISES, hint
from course_api.workbook.checks.registry import NOTEBOOKS
from course_api.workbook.exercises import BEGIN, END, HINT
from helpers import ROOT

TRIVIAL = re.compile(r"^(return|pass|else:|try:|finally:|\)|\]|\}|\)\:|\]\)|\}\)|.{0,11})$")


def blocks(lesson: str) -> dict[str, tuple[list[str], str]]:
    """Exercise id -> (the solution block's lines, its stub hint), from solutions/."""
    nb = nbformat.read(ROOT / "solutions" / f"{NOTEBOOKS[lesson]}.ipynb", as_version=4)
    found: dict[str, tuple[list[str], str]] = {}
    pending: tuple[list[str], str] | None = None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.startswith("check("):
            assert pending is not None, f"{cell.source}: no solution block before it"
            found[cell.source.split('"')[1]] = pending
            pending = None
        elif BEGIN in cell.source:
            inside = cell.source.split(BEGIN, 1)[1].split(END, 1)[0].splitlines()
            hints = " ".join(line.strip()[len(HINT) :].strip() for line in inside if line.strip().startswith(HINT))
            code = [line.strip() for line in inside if line.strip() and not line.strip().startswith("#")]
            pending = (code, hints)
    return found


def leaks(line: str, text: str) -> bool:
    """Whether ``text`` holds ``line``, or nearly (in order, in runs of 4 characters or more: 60% of it)."""
    if TRIVIAL.match(line):
        return False
    squeeze = re.compile(r"\s+")
    line, text = squeeze.sub(" ", line), squeeze.sub(" ", text)
    matched = sum(
        b.size for b in SequenceMatcher(None, line, text, autojunk=False).get_matching_blocks() if b.size >= 4
    )
    return matched >= 0.6 * len(line)


def test_the_leak_test_catches_a_line_given_away():
    line = 'raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"Note {note_id} not found")'
    assert leaks(line, 'raise HTTPException(status_code=404, detail=f"Note {note_id} not found")')
    assert not leaks(line, "Look at how notebook 03 answers a missing item: which exception, which status?")


@pytest.mark.parametrize("lesson", sorted(NOTEBOOKS))
def test_no_stub_or_first_hint_holds_a_line_of_its_solution(lesson):
    problems = []
    for exercise, (code, stub) in blocks(lesson).items():
        first = EXERCISES[exercise].hints[0] if EXERCISES[exercise].hints else ""
        for where, text in (("the stub's hint", stub), ("the first hint", first)):
            problems += [f"{exercise}: {where} gives away `{line}`" for line in code if leaks(line, text)]
    assert not problems, "\n".join(problems)


def test_every_exercise_has_hints_in_steps(capsys):
    for exercise, spec in sorted(EXERCISES.items()):
        assert len(spec.hints) >= 2, f"{exercise}: at least two hints (where to look, then the key idea)"
        assert all(len(h) >= 20 for h in spec.hints), f"{exercise}: each hint is a sentence"
        said = []
        for _ in range(len(spec.steps) + 1):
            hint(exercise)
            said.append(capsys.readouterr().out)
        assert len(set(said[:-1])) == len(spec.steps), f"{exercise}: each call gives the next step"
        assert said[-1] == said[-2], f"{exercise}: after the last step, hint() repeats it"
        assert "solutions/" in said[-1], f"{exercise}: the last step says where the worked answer is"


def test_hints_are_shown_cut_at_word_boundaries(capsys):
    """hint() prints within an output's width, words whole (no "(w ith" across a line end)."""
    from course_api.workbook.checks import hint
    from course_api.workbook.checks.registry import HINTS_GIVEN, WIDTH

    for exercise in sorted(EXERCISES):
        for _ in EXERCISES[exercise].steps:
            hint(exercise)
    HINTS_GIVEN.clear()
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) > len(EXERCISES)
    assert all(len(line) <= WIDTH or " " not in line.strip() for line in shown)
