"""Safe defaults: loopback only, a non-root image with a health check, weights from safetensors only,
dependency floors above the known advisories, and no tracebacks in answers."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement
from packaging.version import Version

from helpers import ROOT

PACKAGE = ROOT / "course_api"

# The first release past each advisory (see the README's "Security" section).
ADVISORY_FLOORS = {"starlette": "1.6", "python-multipart": "0.0.31", "pillow": "12.3"}


def test_the_server_binds_loopback_unless_told_otherwise():
    import inspect

    from course_api.cli import build_parser
    from course_api.server.settings import Settings
    from course_api.workbook.background import serve_in_background

    assert Settings().host == "127.0.0.1"
    assert Settings.from_env(environ={}).host == "127.0.0.1"
    assert inspect.signature(serve_in_background).parameters["host"].default == "127.0.0.1"
    args = build_parser().parse_args(["serve"])
    assert args.host is None  # None: Settings decides, i.e. 127.0.0.1 unless COURSE_API_HOST says otherwise


def test_the_image_runs_as_a_user_with_a_health_check():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "the image must end as a non-root user"
    assert users[-1] not in ("root", "0"), "the image must end as a non-root user"
    assert any(line.startswith("HEALTHCHECK ") for line in lines)


def test_weights_load_only_from_safetensors():
    weights = [p for p in (PACKAGE / "weights").iterdir() if p.is_file()]
    assert weights, weights
    assert all(p.suffix in (".safetensors", ".md") for p in weights), weights
    for source in PACKAGE.rglob("*.py"):
        assert pickle_loads(source.read_text()) == [], source  # a check may still *name* torch.load in a message


def pickle_loads(text: str) -> list[str]:
    """The calls of torch.load, pickle.load(s) and joblib.load, and the imports of pickle, in Python ``text``."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = f"{owner.id}.{node.func.attr}" if isinstance(owner, ast.Name) else ""
            if name in ("torch.load", "pickle.load", "pickle.loads", "joblib.load"):
                found.append(name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"import {module}" for module in modules if module.split(".")[0] in ("pickle", "cloudpickle")]
    return found


def test_the_pickle_scan_finds_calls_and_imports_not_words():
    found = pickle_loads("import torch\nmodel = torch.load('x.pt')\nfrom pickle import loads")
    assert sorted(found) == ["import pickle", "torch.load"]
    assert pickle_loads('message = "never call torch.load(path) on a file you did not make"') == []


def test_dependency_floors_are_above_the_known_advisories():
    declared = {
        Requirement(line).name.lower(): Requirement(line)
        for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    readme = (ROOT / "README.md").read_text()
    for name, floor in ADVISORY_FLOORS.items():
        specifier = declared[name].specifier
        lowest = min(Version(s.version) for s in specifier if s.operator in (">=", "=="))
        assert lowest >= Version(floor), f"{name}{specifier} allows versions below {floor}"
        assert Version(version(name)) >= Version(floor), f"installed {name} {version(name)} is below {floor}"
        assert f"{name}>={floor}" in readme, f"the README's security section should name {name}>={floor}"


def test_no_debug_and_no_tracebacks(app):
    assert app.debug is False
    cli = (PACKAGE / "cli.py").read_text()
    assert "debug=True" not in cli
    assert "--debug" not in cli
    assert sys.modules.get("course_api.server.app") is not None
