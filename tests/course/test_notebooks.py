"""Notebooks run top to bottom under papermill with parameters, and leave no server behind.

* worksheets (``exercises/``) must fail only where a stub or a check says "not done yet";
* notebook 01 also runs against a server it did not start;
* nbval (configured in pyproject.toml) runs the walkthroughs (``notebooks/``) and worked answers (``solutions/``)
  and compares their stored outputs; tests/conftest.py checks that each left no server and no stray file.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nbformat
import papermill
import pytest

from course_api.system.ports import is_listening as listening
from helpers import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
TIMES = ROOT / "test-artifacts" / "notebook-seconds.json"


def notebooks(folder: str) -> list[Path]:
    return sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def errors(nb: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    """(cell index, exception name, message) of every error output."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append((index, output["ename"], output["evalue"]))
    return found


def execute(
    path: Path, *, allow_errors: bool = False, name: str | None = None, **parameters: object
) -> nbformat.NotebookNode:
    """Run ``path`` with papermill (device="cpu" unless given), record its time, return the executed copy. It must
    write its files into its work/ folder (worksheets: also my_api/, the student's project), nothing else beside it."""
    out = ARTIFACTS / path.parent.name / (name or path.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    beside = {entry.name for entry in path.parent.iterdir()}
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(path),
            str(out),
            parameters={"device": "cpu", **parameters},
            cwd=str(path.parent),
            progress_bar=False,
            kernel_name="course-api",
            allow_errors=allow_errors,
        )
    except papermill.PapermillExecutionError:
        if not allow_errors:
            raise
    seconds = time.perf_counter() - started
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    times[f"{path.parent.name}/{name or path.name}"] = round(seconds, 1)
    TIMES.write_text(json.dumps(times, indent=2, sort_keys=True))
    executed = nbformat.read(out, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", outputs_text(executed))}
    if isinstance(parameters.get("base_url"), str):  # a server the test started, not the notebook
        ports.discard(int(str(parameters["base_url"]).rsplit(":", 1)[1]))
    assert all(not listening(port) for port in ports), f"{path} left a server listening"
    allowed = {"work", "my_api"} if path.parent.name in ("solutions", "exercises") else {"work"}
    new = {entry.name for entry in path.parent.iterdir() if not entry.name.startswith(".")} - beside - allowed
    assert not new, f"{path.name} wrote {sorted(new)} beside it: write into work/{path.name[:2]}/ (`make clean`)"
    return executed


def test_the_three_folders_hold_the_same_lessons():
    walkthroughs = [p.name for p in notebooks("notebooks")]
    assert walkthroughs[:1] == ["00_setup.ipynb"]
    assert [p.name for p in notebooks("solutions")] == [p.name for p in notebooks("exercises")]
    assert {p.name for p in notebooks("solutions")} <= set(walkthroughs)


@pytest.mark.parametrize(
    "path",
    notebooks("notebooks") + notebooks("solutions") + notebooks("exercises"),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_notebook_has_kernel_and_parameters(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "course-api"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert re.search(r"^device = ", tagged[0].source, re.M)
    assert re.search(r"^base_url = ", tagged[0].source, re.M)


@pytest.mark.kernel
def test_requests_walkthrough_against_a_server_it_did_not_start(live_server):
    """The online student's path: base_url points at a server the notebook did not start (here a second
    local course server standing in for a public API); every cell must still run and use that server."""
    executed = execute(
        ROOT / "notebooks" / "01_requests.ipynb", name="01_requests-base_url.ipynb", base_url=live_server.url
    )
    assert not errors(executed)
    assert live_server.url in outputs_text(executed)


@pytest.mark.parametrize("path", notebooks("solutions"), ids=lambda p: p.stem)
def test_solution_passes_every_check(path):
    """The worked answers pass every check, as their stored outputs show. nbval runs solutions/ again and compares
    its outputs with these (a check that fails there shows an error, not "✔"), so this is not run a second time."""
    nb = nbformat.read(path, as_version=4)
    assert not errors(nb)
    checks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("check(")]
    assert len(checks) >= (4 if int(path.name[:2]) <= 3 else 3)
    for cell in checks:
        assert "✔ Exercise" in outputs_text(nbformat.v4.new_notebook(cells=[cell])), cell.source


@pytest.mark.kernel
@pytest.mark.parametrize("path", notebooks("exercises"), ids=lambda p: p.stem)
def test_exercise_fails_only_where_the_student_must_write_code(path):
    executed = execute(path, allow_errors=True)
    found = errors(executed)
    assert found, "a worksheet whose stubs raise nothing has no exercises"
    unexpected = [(i, name, msg) for i, name, msg in found if name not in ("NotImplementedError", "ExerciseNotDone")]
    assert not unexpected, f"errors other than the stubs: {unexpected}"
    stubs = {i for i, name, _ in found if name == "NotImplementedError"}
    assert all("raise NotImplementedError" in executed.cells[i].source for i in stubs)
    setup = [i for i, c in enumerate(executed.cells) if c.cell_type == "code"][:3]
    assert not [e for e in found if e[0] in setup], "setup cells must run in the worksheet too"
