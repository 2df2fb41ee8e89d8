"""A student's loop in a real kernel: a wrong answer fails its check; fixing the answer cell and running only that
cell again makes the check pass (FastAPI would keep answering with the first, wrong route otherwise)."""

from __future__ import annotations

import nbformat
import pytest

from helpers import ROOT

pytestmark = pytest.mark.kernel

WRONG = """
@app.get("/hello/{name}")
def hello(name: str) -> dict:
    return {"message": f"Hi {name}"}
"""
FIXED = WRONG.replace('f"Hi {name}"', 'f"Hello, {name}!"')


def setup_cell() -> str:
    """The worksheet's own setup cell (the one that imports the checks and creates ``app``)."""
    nb = nbformat.read(ROOT / "exercises" / "03_fastapi.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and "import check, check_all, hint" in c.source)


def test_a_fixed_cell_counts_when_run_again(kernel):
    kernel.run(setup_cell())
    kernel.run(WRONG)
    with pytest.raises(RuntimeError, match=r"CheckFailed: GET /hello/Ada returned \{'message': 'Hi Ada'\}"):
        kernel.run('check("03.1")')
    kernel.run(FIXED)  # the same cell, fixed, run again: a second @app.get("/hello/{name}")
    assert kernel.run('check("03.1")').startswith("✔ Exercise 03.1")
    assert kernel.run('print(client.get("/hello/Ada").json())') == "{'message': 'Hello, Ada!'}"


def test_a_crash_in_the_route_shows_its_error_and_line(kernel):
    kernel.run(setup_cell())
    kernel.run('@app.get("/hello/{name}")\ndef hello(name: str) -> dict:\n    return {"message": greeting}\n')
    with pytest.raises(RuntimeError) as failure:
        kernel.run('check("03.1")')
    message = str(failure.value)
    assert "NameError: name 'greeting' is not defined" in message
    assert 'line 3: return {"message": greeting}' in message
    assert "is used before it is defined" in message
