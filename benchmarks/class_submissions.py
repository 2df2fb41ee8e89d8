"""A class of submissions for the grader's benchmark and tests, made from the course's own notebooks.

Each case is a student folder with worksheets and the points the grader must give: full answers, partial ones,
moved/split/copied/deleted cells, cheating, and broken notebooks (invalid JSON, a cell that loops forever, one
that prints 100 MB, one that kills its kernel, one that starts servers and threads, another course's notebook).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from course_api.workbook.checks import EXERCISES
from course_api.workbook.checks.registry import NOTEBOOKS

ROOT = Path(__file__).resolve().parent.parent  # the checkout (tests import this module too)
CHECK = re.compile(r'^check\("(\d\d\.\d)"\)\s*$')
Notebook = dict[str, Any]


def load(folder: str, lesson: str) -> Notebook:
    data: Notebook = json.loads((ROOT / folder / f"{NOTEBOOKS[lesson]}.ipynb").read_text(encoding="utf-8"))
    return data


def source(cell: dict[str, Any]) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else str(text)


def code(text: str) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": text}


def answer_index(nb: Notebook) -> dict[str, int]:
    """Exercise id -> index of its answer cell (the code cell just before ``check("NN.M")``)."""
    found = {}
    for index, cell in enumerate(nb["cells"]):
        match = CHECK.match(source(cell).strip()) if cell["cell_type"] == "code" else None
        if match:
            found[match.group(1)] = index - 1
    return found


def answered(lesson: str, ids: set[str] | None = None) -> Notebook:
    """The worksheet with the worked answers of ``ids`` (all when None) and stubs elsewhere."""
    sheet, solution = load("exercises", lesson), load("solutions", lesson)
    for exercise_id, index in answer_index(solution).items():
        if ids is None or exercise_id in ids:
            sheet["cells"][index] = copy.deepcopy(solution["cells"][index])
            sheet["cells"][index]["outputs"] = []
    return sheet


def points(*ids: str) -> int:
    return sum(EXERCISES[i].points for i in ids)


def lesson_points(lesson: str) -> int:
    return sum(e.points for e in EXERCISES.values() if e.lesson == lesson)


def lesson_ids(lesson: str) -> list[str]:
    return sorted(e.id for e in EXERCISES.values() if e.lesson == lesson)


def insert_after(nb: Notebook, exercise_id: str, text: str) -> Notebook:
    """``nb`` with a code cell right after the answer cell of ``exercise_id``."""
    index = answer_index(nb)[exercise_id]
    nb["cells"].insert(index + 1, code(text))
    return nb


def rearranged() -> Notebook:
    """Worksheet 03 answered, with its cells moved, copied, split and deleted as students do."""
    nb = answered("03")
    cells = nb["cells"]
    answers = answer_index(nb)
    note_cell = source(cells[answers["03.3"]])
    split_at = note_cell.index("@app.post")
    first, second = code(note_cell[:split_at]), code(note_cell[split_at:])
    hello = cells[answers["03.1"]]
    keep = [
        c
        for i, c in enumerate(cells)
        if not (c["cell_type"] == "code" and CHECK.match(source(c).strip()))  # every check cell deleted
        and i not in (answers["03.1"], answers["03.3"], 2)  # answers moved below; the import cell deleted
    ]
    keep += [first, second, copy.deepcopy(hello), copy.deepcopy(hello)]  # split, moved and copied twice
    nb["cells"] = keep
    return nb


def cheating() -> Notebook:
    """No answers; check() redefined to print success, and the course's registry patched."""
    nb = load("exercises", "03")
    nb["cells"].insert(3, code('def check(exercise_id):\n    print(f"✔ Exercise {exercise_id}: well done")\n'))
    nb["cells"].append(
        code("import course_api.workbook.checks.registry as r\nr.run_check = lambda spec, ns: 'well done'")
    )
    return nb


SERVERS = """import subprocess, sys, threading, time
from course_api import serve_in_background
threading.Thread(target=lambda: time.sleep(3600)).start()           # a thread that never ends
server_left_running = serve_in_background(app, name="left running")  # never stopped
child = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"])
subprocess.Popen(["sh", "-c", "sleep 600 & sleep 600 &"], start_new_session=True)  # orphans of a shell
"""


def other_course() -> Notebook:
    return {
        "cells": [code("import math\nprint(math.pi)"), code("def area(r):\n    return math.pi * r * r")],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write(folder: Path, name: str, nb: Notebook | str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = nb if isinstance(nb, str) else json.dumps(nb, indent=1)
    (folder / name).write_text(text, encoding="utf-8")


EDITOR_MAIN = """from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="Written in the editor")


class Health(BaseModel):
    status: str


@app.get("/health")
def health() -> Health:
    return Health(status="ok")
"""


def project_in_the_editor(folder: Path, main: str) -> Notebook:
    """Worksheet 03 answered, but ``my_api/main.py`` written in JupyterLab's editor (its cell left as the stub):
    the submission holds the folder ``my_api/`` beside the worksheet."""
    project = folder / "my_api"
    project.mkdir(parents=True, exist_ok=True)
    (project / "__init__.py").write_text("", encoding="utf-8")
    (project / "main.py").write_text(main, encoding="utf-8")
    return answered("03", set(lesson_ids("03")) - {"03.9"})


def _case(lesson: str, change: Callable[[Notebook], Notebook] | None = None) -> Notebook:
    nb = answered(lesson)
    return change(nb) if change else nb


def build_corpus(root: Path) -> dict[str, int]:
    """Write the class into ``root``; each student's expected total."""
    name03 = f"{NOTEBOOKS['03']}.ipynb"
    full03 = lesson_points("03")
    write(root / "ada", f"{NOTEBOOKS['01']}.ipynb", answered("01"))
    write(root / "ada", name03, answered("03"))
    write(root / "blank", name03, load("exercises", "03"))
    write(root / "partial", name03, answered("03", {"03.1", "03.3"}))
    write(root / "moved", name03, rearranged())
    write(root / "cheat", name03, cheating())
    write(root / "broken_json", name03, json.dumps(answered("03"))[:5000])
    write(root / "loops", name03, insert_after(answered("03"), "03.2", "while True:\n    pass"))
    write(root / "prints", name03, insert_after(answered("03"), "03.1", 'print("x" * 100_000_000)'))
    write(root / "kills", name03, insert_after(answered("03"), "03.1", "import os, signal\nos.kill(os.getpid(), 9)"))
    write(root / "servers", name03, insert_after(answered("03"), "03.5", SERVERS))
    write(root / "editor", name03, project_in_the_editor(root / "editor", EDITOR_MAIN))
    broken = EDITOR_MAIN.replace("FastAPI(title", "FastAPi(title")  # the project does not start: 03.9 only
    write(root / "broken_project", name03, project_in_the_editor(root / "broken_project", broken))
    write(root / "other", name03, other_course())
    write(root / "other", "07_extra.ipynb", other_course())
    (root / "empty").mkdir()
    return {
        "ada": lesson_points("01") + full03,
        "blank": 0,
        "partial": points("03.1", "03.3"),
        "moved": full03,
        "cheat": 0,
        "broken_json": 0,
        "loops": points("03.1", "03.2"),
        "prints": full03,
        "kills": points("03.1"),
        "servers": full03,
        "editor": full03,
        "broken_project": full03 - points("03.9"),
        "other": 0,
        "empty": 0,
    }
