"""The repo's Dockerfile: lints clean, follows notebook 05's recipe, and its CMD really serves the course."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx2
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import BIN, ROOT, output_of

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    result = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def exec_form(instruction: str) -> list[str]:
    args = next(rest for word, rest in instructions() if word == instruction)
    if instruction == "HEALTHCHECK":
        args = args[args.index("CMD") + 3 :].strip()
    return json.loads(args)


@pytest.mark.docker
def test_hadolint_reports_nothing():
    out = subprocess.run(
        [str(BIN / "hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stdout
    assert out.stdout.strip() == "", out.stdout


def test_recipe_of_notebook_05():
    steps = instructions()
    words = [w for w, _ in steps]
    base = next(rest for w, rest in steps if w == "FROM")
    assert re.match(r"python:3\.\d+-slim", base)
    copies = [rest for w, rest in steps if w == "COPY"]
    assert copies[0].startswith("requirements.txt"), "dependencies are copied before the code"
    install = next(i for i, (w, rest) in enumerate(steps) if w == "RUN" and "-r requirements.txt" in rest)
    code = next(i for i, (w, rest) in enumerate(steps) if w == "COPY" and "course_api" in rest)
    assert install < code, "pip install -r requirements.txt runs before the code is copied (layer caching)"
    user = next(rest for w, rest in steps if w == "USER")
    assert user not in ("root", "0")
    useradd = next(i for i, (w, rest) in enumerate(steps) if w == "RUN" and "useradd" in rest)
    assert useradd < install, "the user is created early, so its layer is reused (notebook 05's table)"
    assert "HEALTHCHECK" in words
    shell, flag, script = exec_form("CMD")
    assert (shell, flag) == ("sh", "-c"), "a shell expands $PORT"
    cmd = script.split()
    assert cmd[:4] == ["exec", "uvicorn", "--factory", "course_api.server.app:create_app"], "exec: uvicorn gets SIGTERM"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    exposed = next(rest for w, rest in steps if w == "EXPOSE")
    assert cmd[cmd.index("--port") + 1] == f'"${{PORT:-{exposed}}}"', "the platform's $PORT, else the exposed port"


def test_requirements_are_the_locked_runtime_pins():
    locked = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            locked[canonicalize_name(name)] = version
    declared = {
        canonicalize_name(Requirement(r).name)
        for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in declared, f"{name} is not a dependency in pyproject.toml"
            assert str(requirement.specifier) == f"=={locked[name]}", (
                f"{name}: requirements.txt and constraints.txt differ"
            )


def _closure(names: set[str]) -> set[str]:
    """The distributions ``names`` install, with all that they depend on (markers of this machine applied)."""
    from importlib import metadata

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_requirements_cover_what_the_server_imports():
    """The image installs only requirements.txt: every package the server's own modules import must come with it."""
    import ast
    from importlib import metadata

    code = "import sys, json, course_api.server.app; print(json.dumps({m: getattr(sys.modules[m], '__file__', None) "
    code += "for m in sys.modules if m.startswith('course_api')}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    imported: set[str] = set()
    for path in filter(None, json.loads(result.stdout).values()):
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    dists = metadata.packages_distributions()
    needed = {canonicalize_name(d) for name in imported for d in dists.get(name, [])} - {"course-api"}
    pinned = {
        Requirement(line).name
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    missing = sorted(needed - _closure(pinned))
    assert not missing, f"The server imports {missing}, which requirements.txt does not install: add them there."


def test_dockerignore_keeps_the_context_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "notebooks", "tests"):
        assert entry in ignored


@pytest.mark.docker
@pytest.mark.subprocess
def test_the_images_cmd_serves_the_course_on_the_platforms_port(free_port, tmp_path):
    """Run the image's CMD as a local process, as a platform that sets $PORT would (here a free port)."""
    shell, flag, script = exec_form("CMD")
    process = subprocess.Popen(
        [shell, flag, script],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "COURSE_API_DEVICE": "cpu", "HOME": str(tmp_path), "PORT": str(free_port)},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, output_of(process)
            try:
                response = httpx2.get(f"http://127.0.0.1:{free_port}/items/5", params={"q": "somequery"}, timeout=2)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "the CMD did not answer within 60 s"
                time.sleep(0.2)
        assert response.json() == {"item_id": 5, "q": "somequery"}
        health = exec_form("HEALTHCHECK")
        health[0] = sys.executable
        env = {**os.environ, "PORT": str(free_port)}
        assert subprocess.run(health, timeout=30, check=False, env=env).returncode == 0, "the HEALTHCHECK fails"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
