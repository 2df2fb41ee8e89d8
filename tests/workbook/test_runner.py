"""course-api run-notebooks: the instructor's run, its summary, and a failure that names notebook and cell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_api.workbook.runner import discover, parse_parameter
from helpers import ROOT


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course_api", "run-notebooks", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_course_order_puts_each_walkthrough_before_its_solution():
    names = [f"{p.parent.name}/{p.name}" for p in discover(ROOT)]
    assert names[0] == "notebooks/00_setup.ipynb"
    assert (
        names.index("notebooks/01_requests.ipynb")
        < names.index("solutions/01_requests.ipynb")
        < names.index("notebooks/02_json.ipynb")
    )
    assert not any(n.startswith("exercises/") for n in names)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("device=cpu", ("device", "cpu")),
        ("base_url=None", ("base_url", None)),
        ("n=3", ("n", 3)),
        ("url=http://127.0.0.1:8000", ("url", "http://127.0.0.1:8000")),
    ],
)
def test_parameters(text, expected):
    assert parse_parameter(text) == expected


@pytest.mark.subprocess
def test_bad_parameter_is_a_usage_error():
    out = run("-p", "nonsense")
    assert out.returncode == 2
    assert "name=value" in out.stderr


@pytest.mark.kernel
@pytest.mark.subprocess
def test_run_writes_executed_copies_and_summary(tmp_path):
    out = run("notebooks/00_setup.ipynb", "--device", "cpu", "--output", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "[1/1] notebooks/00_setup.ipynb: ok" in out.stdout
    executed = nbformat.read(tmp_path / "notebooks" / "00_setup.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"]
    assert summary["device"] == "cpu"
    assert summary["results"][0]["notebook"] == "notebooks/00_setup.ipynb"
    assert summary["results"][0]["seconds"] > 0
    assert "| `notebooks/00_setup.ipynb` | ok |" in (tmp_path / "summary.md").read_text()
    # Quiet: no warning a student or instructor cannot act on (e.g. "Kernel is running over TCP without encryption",
    # or a kernel left behind that notices its parent exited).
    warnings = [line for line in (out.stdout + out.stderr).splitlines() if "WARNING" in line or "Warning" in line]
    assert not warnings, warnings


@pytest.mark.kernel
@pytest.mark.subprocess
def test_failure_names_the_notebook_and_cell(tmp_path):
    folder = tmp_path / "lessons"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("device = None\nbase_url = None", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_code_cell("1 / 0"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "course-api", "display_name": "Python (course-api)", "language": "python"}
    nbformat.write(nb, folder / "07_broken.ipynb")
    out = run(str(folder), "--device", "cpu", "--output", str(tmp_path / "out"))
    assert out.returncode == 1
    assert "07_broken.ipynb" in out.stderr
    assert "ZeroDivisionError" in out.stderr
    assert "cell" in out.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert not summary["ok"]
    assert summary["results"][0]["status"] == "failed"
    assert "FAILED" in (tmp_path / "out" / "summary.md").read_text()
