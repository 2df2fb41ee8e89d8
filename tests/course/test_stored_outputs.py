"""Stored outputs (compared by nbval) must not depend on the Python version: Python 3.13 renamed some HTTP status
phrases (422 "Unprocessable Entity" became "Unprocessable Content", 413 "Request Entity Too Large" became "Content
Too Large", ...), so a notebook that prints them passes on one version and fails on another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import ROOT

# Phrases and descriptions of http.HTTPStatus that differ between Python 3.11 and 3.13 (both spellings).
VERSION_PHRASES = (
    "Unprocessable Entity",
    "Unprocessable Content",
    "Request Entity Too Large",
    "Entity is too large",
    "Content Too Large",
    "Content is too large",
    "Request-URI Too Long",
    "URI Too Long",
    "Requested Range Not Satisfiable",
    "Range Not Satisfiable",
    "JSON compliant: nan",  # json's "Out of range float values are not JSON compliant" names the value from 3.12 on
)
STORED = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "solutions").glob("[0-9]*.ipynb"))


def outputs(path: Path) -> list[tuple[int, str]]:
    """(cell index, text) of every stored output."""
    found = []
    for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        for output in cell.get("outputs", []):
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            found.append((index, "".join(text) if isinstance(text, list) else str(text)))
            if output.get("output_type") == "error":
                found.append((index, f"{output.get('ename')}: {output.get('evalue')}"))
    return found


@pytest.mark.parametrize("path", STORED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stored_outputs_hold_no_python_version_phrase(path):
    hits = [
        f"cell {index}: {phrase!r}" for index, text in outputs(path) for phrase in VERSION_PHRASES if phrase in text
    ]
    assert not hits, (
        f"{path.name} stores outputs that change with the Python version ({', '.join(hits)}): print the status "
        "code, or the course's own words, instead of http.HTTPStatus phrases."
    )
