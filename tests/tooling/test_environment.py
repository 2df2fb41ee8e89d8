"""The setup files agree: pyproject.toml, constraints.txt, environment.yml, the Makefile and the README."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from helpers import ROOT


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins() -> dict[str, str]:
    result: dict[str, str] = {}
    for raw_line in (ROOT / "constraints.txt").read_text().splitlines():
        line = raw_line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt line {line!r} is not an exact pin"
            result[canonicalize_name(name)] = version
    return result


def direct_requirements() -> list[Requirement]:
    project = pyproject()["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return [Requirement(line) for line in lines]


def test_every_direct_dependency_is_pinned_within_its_range():
    locked = pins()
    for requirement in direct_requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is in pyproject.toml but not pinned in constraints.txt"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"constraints.txt pins {name}=={locked[name]}, outside pyproject's {requirement.specifier}"
        )


def test_torch_is_pinned_to_the_cpu_wheel_version_everywhere():
    assert pins()["torch"] == "2.13.0"
    torch_requirement = next(r for r in direct_requirements() if r.name == "torch")
    assert str(torch_requirement.specifier) == "==2.13.0"


def test_environment_yml_builds_the_same_environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "course-api"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    version = python.split("=", 1)[1]
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(version + ".0")
    pip_lines = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-c constraints.txt" in pip_lines
    editable = next(line for line in pip_lines if line.startswith("-e ."))
    listed = re.search(r"\[(.*)\]", editable)
    assert listed, editable
    extras = set(listed.group(1).split(","))
    assert extras == set(pyproject()["project"]["optional-dependencies"])
    setup = (ROOT / "course.py").read_text(encoding="utf-8")  # what make setup and course.py setup install
    assert f'EXTRAS = "{",".join(sorted(extras))}"' in setup
    assert '"-c", "constraints.txt", "-e", f".[{EXTRAS}]"' in setup


def test_makefile_has_the_planned_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "serve", "setup", "kernel"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "JUPYTER_ARGS" in makefile


def test_readme_opens_with_the_two_commands_for_each_system():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1]
    table = re.search(r"\n(\|.*\|\n)+", quickstart)
    assert table, "the Quickstart opens with a table: the two commands for macOS and Linux, and for Windows"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.group(0).strip().splitlines()]
    assert rows[0][1:] == ["macOS and Linux", "Windows (PowerShell)"]
    assert [row[1:] for row in rows[2:]] == [
        ["`make lab`", "`py course.py lab`"],
        ["`make test`", "`py course.py test`"],
    ]
    assert "COURSE_API_DEVICE=cuda" in readme


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any("make test" in step or ".ci/run" in step for step in steps)


def test_ci_also_runs_the_tool_tests_with_the_tools_hidden():
    """Before the full run (which must skip nothing), the tests that need Chromium or wrk run once with both
    hidden: they must skip, not fail. The full run comes last, so that its summary closes the log."""
    steps = [line.split("#")[0].strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    hidden = steps.index("bash .ci/without-system-tools")
    required = steps.index("export COURSE_API_REQUIRE_SYSTEM_TOOLS=1")
    assert hidden < required < max(i for i, line in enumerate(steps) if line.startswith("make test"))
    script = (ROOT / ".ci" / "without-system-tools").read_text()
    assert "-u COURSE_API_REQUIRE_SYSTEM_TOOLS COURSE_API_CHROMIUM=/nonexistent/chromium" in script
    assert '-m "browser or wrk"' in script


def test_ci_runs_the_tests_on_linux_macos_and_windows():
    """The full suite on Ubuntu (every Python); course.py test on macOS and Windows, oldest and newest Python."""
    from course_api.workbook.doctor import SUPPORTED_PYTHON

    (major, low), (_, high) = SUPPORTED_PYTHON
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))["jobs"]
    assert jobs["test"]["runs-on"] == "ubuntu-latest"
    other = jobs["other-systems"]
    assert set(other["strategy"]["matrix"]["os"]) == {"macos-latest", "windows-latest"}
    assert other["strategy"]["matrix"]["python-version"] == [f"{major}.{low}", f"{major}.{high}"]
    assert any(step.get("run") == "python course.py test" for step in other["steps"])
    assert "PIP_EXTRA_INDEX_URL" not in str(jobs)  # course.py picks PyTorch's CPU build itself


def test_ci_tests_every_supported_python():
    from course_api.workbook.doctor import SUPPORTED_PYTHON

    (major, low), (_, high) = SUPPORTED_PYTHON
    supported = [f"{major}.{minor}" for minor in range(low, high + 1)]
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"] == supported
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={supported[0]}"
    classifiers = pyproject["project"]["classifiers"]
    assert all(f"Programming Language :: Python :: {v}" in classifiers for v in supported)


def _code_without_comments(cell_source: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in cell_source.splitlines())


def test_no_cdn_or_public_api_in_package_or_notebooks():
    """Nothing runs against the internet by default. Notebook 01 may *name* the public people-in-space API
    (in prose and in a comment of its parameters cell, for online students), but no code may call it."""
    needles = ("cdn.jsdelivr", "unpkg.com", "open-notify.org", "huggingface.co", "fonts.googleapis")
    offenders = []
    for path in (ROOT / "course_api").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".html", ".js", ".css", ".json"):
            text = path.read_text(encoding="utf-8")
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in needles if n in text]
    for folder in ("notebooks", "solutions", "exercises"):
        for path in (ROOT / folder).glob("*.ipynb"):
            for cell in nbformat.read(path, as_version=4).cells:
                text = _code_without_comments(cell.source) if cell.cell_type == "code" else cell.source
                named = needles if cell.cell_type == "code" else needles[:2] + needles[3:]
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in named if n in text]
    assert not offenders


def test_lab_settings_install_into_the_environment_and_keep_others(tmp_path):
    from course_api.workbook import lab

    config = tmp_path / "etc" / "jupyter" / "jupyter_server_config.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"ServerApp": {"port": 9999}}')
    lab.install_settings(tmp_path)
    lab.install_settings(tmp_path)  # twice: the same result
    server = json.loads(config.read_text())
    assert server["ServerApp"] == {"port": 9999, "tornado_settings": {"ws_ping_timeout": 30000}}
    assert server["MappingKernelManager"] == {"transport_encryption": "auto"}
    overrides = json.loads((tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


INSTRUCTOR_FOLDERS = ("submissions", "grades", "site")  # README, "For instructors"; `make site` writes site/


@pytest.mark.subprocess
def test_instructors_folders_are_not_linted_collected_or_committed(tmp_path):
    """The README's grading example puts submissions/ and grades/ in the course folder, and `make site` writes
    site/: the students' code there fails no `make lint`, no test run collects it, and git ignores it. A file with
    the same mistakes in the course's own code is still found (the control)."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    mistake = "import os\nprint( undefined_name )\n"
    test_file = "def test_from_a_student():\n    assert False\n"
    for folder in (*INSTRUCTOR_FOLDERS, "course_api", "tests"):
        place = tmp_path / folder / "ada" if folder in INSTRUCTOR_FOLDERS else tmp_path / folder
        place.mkdir(parents=True)
        (place / "work.py").write_text(mistake, encoding="utf-8")
        (place / "test_work.py").write_text(test_file, encoding="utf-8")
        cell = nbformat.v4.new_code_cell(mistake)
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), place / "03_fastapi.ipynb")

    def run(*command: str) -> str:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        return done.stdout + done.stderr

    for lint in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        found = run(sys.executable, "-m", "ruff", *lint)
        assert "course_api" in found, found  # the control: ruff did look
        assert not any(folder in found for folder in INSTRUCTOR_FOLDERS), found
    collected = run(sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts=")
    collected += run(
        sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "."
    )
    assert "tests/test_work.py::test_from_a_student" in collected, collected
    assert not any(folder in collected for folder in INSTRUCTOR_FOLDERS), collected
    paths = [f"{folder}/ada/work.py" for folder in INSTRUCTOR_FOLDERS]
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, check=False)
    assert ignored.stdout.split() == paths
