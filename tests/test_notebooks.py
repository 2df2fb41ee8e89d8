"""Every walkthrough runs top to bottom under papermill with parameters, and leaves no server behind.

(nbval, configured in pyproject.toml, runs the same notebooks again and compares their stored outputs.)
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
WALKTHROUGHS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_there_are_walkthroughs():
    assert [p.name for p in WALKTHROUGHS][:1] == ["00_setup.ipynb"]


@pytest.mark.notebook
@pytest.mark.parametrize("path", WALKTHROUGHS, ids=lambda p: p.stem)
def test_walkthrough_runs_with_parameters(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "course-api"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "device" in tagged[0].source and "base_url" in tagged[0].source

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    output = ARTIFACTS / path.name
    started = time.perf_counter()
    papermill.execute_notebook(
        str(path), str(output), parameters={"device": "cpu"}, cwd=str(path.parent), progress_bar=False, kernel_name="course-api"
    )
    seconds = time.perf_counter() - started
    executed = nbformat.read(output, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    text = outputs_text(executed)
    assert "cpu" in text
    ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", text)}
    assert all(not listening(port) for port in ports), f"{path.name} left a server listening"
    print(f"{path.name}: {seconds:.1f} s")
