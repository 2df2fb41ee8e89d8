"""exercises/ is generated from solutions/: in step, with no solution text, and the builder itself works."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from course_api.workbook.exercises import (
    BEGIN,
    END,
    HINT,
    MarkerError,
    build_all,
    build_exercise,
    count_solutions,
    problems,
    stub_code,
)
from helpers import ROOT, answer_lines

SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def test_exercises_are_in_step_with_solutions():
    changes = build_all(ROOT / "solutions", ROOT / "exercises", check=True)
    assert len(changes) == len(SOLUTIONS) >= 3
    assert not problems(changes), "run 'make exercises' and commit exercises/"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_exercise_holds_no_solution_text(path):
    solution = nbformat.read(path, as_version=4)
    exercise_file = (ROOT / "exercises" / path.name).read_text(encoding="utf-8")
    for marker in (BEGIN, END, HINT):
        assert marker not in exercise_file
    # The cells' text as a student reads it: in the file's JSON, quotes are escaped and would hide a leak.
    exercise_text = "\n".join(cell.source for cell in nbformat.reads(exercise_file, as_version=4).cells)
    leaked = [line for line in answer_lines(solution) if line in exercise_text]
    assert not leaked, f"solution lines in exercises/{path.name}: {leaked[:3]}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_solutions_have_enough_exercises_and_their_executed_outputs(path):
    """Solutions keep the outputs of one run from top to bottom (nbval compares them), so a student who tried
    first has something to compare with; without timestamps, which would change with every run."""
    nb = nbformat.read(path, as_version=4)
    minimum = 4 if int(path.name[:2]) <= 3 else 3  # the plan: at least 4 per lesson for 01-03, 3 for 04-06
    assert count_solutions(nb) >= minimum
    assert sum(c.source.startswith("check(") for c in nb.cells) >= minimum
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run every cell once, in order"
    assert not [c for c in code if "execution" in c.metadata], "execute with --ExecutePreprocessor.record_timing=False"
    for cell in (c for c in code if c.source.startswith("check(")):
        assert "✔ Exercise" in "".join(o.get("text", "") for o in cell.outputs), cell.source


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_exercise_is_the_solution_minus_the_answers(path):
    solution = nbformat.read(path, as_version=4)
    exercise = nbformat.read(ROOT / "exercises" / path.name, as_version=4)
    assert len(exercise.cells) == len(solution.cells)
    for sol, ex in zip(solution.cells, exercise.cells, strict=True):
        assert sol.cell_type == ex.cell_type
        assert sol.metadata == ex.metadata
        if BEGIN not in sol.source:
            assert sol.source == ex.source
        else:
            assert "raise NotImplementedError(" in ex.source


def test_stub_keeps_indentation_and_hint():
    source = (
        "def f(x):\n    ### BEGIN SOLUTION\n    ### HINT: double it\n"
        "    return 2 * x\n    ### END SOLUTION\nprint(f(2))"
    )
    assert stub_code(source) == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError('double it')\nprint(f(2))"
    )


def test_stub_without_hint_has_a_default_message():
    stubbed = stub_code(f"{BEGIN}\nx = 1\n{END}")
    assert "raise NotImplementedError(" in stubbed
    assert "x = 1" not in stubbed


def test_a_file_writing_answer_never_overwrites_the_file_when_its_stub_runs(tmp_path, monkeypatch):
    """A %%writefile answer cell: the stub drops the magic line, so that Run All never replaces a file the student
    wrote in the editor; it says what the first line becomes, and raises like any stub."""
    source = f"%%writefile my_api/main.py\n{BEGIN}\n### HINT: a FastAPI app\napp = FastAPI()\n{END}"
    built = build_exercise(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]))
    stub = built.cells[0].source
    assert stub == (
        "# YOUR CODE HERE. Make the first line of this cell: %%writefile my_api/main.py\n"
        "raise NotImplementedError('a FastAPI app')"
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_api").mkdir()
    (tmp_path / "my_api" / "main.py").write_text("written in the editor\n")
    with pytest.raises(NotImplementedError, match="a FastAPI app"):
        exec(stub, {})
    assert (tmp_path / "my_api" / "main.py").read_text() == "written in the editor\n"


@pytest.mark.parametrize("source", [f"{BEGIN}\nx = 1", f"x = 1\n{END}", f"{BEGIN}\n{BEGIN}\n{END}\n{END}"])
def test_unbalanced_markers_are_errors(source):
    with pytest.raises(MarkerError):
        stub_code(source, "demo.ipynb, cell 3")


def test_markdown_answers_are_hidden_and_outputs_cleared():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(f"Why?\n{BEGIN}\nBecause.\n{END}"),
            nbformat.v4.new_code_cell(
                "print(1)", execution_count=3, outputs=[nbformat.v4.new_output("stream", text="1\n")]
            ),
        ]
    )
    built = build_exercise(nb)
    assert built.cells[0].source == "Why?\n*Your answer here.*"
    assert built.cells[1].outputs == []
    assert built.cells[1].execution_count is None
    assert nb.cells[1].outputs, "the solution itself is not modified"


@pytest.mark.subprocess
def test_cli_check_and_build(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"{BEGIN}\nanswer = 42\n{END}")])
    nbformat.write(nb, solutions / "01_demo.ipynb")
    cli = [sys.executable, "-m", "course_api", "build-exercises"]

    stale = subprocess.run([*cli, "--check"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert stale.returncode == 1
    assert "missing" in stale.stdout
    assert "make exercises" in stale.stderr
    assert subprocess.run(cli, cwd=tmp_path, capture_output=True, timeout=60, check=False).returncode == 0
    assert "answer = 42" not in (exercises / "01_demo.ipynb").read_text()
    fresh = subprocess.run([*cli, "--check"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert fresh.returncode == 0
    assert "unchanged" in fresh.stdout

    (exercises / "09_gone.ipynb").write_text("{}")
    orphan = subprocess.run([*cli, "--check"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert orphan.returncode == 1
    assert "orphan" in orphan.stdout


@pytest.mark.parametrize("path", sorted((ROOT / "exercises").glob("*.ipynb")), ids=lambda p: p.stem)
def test_stub_lines_fit_in_a_cell(path):
    """A stub's pointer is read whole: no line of a stub runs past a code cell's edge."""
    from course_api.workbook.exercises import WIDTH

    nb = nbformat.read(path, as_version=4)
    stubs = [c.source for c in nb.cells if c.cell_type == "code" and "NotImplementedError(" in c.source]
    assert stubs
    wide = [line for source in stubs for line in source.splitlines() if len(line) > WIDTH]
    assert not wide, wide


def test_a_long_stub_is_cut_at_word_boundaries_into_strings_python_joins():
    hint = "Notebook 03, section 7 (the response model): which annotation, and what does /docs show? " * 2
    lines = stub_code(f"def f():\n    {BEGIN}\n    {HINT} {hint}\n    return 1\n    {END}").splitlines()
    assert lines[2] == "    raise NotImplementedError("
    assert lines[-1] == "    )"
    assert all(len(line) <= 100 for line in lines)
    namespace: dict = {}
    exec("\n".join(lines), namespace)  # the stub, as the worksheet runs it
    with pytest.raises(NotImplementedError) as raised:
        namespace["f"]()
    assert str(raised.value) == hint.strip()
