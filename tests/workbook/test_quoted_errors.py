"""What the course quotes is what a student sees: the error of `uvicorn.run()` in a notebook cell, run in the
course's own kernel, is quoted word for word by the README and notebooks 00 and 03."""

from __future__ import annotations

import re

import nbformat
import pytest

from helpers import ROOT

pytestmark = pytest.mark.kernel

QUOTED_BY = ("README.md", "notebooks/00_setup.ipynb", "notebooks/03_fastapi.ipynb")


def text_of(name: str) -> str:
    path = ROOT / name
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", text)


def test_the_uvicorn_run_error_is_quoted_as_the_kernel_says_it(kernel):
    with pytest.raises(RuntimeError) as failure:
        kernel.run("import uvicorn\nfrom fastapi import FastAPI\nuvicorn.run(FastAPI(), port=0)", timeout=60)
    last_line = str(failure.value).strip().splitlines()[-1]  # "RuntimeError: ..." as the cell shows it last
    assert last_line.startswith("RuntimeError: ")
    for name in QUOTED_BY:
        assert last_line in text_of(name), f"{name} should quote {last_line!r}, the error this Python gives"
