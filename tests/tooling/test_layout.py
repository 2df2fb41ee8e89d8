"""The shape of the code: short functions, and layers that import one way (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from helpers import ROOT

PACKAGE = ROOT / "course_api"
MAX_FUNCTION_LINES = 60

# The package's floors, lowest first: a module imports only from its own floor or a lower one (docs/ARCHITECTURE.md).
# course_api/samples.py is on the workbook's floor: notebooks import it by its short path.
FLOORS = {
    "system": 0,  # course_api/system/: operating-system plumbing
    "server": 1,  # course_api/server/: the course server and its models
    "workbook": 2,  # course_api/workbook/ and course_api/samples.py: the workbook's tools
    "front": 3,  # course_api/__init__.py (what notebooks import), __main__.py and cli.py (the command)
}
# Finer rules inside the server: module -> modules it must never import.
FORBIDDEN_IMPORTS = {
    "course_api/server/problems": (
        "course_api.server.batching",
        "course_api.server.inference",
        "course_api.server.app",
        "course_api.server.routes",
    ),
    "course_api/server/imaging.py": ("course_api.server.problems", "course_api.server.app", "course_api.server.routes"),
    "course_api/server/datasets.py": ("course_api.server.training",),
    "course_api/samples.py": ("course_api.server.training",),
    "course_api/server/settings.py": ("course_api.server", "course_api.workbook"),
    "course_api/server/batching.py": (
        "course_api.server.problems",
        "course_api.server.app",
        "course_api.server.settings",
    ),
    "course_api/server/generation.py": (
        "course_api.server.problems",
        "course_api.server.app",
        "course_api.server.routes",
        "course_api.server.settings",
    ),
    "course_api/server/models": (
        "course_api.server.app",
        "course_api.server.routes",
        "course_api.server.problems",
        "course_api.server.training",
    ),
    "course_api/server/routes": ("course_api.server.app", "course_api.server.image_fast_path"),
    "course_api/server/image_fast_path.py": ("course_api.server.routes", "course_api.server.app"),
}
MODULE_STRING = re.compile(r"^course_api(\.\w+)+")  # "course_api.x.y", "course_api.x.y:app", in a string


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


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module of the package that ``path`` imports: at the top, inside functions (lazily), under
    TYPE_CHECKING, and by name in a string (importlib.import_module, a uvicorn target, __import__)."""
    names: set[str] = set()
    package = _module_of(path) if path.name == "__init__.py" else _module_of(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # a relative import: from its package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{module}".rstrip(".")
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.match(node.value):
            names.add(MODULE_STRING.match(node.value)[0])  # type: ignore[index]
    return {n for n in names if n == "course_api" or n.startswith("course_api.")}


def _floor(module: str) -> int | None:
    """The floor of a module of the package (None for a name that is no module of it, such as a function)."""
    parts = module.split(".")
    if parts[:2] == ["course_api", "samples"]:
        return FLOORS["workbook"]
    if len(parts) > 1 and parts[1] in FLOORS and parts[1] != "front":
        return FLOORS[parts[1]]
    if module in ("course_api", "course_api.cli", "course_api.__main__"):
        return FLOORS["front"]
    return None


def test_the_package_has_three_products_and_a_front():
    top = {p.name for p in PACKAGE.iterdir() if not p.name.startswith((".", "__pycache__"))}
    assert top == {
        "__init__.py",
        "__main__.py",
        "cli.py",
        "samples.py",
        "server",
        "workbook",
        "system",
        "data",
        "static",
        "weights",
    }, "a new top-level module or folder: put it in server/, workbook/ or system/ (docs/ARCHITECTURE.md)"


@pytest.mark.parametrize("path", _sources(PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_only_down(path):
    """No module imports one of a higher floor (lazily, by name in a string, or under TYPE_CHECKING either)."""
    own = _floor(_module_of(path))
    assert own is not None, f"{path.relative_to(ROOT)} is on no floor"
    upward = [name for name in sorted(_imports(path)) if (_floor(name) or 0) > own]
    assert not upward, f"{path.relative_to(ROOT)} (floor {own}) imports " + ", ".join(upward)


@pytest.mark.parametrize("where", sorted(FORBIDDEN_IMPORTS))
def test_layers_inside_the_server_import_one_way(where):
    target = ROOT / where
    files = _sources(target) if target.is_dir() else [target]
    assert files, f"{where} does not exist"
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IMPORTS[where])
        and not name.startswith(_module_of(path))
    ]
    assert not bad, "\n".join(bad)


def test_the_system_floor_imports_nothing_else_of_the_package():
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources(PACKAGE / "system")
        for name in _imports(path)
        if not name.startswith("course_api.system")
    ]
    assert not bad, "\n".join(bad)


def test_no_module_imports_a_private_name_of_another():
    bad = []
    for path in _sources(PACKAGE):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_api"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                bad += [f"{path.relative_to(ROOT)}: from {node.module} import {name}" for name in private]
    assert not bad, "a private name is the module's own; make it public or move it:\n" + "\n".join(bad)


# Names each module of a kind defines by convention, meaning the same thing in each.
CONVENTIONAL = {"logger", "router", "main", "NOTEBOOK"}


def test_no_name_is_defined_twice_for_two_meanings():
    """A public top-level name (function, class, constant) is defined in one module of the package only."""
    where: dict[str, list[str]] = {}
    for path in _sources(PACKAGE):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                if not name.startswith("_") and name not in CONVENTIONAL:
                    where.setdefault(name, []).append(str(path.relative_to(PACKAGE)))
    twice = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not twice, f"one name, two definitions: {twice}"


def test_no_sys_path_edits_and_no_frame_inspection():
    bad = []
    for folder in ("course_api", "benchmarks", "tests"):
        for path in _sources(ROOT / folder):
            if path.name == "test_layout.py":
                continue
            text = path.read_text(encoding="utf-8")
            bad += [
                f"{path.relative_to(ROOT)}: {what}"
                for what in ("sys.path.insert", "sys.path.append", "_getframe")
                if what in text
            ]
    assert not bad, "\n".join(bad)


def test_one_free_port_helper():
    """Ports are found and bound in one place (course_api.system.ports); nothing else opens its own listening socket."""
    offenders = []
    for folder in ("course_api", "benchmarks", "tests"):
        for path in _sources(ROOT / folder):
            if path.name in ("ports.py", "test_layout.py"):
                continue
            text = path.read_text(encoding="utf-8")
            if "def free_port" in text or "def _free_port" in text or (".bind((" in text and "getsockname" in text):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, "Use course_api.system.ports instead of a port helper of your own: " + ", ".join(offenders)
