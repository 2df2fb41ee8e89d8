"""The self-checks say specifically what is wrong, say "not done yet" for untouched exercises, and pass right answers."""

from __future__ import annotations

import pytest
import requests
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from course_api.checks import EXERCISES, CheckFailed, ExerciseNotDone, check


@pytest.fixture
def ns(live_server):
    return {"server": live_server, "course_url": live_server.url, "api_url": live_server.url}


def test_not_done_is_a_not_implemented_error_that_names_what_is_missing(ns):
    with pytest.raises(ExerciseNotDone, match="must define `missing`") as info:
        check("01.1", ns)
    assert isinstance(info.value, NotImplementedError)


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(ValueError, match="01.1"):
        check("99.9", {})


def test_404_check_explains_a_200(ns, capsys):
    ns["missing"] = requests.get(f"{ns['api_url']}/astros.json", timeout=10)
    with pytest.raises(CheckFailed, match="Expected status 404, your request got 200: did you ask for a path that exists"):
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
    notes = {}

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
    assert all(spec.title and spec.needs for spec in EXERCISES.values())
