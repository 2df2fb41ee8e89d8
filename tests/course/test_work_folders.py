"""Each lesson writes its files into one work folder, ``work/NN/`` next to the notebook, which git ignores and
`make clean` removes; worksheets 03 to 05 also write the student's own project, ``my_api/``, which stays.

A static check over every code cell: each literal path a cell names for a file (``Path("...")``, ``%%writefile``,
``open("...", "w")``, ``savefig("...")``) lies in the lesson's work folder (or ``my_api/``).
tests/course/test_notebooks.py checks the same on the disk after running each notebook."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

import course
from helpers import ROOT

WALKTHROUGHS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WORKSHEETS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "exercises").glob("[0-9]*.ipynb"))
NOTEBOOKS = WALKTHROUGHS + WORKSHEETS
PROJECT_LESSONS = {"03", "04", "05"}  # the worksheets that build the student's my_api/
WRITEFILE = re.compile(r"\A%%writefile(?:\s+-a)?\s+(\S+)")
LITERAL_PATHS = (
    re.compile(r"""\bPath\(\s*["']([^"']*)["']"""),
    re.compile(r"""\bopen\(\s*["']([^"']*)["']\s*,\s*(?:mode\s*=\s*)?["'][wax]"""),
    re.compile(r"""\bsavefig\(\s*["']([^"']*)["']"""),
)
WRITES = re.compile(r"\.write_text\(|\.write_bytes\(|\.mkdir\(|savefig\(|save_digit_png\(|\A%%writefile|\bopen\(")


def allowed(path: Path) -> tuple[str, ...]:
    lesson = path.name[:2]
    worksheet = path.parent.name in ("solutions", "exercises")
    return (f"work/{lesson}",) + (("my_api",) if worksheet and lesson in PROJECT_LESSONS else ())


def code_cells(path: Path) -> list[tuple[int, str]]:
    return [(i, c.source) for i, c in enumerate(nbformat.read(path, as_version=4).cells) if c.cell_type == "code"]


def named_paths(source: str) -> list[str]:
    """The literal paths a code cell names for files (not the text a %%writefile cell writes)."""
    magic = WRITEFILE.match(source)
    if magic:
        return [magic.group(1)]
    return [found for pattern in LITERAL_PATHS for found in pattern.findall(source)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_lesson_names_files_only_in_its_work_folder(path):
    roots = allowed(path)
    outside = [
        f"cell {index}: {name!r}"
        for index, source in code_cells(path)
        for name in named_paths(source)
        if not any(name == root or name.startswith(f"{root}/") for root in roots)
    ]
    assert not outside, f"write into {' or '.join(r + '/' for r in roots)} only (`make clean` removes work/): {outside}"


@pytest.mark.parametrize("path", WALKTHROUGHS, ids=lambda p: p.stem)
def test_a_walkthrough_that_writes_makes_its_work_folder_first(path):
    """One convention a beginner can follow: the first code cell after the parameters names the folder."""
    cells = code_cells(path)[1:]  # after the parameters cell
    if not any(WRITES.search(source) for _, source in cells):
        return
    first = cells[0][1]
    lesson = path.name[:2]
    assert f'work = Path("work/{lesson}")' in first, f'start the first code cell with work = Path("work/{lesson}")'
    assert "make clean" in first, "say, in a comment, that `make clean` removes the work folder"


def test_git_ignores_and_clean_removes_the_work_folders():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    for folder in ("notebooks", "exercises", "solutions"):
        assert f"/{folder}/work/" in ignored
        assert f"{folder}/work" in course.GENERATED
    assert "/exercises/my_api/" in ignored, "the student's project is theirs, never the repository's"
    assert "exercises/my_api" not in course.GENERATED
