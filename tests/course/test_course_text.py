"""The course speaks to students: no word of a draft they never saw; every notebook opens with its goals, what it
assumes and its time, and closes with a recap and what comes next; the core path fits a working day, and the
optional deep dives are marked and never needed by the core; student code is plain FastAPI."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from helpers import ROOT

WALKTHROUGHS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WORKSHEETS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "exercises").glob("[0-9][0-9]_*.ipynb")
)
STUDENT_FILES = [*WALKTHROUGHS, *WORKSHEETS, ROOT / "README.md"]
OPTIONAL = re.compile(r"going deeper \(optional\)", re.IGNORECASE)
CORE_WORDS = 12_000  # about one working day of reading, with the code, for the core of 00 to the last lesson
HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)


@dataclass
class Cell:
    kind: str
    source: str
    optional: bool


def cells(path: Path) -> list[Cell]:
    """The notebook's cells, each marked optional when it lies in a "Going deeper (optional)" section (from such a
    heading to the next heading of the same or a higher level)."""
    result, optional_level = [], 0
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for hashes, title in HEADING.findall(cell.source):
                level = len(hashes)
                if optional_level and level <= optional_level:
                    optional_level = 0
                if OPTIONAL.search(title):
                    optional_level = level
        result.append(Cell(cell.cell_type, cell.source, bool(optional_level)))
    return result


def words(text: str) -> int:
    return len(re.findall(r"\S+", text))


@pytest.mark.parametrize("path", STUDENT_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_word_of_a_draft(path):
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    else:
        text = path.read_text(encoding="utf-8")
    found = [line.strip() for line in text.splitlines() if re.search(r"\bdrafts?\b", line, re.IGNORECASE)]
    assert not found, f"students never saw a draft; show a common first attempt instead: {found[:3]}"


def test_the_api_docs_speak_of_no_draft(app):
    import json

    assert not re.search(r"\bdraft", json.dumps(app.openapi()), re.IGNORECASE)


@pytest.mark.parametrize("path", WALKTHROUGHS, ids=lambda p: p.stem)
def test_each_notebook_opens_with_goals_assumptions_and_time(path):
    opening = next(c.source for c in cells(path) if c.kind == "markdown")
    assert re.search(r"\*\*(Goals?|You will)\b", opening), "say what the student will be able to do"
    assert re.search(r"\*\*(Assumes|Before you start|You need)\b", opening), "say what the notebook assumes"
    assert re.search(r"\*\*Time\b[^\n]*\d+\s*(min|minutes|hours?)", opening), "say how long it takes (core path)"


@pytest.mark.parametrize("path", WALKTHROUGHS, ids=lambda p: p.stem)
def test_each_notebook_closes_with_a_recap_and_what_comes_next(path):
    markdown = [c for c in cells(path) if c.kind == "markdown" and not c.optional]
    recap = next((c.source for c in markdown if re.search(r"^#+\s*Recap\b", c.source, re.MULTILINE)), None)
    assert recap is not None, "a '## Recap' section near the end"
    points = re.findall(r"^\s*(?:[-*]|\d+\.)\s+\S", recap, re.MULTILINE)
    assert 3 <= len(points) <= 5, f"a recap of three to five points, not {len(points)}"
    assert re.search(r"\*\*Next\b|^Next\b", recap, re.MULTILINE), "say what comes next"


def _defined(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (magics): nothing we can read
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _used(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


@pytest.mark.parametrize("path", WALKTHROUGHS, ids=lambda p: p.stem)
def test_the_core_never_needs_an_optional_section(path):
    optional_only: set[str] = set()
    core_defined: set[str] = set()
    problems = []
    for cell in (c for c in cells(path) if c.kind == "code"):
        if cell.optional:
            optional_only |= _defined(cell.source) - core_defined
        else:
            needed = (_used(cell.source) & optional_only) - _defined(cell.source)
            problems += [f"the core uses {name!r}, defined in an optional section" for name in sorted(needed)]
            core_defined |= _defined(cell.source)
            optional_only -= core_defined
    assert not problems, "\n".join(problems)


def test_the_core_fits_a_working_day():
    per_notebook = {
        p.stem: sum(words(c.source) for c in cells(p) if c.kind == "markdown" and not c.optional) for p in WALKTHROUGHS
    }
    total = sum(per_notebook.values())
    assert total <= CORE_WORDS, f"{total} words of core markdown (at most {CORE_WORDS}): {per_notebook}"


@pytest.mark.parametrize("path", [*WALKTHROUGHS, *WORKSHEETS], ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_student_code_uses_plain_fastapi(path):
    """The offline /docs of the course server stay inside course_api: a student's main.py must run in the container
    that notebook 05 builds from its requirements.txt, which has no fastapi-offline."""
    offenders = [c.source.splitlines()[0] for c in cells(path) if c.kind == "code" and "fastapi_offline" in c.source]
    assert not offenders, f"code cells import fastapi_offline: {offenders}"


def test_the_package_speaks_of_no_draft():
    """Every string a student can meet in the package (check messages, hints, the API's descriptions) too. Pillow's
    Image.draft() (a fast reduced decoding) in imaging.py is not about a course draft."""
    found = []
    for path in sorted((ROOT / "course_api").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.replace("image.draft(", "").replace("``draft``", "")
                if re.search(r"\bdrafts?\b", text, re.IGNORECASE):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"students never saw a draft: {found}"


# Times from the material (README, "How long it takes"): reading at 100 to 150 words a minute of the core's text,
# plus half a minute to a minute for each core code cell run and read; exercises 4 to 8 minutes a point.
READING_WPM = (150, 100)
MINUTES_PER_CELL = (0.5, 1.0)
MINUTES_PER_POINT = (4, 8)


def _five(minutes: float) -> int:
    return max(5, 5 * round(minutes / 5))


def expected_times(path: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """((reading low, high), (exercises low, high)) in minutes, for the walkthrough ``path``, by the method."""
    from course_api.workbook.checks import EXERCISES

    core = [c for c in cells(path) if not c.optional]
    text = sum(words(c.source) for c in core if c.kind == "markdown")
    code = sum(1 for c in core if c.kind == "code")
    reading = tuple(_five(text / wpm + code * per) for wpm, per in zip(READING_WPM, MINUTES_PER_CELL, strict=True))
    points = sum(e.points for e in EXERCISES.values() if e.lesson == path.name[:2])
    exercises = tuple(5 * round(points * per / 5) for per in MINUTES_PER_POINT)
    return (reading[0], reading[1]), (exercises[0], exercises[1])


def stated_times(path: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    opening = next(c.source for c in cells(path) if c.kind == "markdown")
    reading = re.search(r"\*\*Time\.\*\* reading (\d+)–(\d+) min", opening)
    assert reading, f"{path.name}: no **Time.** reading N–M min"
    exercises = re.search(r"exercises (\d+)–(\d+) min", opening)
    return (int(reading[1]), int(reading[2])), (int(exercises[1]), int(exercises[2])) if exercises else (0, 0)


def time_line(path: Path) -> str:
    (r_lo, r_hi), (e_lo, e_hi) = expected_times(path)
    exercises = f"; exercises {e_lo}–{e_hi} min" if e_hi else "; no exercises"
    return f"**Time.** reading {r_lo}–{r_hi} min{exercises}."


@pytest.mark.parametrize("path", WALKTHROUGHS, ids=lambda p: p.stem)
def test_stated_times_follow_the_method(path):
    """Each lesson's **Time.** line: reading and exercises apart, as ranges, from its material."""
    assert stated_times(path) == expected_times(path), f"{path.name}: the opening should say {time_line(path)}"


def test_the_map_and_the_readme_give_each_lessons_own_time():
    """Notebook 00's table and the README's say what each notebook's **Time.** line says; 00's total is the sum."""
    overview = next(c.source for c in cells(ROOT / "notebooks" / "00_setup.ipynb") if "| 06 |" in c.source)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    totals = [0, 0, 0, 0]
    for path in WALKTHROUGHS:
        (r_lo, r_hi), (e_lo, e_hi) = stated_times(path)
        totals = [a + b for a, b in zip(totals, (r_lo, r_hi, e_lo, e_hi), strict=True)]
        exercises = f"{e_lo}–{e_hi}" if e_hi else "–"
        row = rf"^\| {path.name[:2]} \|.*\| {r_lo}–{r_hi} \| {exercises} \|$"
        assert re.search(row, overview, re.MULTILINE), f"00's table: {path.stem}: {r_lo}–{r_hi} | {exercises}"
        assert re.search(row, readme, re.MULTILINE), f"README's table: {path.stem}: {r_lo}–{r_hi} | {exercises}"
    total = f"| **{totals[0]}–{totals[1]}** | **{totals[2]}–{totals[3]}** |"
    assert total in overview, f"00's total row should end {total}"
    assert total in readme, f"README's total row should end {total}"


INTERNALS = re.compile(
    r"\bprctl\b|PR_SET_PDEATHSIG|\bCI\b|continuous integration|\bnbval\b|\bpapermill\b.*\btests?\b|\bmake bench\b|"
    r"benchmarks/|\bwrk2?\b|the course's (own )?tests|course's test machine|stored-output|sanitiz",
    re.IGNORECASE,
)


def _student_texts() -> list[tuple[str, str]]:
    """(where, text) for what a student reads: every cell of the walkthroughs and worksheets, their outputs, and
    the strings of the checks' modules (hints and messages)."""
    found = []
    for path in [*WALKTHROUGHS, *WORKSHEETS]:
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            where = f"{path.parent.name}/{path.name} cell {index}"
            found.append((where, cell.source))
            for output in cell.get("outputs", []):
                found.append((f"{where} output", str(output.get("text", "")) + str(output.get("data", {}))))
    for path in sorted((ROOT / "course_api" / "workbook" / "checks").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, documented) and ast.get_docstring(n) and isinstance(n.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.value))
    return found


