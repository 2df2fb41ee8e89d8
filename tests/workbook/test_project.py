"""The student's own project, built step by step: worksheets 03, 04 and 05, answered, run in a real kernel one
after the other in one folder, as a student runs them, leave a ``my_api/`` that starts, serves the model, passes
its own tests and holds what ``docker build`` needs; every exercise of the three worksheets is done."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import papermill
import pytest

from benchmarks.class_submissions import answered, lesson_ids
from course_api.samples import digit_png
from course_api.workbook.checks.registry import NOTEBOOKS
from course_api.workbook.checks.student_app import running_app
from helpers import BIN

pytestmark = [pytest.mark.kernel, pytest.mark.slow, pytest.mark.timeout(600)]
LESSONS = ("03", "04", "05")


def progress_of(executed: nbformat.NotebookNode, lesson: str) -> str:
    """The text that the worksheet's last check_all(...) printed."""
    (cell,) = [c for c in executed.cells if c.cell_type == "code" and c.source.strip() == f'check_all("{lesson}")']
    return "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)


def test_worksheets_03_to_05_build_the_project_step_by_step(tmp_path):
    folder = tmp_path / "exercises"
    folder.mkdir()
    for lesson in LESSONS:
        name = f"{NOTEBOOKS[lesson]}.ipynb"
        (folder / name).write_text(json.dumps(answered(lesson)), encoding="utf-8")
        papermill.execute_notebook(
            str(folder / name),
            str(folder / name),
            parameters={"device": "cpu"},
            cwd=str(folder),
            progress_bar=False,
            kernel_name="course-api",
        )
        done = progress_of(nbformat.read(folder / name, as_version=4), lesson)
        for exercise_id in lesson_ids(lesson):
            assert re.search(rf"{re.escape(exercise_id)}\s+✔ done", done), done
        if lesson == "03":  # worksheet 03 leaves a first main.py, which worksheet 04 grows
            assert "FastAPI" in (folder / "my_api" / "main.py").read_text(encoding="utf-8")

    project = folder / "my_api"
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if "__pycache__" not in p.parts}
    expected = {"__init__.py", "main.py", "model.py", "preprocess.py", "serving.py", "digits.safetensors"}
    assert expected | {"pytest.ini", "tests", "tests/test_main.py"} <= files
    assert {"requirements.txt", ".dockerignore", "Dockerfile"} <= files  # worksheet 05: what docker build reads
    lint = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "Dockerfile"], cwd=project, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout

    with running_app(project) as app:  # as `uvicorn my_api.main:app` in a terminal
        assert app.get("/health").json() == {"status": "ok", "model_loaded": True}
        answer = app.post("/predict", files={"file": ("seven.png", digit_png(7), "image/png")})
        assert answer.json()["digit"] == 7

    tests = subprocess.run(  # `pytest my_api` in a terminal
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "my_api"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
