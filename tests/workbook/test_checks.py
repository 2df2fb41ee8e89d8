"""The self-checks say specifically what is wrong, say "not done yet" for untouched exercises, and pass right
answers."""

from __future__ import annotations

import re

import pytest
import requests
from fastapi import FastAPI, File, HTTPException, UploadFile
from fastapi.testclient import TestClient

from course_api.workbook.checks import EXERCISES, CheckFailed, ExerciseNotDone, check


@pytest.fixture
def ns(live_server):
    return {"server": live_server, "course_url": live_server.url, "api_url": live_server.url}


def test_not_done_is_a_not_implemented_error_that_names_what_is_missing(ns):
    with pytest.raises(ExerciseNotDone, match="must define `missing`") as info:
        check("01.1", ns)
    assert isinstance(info.value, NotImplementedError)


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"01\.1"):
        check("99.9", {})


def test_404_check_explains_a_200(ns, capsys):
    ns["missing"] = requests.get(f"{ns['api_url']}/astros.json", timeout=10)
    with pytest.raises(
        CheckFailed, match="Expected status 404, your request got 200: did you ask for a path that exists"
    ):
        check("01.1", ns)
    ns["missing"] = requests.get(f"{ns['api_url']}/nope", timeout=10)
    check("01.1", ns)
    assert "✔ Exercise 01.1" in capsys.readouterr().out


def test_astros_check_spots_text_instead_of_json(ns):
    response = requests.get(f"{ns['api_url']}/astros.json", timeout=10)
    ns.update(astros_response=response, astros=response.text, meaning="OK")
    with pytest.raises(CheckFailed, match=r"response.json\(\)"):
        check("01.2", ns)


def test_careful_client_check_wants_a_timeout(ns):
    def get_json(url, timeout=5):
        response = requests.get(url)  # no timeout!
        response.raise_for_status()
        return response.json()

    ns["get_json"] = get_json
    with pytest.raises(CheckFailed, match="timeout="):
        check("01.6", ns)


def test_careful_client_check_wants_raise_for_status(ns):
    ns["get_json"] = lambda url, timeout=5: requests.get(url, timeout=timeout).json()
    with pytest.raises(CheckFailed, match="raise_for_status"):
        check("01.6", ns)


def test_json_body_check_explains_data_instead_of_json(ns):
    ns["negative_response"] = requests.post(f"{ns['api_url']}/predict/text", data={"text": "awful"}, timeout=10)
    with pytest.raises(CheckFailed, match="json="):
        check("02.3", ns)


def test_pydantic_check_wants_the_number_constraint(ns):
    from pydantic import BaseModel

    class Astronaut(BaseModel):
        name: str
        craft: str

    class PeopleInSpace(BaseModel):
        message: str
        number: int
        people: list[Astronaut]

    ns.update(Astronaut=Astronaut, PeopleInSpace=PeopleInSpace)
    with pytest.raises(CheckFailed, match=r"number is -1 \(use Field\(ge=0\)\)"):
        check("02.4", ns)


def test_missing_note_check_explains_a_500():
    app = FastAPI()
    notes: dict[int, dict] = {}

    @app.post("/notes", status_code=201)
    def create_note(note: dict) -> dict:
        notes[len(notes) + 1] = {"id": len(notes) + 1, **note}
        return notes[len(notes)]

    @app.get("/notes/{note_id}")
    def read_note(note_id: int) -> dict:
        return notes[note_id]  # KeyError -> 500

    with pytest.raises(CheckFailed, match="crashed with 500"):
        check("03.4", {"app": app, "read_note": read_note})


def test_test_square_check_catches_a_test_that_asserts_nothing():
    app = FastAPI()

    @app.get("/square")
    def square(n: int) -> dict:
        if n < 0:
            raise HTTPException(422, "negative")
        return {"n": n, "square": n * n}

    def test_square(client: TestClient) -> None:
        assert client.get("/square", params={"n": 3}).status_code == 200

    with pytest.raises(CheckFailed, match="passes on a broken /square"):
        check("03.5", {"app": app, "test_square": test_square})


def test_every_exercise_has_a_title_and_needs():
    assert len(EXERCISES) >= 12
    assert all(spec.title and (spec.needs or spec.files) for spec in EXERCISES.values())


def test_top3_check_explains_a_500_for_a_text_file():
    import numpy as np

    from course_api.server.imaging import decode_image, digit_pixels
    from course_api.server.inference import ModelService
    from course_api.server.settings import Settings

    service = ModelService.load(Settings().weights_dir, "cpu")
    app = FastAPI()

    @app.post("/top3")
    def top3(file: UploadFile = File(...)) -> dict:
        probabilities = service.digit_probabilities(
            digit_pixels(decode_image(file.file.read(), max_pixels=10**8))[None]
        )[0]
        best = np.argsort(probabilities)[::-1][:3]
        return {"top3": [{"digit": int(d), "probability": float(probabilities[d])} for d in best]}

    with pytest.raises(CheckFailed, match="crashed /top3 with a 500"):
        check("04.2", {"app": app, "top3": top3, "service": service})