def test_students_meet_no_internals():
    """No word about the course's tests, CI, benchmarks' machine or process internals in what students read."""
    offenders = [f"{where}: {m[0]!r}" for where, text in _student_texts() for m in [INTERNALS.search(text)] if m]
    assert not offenders, "\n".join(offenders[:20])


# One term per idea (the glossary's headword): the variants a student must not meet, with the word to use instead.
# "answer" stays for the student's answer and as a verb ("the server answers 404"); an HTTP response is a response.
VARIANTS = {
    r"\bhealth route\b": "health check (GET /health)",
    r"\bexit status\b": "exit code",
    r"\bcourse kernel\b|`course-api` kernel": "the *Python (course-api)* kernel",
    r"\bJSON answer\b|\bthe answer's type\b|\berror answers?\b|\ban? \d{3} answer\b": "response",
    r"^# \d\d · .*: exercises$": "worksheet (a worksheet's title)",
    r"\blesson(s|'s)?\b": "notebook (or worksheet)",
    r"\bendpoints?\b": "route (endpoint is the glossary's word for another party's API, before notebook 03)",
}
ENDPOINT_ALLOWED = ("notebooks/00_", "notebooks/01_", "notebooks/02_")


def test_one_term_per_idea():
    """Notebooks, worksheets, hints and check messages name each idea with one word (notebooks/glossary.md)."""
    offenders = []
    for where, text in _student_texts():
        if text.isidentifier():  # a name in the code (a dict key, an attribute), not words
            continue
        for pattern, instead in VARIANTS.items():
            if "endpoint" in pattern and where.startswith(ENDPOINT_ALLOWED):
                continue
            for line in text.splitlines():
                if re.search(pattern, line, re.IGNORECASE | re.MULTILINE) and not line.lstrip().startswith("from "):
                    offenders.append(f"{where}: {line.strip()[:90]!r}: say {instead}")
    assert not offenders, "\n".join(offenders[:30])
