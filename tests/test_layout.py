"""The shape of the code: short functions, and layers that import one way (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import ROOT

PACKAGE = ROOT / "course_api"
MAX_FUNCTION_LINES = 60

# module -> modules it must never import (directly or lazily): the layers point one way.
FORBIDDEN_IMPORTS = {
    "course_api/problems": ("course_api.batching", "course_api.inference", "course_api.server", "course_api.routes"),
    "course_api/imaging.py": ("course_api.problems", "course_api.server", "course_api.routes"),
    "course_api/samples.py": ("course_api.training",),
    "course_api/datasets.py": ("course_api.training",),
    "course_api/settings.py": ("course_api.",),
    "course_api/ports.py": ("course_api.",),
    "course_api/winjob.py": ("course_api.",),
    "course_api/watchdog.py": ("course_api.",),
    "course_api/public_url.py": ("course_api.",),
    "course_api/cpu.py": ("course_api.",),
    "course_api/batching.py": ("course_api.problems", "course_api.server", "course_api.settings"),
    "course_api/models": ("course_api.server", "course_api.routes", "course_api.problems", "course_api.training"),
    "course_api/routes": ("course_api.server",),
}


def _sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_the_package_is_longer_than_60_lines():
    long = [entry for path in _sources(PACKAGE) for entry in _long_functions(path)]
    assert not long, "Split these into smaller functions:\n" + "\n".join(long)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("where", sorted(FORBIDDEN_IMPORTS))
def test_layers_import_one_way(where):
    target = ROOT / where
    files = _sources(target) if target.is_dir() else [target]
    assert files, f"{where} does not exist"
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f if f.endswith(".") else f + ".") for f in FORBIDDEN_IMPORTS[where])
    ]
    assert not bad, "\n".join(bad)


def test_one_free_port_helper():
    """Ports are found and bound in one place (course_api.ports); nothing else opens its own listening socket."""
    offenders = []
    for folder in ("course_api", "benchmarks", "tests"):
        for path in _sources(ROOT / folder):
            if path.name in ("ports.py", "test_layout.py"):
                continue
            text = path.read_text(encoding="utf-8")
            if "def free_port" in text or "def _free_port" in text or (".bind((" in text and "getsockname" in text):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, "Use course_api.ports instead of a port helper of your own: " + ", ".join(offenders)