def test_dockerfile_check_runs_hadolint(tmp_path):
    (tmp_path / "my_api").mkdir()
    (tmp_path / "my_api" / "main.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\n")
    (tmp_path / "my_api" / "Dockerfile").write_text(
        'FROM python:3.12-slim\nRUN apt-get update && apt-get install -y curl\nCMD ["uvicorn", "my_api.main:app"]\n'
    )
    with pytest.raises(CheckFailed, match="hadolint"):
        check("05.4", {"project": tmp_path / "my_api"})


def test_run_command_check_catches_a_name_mismatch(tmp_path):
    ns = {
        "project": tmp_path / "my_api",
        "build_command": ["docker", "build", "-t", "my_fastapi_app", "."],
        "run_command": ["docker", "run", "-d", "--name", "mycontainer", "-p", "80:80", "myimage"],
    }
    with pytest.raises(CheckFailed, match="a common mix-up"):
        check("05.5", ns)


def test_dockerignore_follows_dockers_patterns(tmp_path):
    """As Docker reads them: a bare name from the context's root only, ** at any depth, ! lets a file back in."""
    from course_api.workbook.checks.lesson05 import Context

    (tmp_path / ".dockerignore").write_text("__pycache__/\n**/*.pyc\n*.md\n!README.md\ndocs/**/old*\n")
    context = Context(tmp_path)
    assert context.ignores("__pycache__/main.cpython-312.pyc")
    assert not context.ignores("sub/__pycache__/notes.txt")  # __pycache__/ is the root's only
    assert context.ignores("sub/deep/x.pyc")
    assert context.ignores("NOTES.md")
    assert not context.ignores("README.md")
    assert not context.ignores("sub/NOTES.md")
    assert context.ignores("docs/a/b/old1.txt")
    assert not context.ignores("docs/final.txt")


def test_load_generator_check_catches_sequential_requests():
    def run_load(url, concurrency, total):
        latencies = []
        for _ in range(total):
            started = __import__("time").perf_counter()
            requests.get(url, timeout=10)
            latencies.append((__import__("time").perf_counter() - started) * 1000)
        return latencies

    with pytest.raises(CheckFailed, match="one after another"):
        check("06.1", {"run_load": run_load})


def test_a_failed_check_shows_one_short_block_without_the_courses_code(capsys):
    """As IPython shows it in a notebook: the mark, the exercise and what to fix; no traceback through the checker
    (whose source lines would show other mistakes' messages); the cell still fails."""
    from IPython.core.interactiveshell import InteractiveShell

    from course_api.workbook.checks.registry import WIDTH

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from course_api import check\nastros_response = None\nastros = 3\nmeaning = 'x'")
        capsys.readouterr()
        failed = shell.run_cell('check("01.2")')
        not_done = shell.run_cell('check("01.3")')
    finally:
        InteractiveShell.clear_instance()
    shown = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert not failed.success
    assert not not_done.success
    assert "✘ Exercise 01.2 (people in space) is not right yet:" in shown
    assert "· Exercise 01.3" in shown
    assert "is not done yet" in shown
    for inside in ("Traceback", 'File "', "lesson01.py", "registry.py", "fail("):
        assert inside not in shown
    assert all(len(line) <= WIDTH for line in shown.splitlines()), shown


def test_check_all_needs_the_worksheets_number_whatever_ran_before():
    """No hidden "last worksheet": check_all() without a number says how to call it, before and after a check."""
    from course_api.workbook.checks import UnknownWorksheet, check_all

    with pytest.raises(UnknownWorksheet, match=r'check_all\("01"\)') as before:
        check_all(namespace={})
    with pytest.raises(ExerciseNotDone):
        check("04.1", {})
    with pytest.raises(UnknownWorksheet) as after:
        check_all(namespace={})
    assert str(before.value) == str(after.value)
    assert isinstance(before.value, ValueError)
    with pytest.raises(UnknownWorksheet, match="no worksheet '09'"):
        check_all("09", {})


def test_check_all_of_a_worksheet_is_the_same_whatever_ran_before():
    from course_api.workbook.checks import Outcome, check_all

    first = check_all("04", {})
    with pytest.raises(ExerciseNotDone):
        check("01.1", {})
    again = check_all("04", {})
    assert repr(first) == repr(again)
    assert first.lesson == "04"
    assert {row.outcome for row in first.rows} == {Outcome.NOT_DONE}
    assert {row["status"] for row in first.as_dict()["exercises"]} == {"not done"}
    assert "· not done" in repr(first)


def test_the_notebooks_names_come_from_ipythons_user_namespace(capsys):
    """In a notebook, check() and check_all() read the names the cells defined (IPython's user namespace), however
    they are called; outside IPython, a script's own (``__main__``'s)."""
    import sys

    from IPython.core.interactiveshell import InteractiveShell

    from course_api.workbook.checks import user_namespace

    if not InteractiveShell.initialized():
        assert user_namespace() is vars(sys.modules["__main__"])
    shell = InteractiveShell.instance()
    try:
        assert user_namespace() is shell.user_ns
        shell.run_cell("from course_api import check_all\nastros_response = None")
        capsys.readouterr()
        shell.run_cell('progress = check_all("01")')
        progress = shell.user_ns["progress"]
        assert not shell.run_cell("check_all()").success
    finally:
        InteractiveShell.clear_instance()
    shown = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert "✘ Which worksheet?" in shown
    assert "Traceback" not in shown
    row = {r.id: r for r in progress.rows}["01.2"]
    assert "astros_response" not in row.message  # the cell's name was found: the exercise asks for the others
