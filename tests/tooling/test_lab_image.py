"""Dockerfile.lab, the students' image for Zero to JupyterHub, and docs/CLASSROOM.md, the instructors' page.

No Docker engine is needed: the Dockerfile is linted, its recipe checked line by line, and what it runs (the kernel
and settings commands, the requirements it installs, jupyterhub-singleuser) is run here from the .venv.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from benchmarks.session_memory import recommend, round_up, time_start
from course_api.workbook.lab import settings_files
from helpers import BIN, ROOT

DOCKERFILE = ROOT / "Dockerfile.lab"
CLASSROOM = ROOT / "docs" / "CLASSROOM.md"
HOME = "/home/jovyan"
KERNEL_COMMAND = 'python -m ipykernel install --sys-prefix --name course-api --display-name "Python (course-api)"'
SETTINGS_COMMAND = "python -m course_api.workbook.lab"


def instructions() -> list[tuple[str, str]]:
    """Dockerfile.lab's (INSTRUCTION, arguments), with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    steps = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            steps.append((word.upper(), rest.strip()))
    return steps


def index_of(word: str, contains: str = "") -> int:
    return next(i for i, (w, rest) in enumerate(instructions()) if w == word and contains in rest)


def build_args() -> dict[str, str]:
    return {name: default for w, rest in instructions() if w == "ARG" for name, _, default in [rest.partition("=")]}


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def run_commands() -> list[str]:
    """Each shell command of the RUN instructions, split at ``&&``."""
    return [part.strip() for w, rest in instructions() if w == "RUN" for part in rest.split("&&")]


# ------------------------------------------------------------------------------------------------ the recipe
@pytest.mark.docker
def test_hadolint_reports_nothing():
    out = subprocess.run(
        [str(BIN / "hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stdout
    assert out.stdout.strip() == "", out.stdout


def test_a_non_root_user_as_z2jh_expects_created_early():
    useradd = index_of("RUN", "useradd")
    command = shlex.split(instructions()[useradd][1])
    assert command[-1] == "jovyan"
    assert command[command.index("--uid") + 1] == "1000", "Z2JH runs the server as uid 1000 (singleuser.uid)"
    assert command[command.index("--home-dir") + 1] == HOME
    assert "--create-home" in command
    assert useradd < index_of("RUN", "pip install"), "the user's layer comes before the installs (cache)"
    assert useradd < index_of("ARG", "TORCH_INDEX"), "a build argument never rebuilds the user's layer"
    users = [rest for w, rest in instructions() if w == "USER"]
    assert users, "the image must not run as root"
    assert users[-1] in ("1000", "jovyan")
    assert index_of("USER") > max(i for i, (w, _) in enumerate(instructions()) if w == "RUN"), "installs run as root"


def test_every_install_is_pinned_by_the_constraints():
    installs = [part for part in run_commands() if part.startswith("pip install")]
    assert len(installs) == 2, installs
    for command in installs:
        words = shlex.split(command)
        assert words[words.index("-c") + 1] == "constraints.txt", command
        assert words[words.index("--extra-index-url") + 1] == "${TORCH_INDEX}", command
        assert "--no-cache-dir" in words
    dependencies, package = installs
    assert "-r requirements-lab.txt" in dependencies
    assert shlex.split(package)[-1] == ".[lab]", "the package itself, with its lab extra"
    assert index_of("RUN", "-r requirements-lab.txt") < index_of("COPY", "course_api"), (
        "the dependencies are installed before the code is copied (layer caching)"
    )


def test_build_arguments_have_documented_defaults():
    args = build_args()
    assert args["PYTHON_VERSION"] == "3.11"
    assert args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"
    assert args["JUPYTERHUB_VERSION"] == locked()["jupyterhub"], "the default is the course's pin"
    assert instructions()[0] == ("ARG", "PYTHON_VERSION=3.11"), "an ARG before FROM can choose the base image"
    assert instructions()[1] == ("FROM", "python:${PYTHON_VERSION}-slim")
    comments = "\n".join(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("#"))
    for name in args:
        assert f"#   {name}" in comments, f"say what --build-arg {name} does in the header"
    assert "https://download.pytorch.org/whl/cu130" in comments, "the CUDA 13.0 build of torch 2.13"


def test_no_latest_and_no_untagged_image():
    assert "latest" not in DOCKERFILE.read_text()
    for word, rest in instructions():
        if word == "FROM":
            assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim", rest.split()[0]), rest


def test_kernel_settings_notebooks_and_command():
    commands = run_commands()
    assert KERNEL_COMMAND in commands
    assert SETTINGS_COMMAND in commands
    copies = [shlex.split(rest) for w, rest in instructions() if w == "COPY"]
    for folder in ("notebooks", "exercises", "solutions"):
        copy = next(c for c in copies if c[-2].startswith(f"{folder}/"))
        assert copy[-1] == f"{HOME}/{folder}/"
        assert "--chown=1000:100" in copy, f"the student owns {folder}/ (the notebooks write files next to them)"
        assert sorted(ROOT.glob(copy[-2])), f"{copy[-2]} matches no file"
    assert [rest for w, rest in instructions() if w == "WORKDIR"][-1] == HOME
    assert [rest for w, rest in instructions() if w == "EXPOSE"] == ["8888"]
    assert json.loads(next(rest for w, rest in instructions() if w == "CMD")) == ["jupyterhub-singleuser"]


def test_the_tools_the_notebooks_call_are_installed():
    """`!curl` cells in notebooks 01 and 04, and git for nbgitpuller."""
    apt = next(part for part in run_commands() if part.startswith("apt-get install"))
    assert {"curl", "git"} <= set(apt.split())


# -------------------------------------------------------------------------------------------- .dockerignore
def _pattern(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore syntax: Go's filepath.Match, plus ``**`` for any number of folders."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        else:
            regex += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(regex)


def dockerignored(path: str) -> bool:
    """Whether ``docker build`` leaves ``path`` out of the context: the last matching line wins, and a line that
    matches a folder matches everything in it."""
    parents = [str(Path(*Path(path).parts[: n + 1])) for n in range(len(Path(path).parts))]
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = _pattern(line.lstrip("!").strip("/"))
        if any(pattern.fullmatch(p) for p in parents):
            ignored = not keep
    return ignored


def test_dockerignore_sends_the_course_and_nothing_else():
    copied = [word for w, rest in instructions() if w == "COPY" for word in shlex.split(rest)[:-1]]
    sources = [s for s in copied if not s.startswith("--")]
    files = [p.relative_to(ROOT).as_posix() for s in sources for p in ROOT.glob(s)]
    files += [p.relative_to(ROOT).as_posix() for p in (ROOT / "course_api").rglob("*.py")]
    assert "notebooks/00_setup.ipynb" in files
    assert [f for f in files if dockerignored(f)] == [], "Dockerfile.lab copies these, .dockerignore drops them"
    for path in (".venv/bin/python", ".git/HEAD", "tests/tooling/test_lab_image.py", "notebooks/work/03/main.py",
                 "notebooks/.ipynb_checkpoints/00_setup-checkpoint.ipynb", "notebooks/work/05/Dockerfile",
                 "solutions/work/05/Dockerfile", "exercises/my_api/Dockerfile",
                 "course_api/__pycache__/x.cpython-311.pyc"):  # fmt: skip
        assert dockerignored(path), f"{path} should stay out of the build context"


# ------------------------------------------------------------------------------------ what the image runs
@pytest.mark.subprocess
def test_the_requirements_step_lists_the_lab_environment(tmp_path):
    """Run the RUN's sed and python steps (not pip) on copies of the two files, with another hub version."""
    step = next(rest for w, rest in instructions() if w == "RUN" and "requirements-lab.txt" in rest)
    for name in ("pyproject.toml", "constraints.txt"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    script = " && ".join(part for part in step.split("&&") if "pip install" not in part)
    script = script.replace("python -c", f"{shlex.quote(sys.executable)} -c")
    env = {"PATH": "/usr/bin:/bin", "JUPYTERHUB_VERSION": "5.3.0"}
    subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env, check=True, timeout=60)
    assert "jupyterhub==5.3.0" in (tmp_path / "constraints.txt").read_text().splitlines()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["lab"]
    listed = (tmp_path / "requirements-lab.txt").read_text().splitlines()
    assert listed == wanted
    pins = locked()
    for line in listed:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{line} vs the pin {pins[name]}"


@pytest.mark.subprocess
def test_kernel_and_settings_commands_run_in_a_temporary_prefix(tmp_path):
    """The Dockerfile's two commands, word for word, with sys.prefix pointing to an empty folder."""
    for command in (KERNEL_COMMAND, SETTINGS_COMMAND):
        module, *args = shlex.split(command)[2:]
        code = "import runpy, sys; sys.prefix = sys.argv.pop(1); sys.argv[0] = 'x'; "
        code += f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path), *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
    spec = json.loads((tmp_path / "share/jupyter/kernels/course-api/kernel.json").read_text())
    assert spec["display_name"] == "Python (course-api)"
    assert spec["argv"][0] == sys.executable, "the kernel runs the environment's Python"
    assert {path.relative_to(tmp_path).as_posix() for path in settings_files(tmp_path)} == {
        "share/jupyter/lab/settings/overrides.json",
        "etc/jupyter/jupyter_server_config.json",
    }
    for path, content in settings_files(tmp_path).items():
        assert json.loads(path.read_text()) == content, f"{path} is not the course's settings"


@pytest.mark.subprocess
def test_jupyterhub_singleuser_runs_from_the_venv():
    done = subprocess.run(
        [str(BIN / "jupyterhub-singleuser"), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--help-all" in done.stdout
    assert metadata.version("jupyterhub") == build_args()["JUPYTERHUB_VERSION"], "the image's hub = the .venv's"
    assert metadata.version("jupyter-server-proxy"), "server.browser_url on a hub needs jupyter-server-proxy"


@pytest.mark.docker
@pytest.mark.kernel
@pytest.mark.subprocess
def test_the_images_cmd_serves_the_course_kernel_as_a_hubs_single_user_server():
    """The CMD, with the variables a spawner sets and a stand-in hub API: its /api answers, it opens the notebooks
    and starts a course-api kernel that answers over its websocket (what the benchmark measures)."""
    run = time_start("singleuser")
    assert run.server == "jupyterhub-singleuser"
    assert 0 < run.seconds < 120
    assert 0 < run.rss_mib <= run.in_use_mib


# ------------------------------------------------------------------------------------------ docs/CLASSROOM.md
def yaml_blocks() -> list[object]:
    blocks = re.findall(r"```yaml\n(.*?)```", CLASSROOM.read_text(), flags=re.DOTALL)
    assert blocks, "docs/CLASSROOM.md has no yaml block"
    return [yaml.safe_load(block) for block in blocks]


def test_classroom_yaml_parses_and_has_the_z2jh_values():
    values = next(b for b in yaml_blocks() if isinstance(b, dict) and "singleuser" in b)["singleuser"]
    assert values["image"]["name"]
    assert values["image"]["tag"]
    assert str(values["image"]["tag"]) != "latest"
    assert 0 < values["cpu"]["guarantee"] <= values["cpu"]["limit"]
    memory = {}
    for key in ("guarantee", "limit"):
        match = re.fullmatch(r"(\d+)M", values["memory"][key])
        assert match, f"memory.{key}: a whole number of MiB, as 1536M"
        memory[key] = int(match.group(1))
        assert memory[key] % 128 == 0, f"memory.{key}: a multiple of 128 MiB"
    assert memory["guarantee"] <= memory["limit"]
    assert values["defaultUrl"] == "/lab/tree/notebooks/00_setup.ipynb"
    gpu = next(p for p in values["profileList"] if "extra_resource_limits" in p.get("kubespawner_override", {}))
    override = gpu["kubespawner_override"]
    assert override["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert "cu130" in override["image"], "the GPU profile runs the CUDA build of the image"
    assert sum(1 for p in values["profileList"] if p.get("default")) == 1


def test_classroom_quotes_the_measured_memory():
    text = CLASSROOM.read_text()
    values = next(b for b in yaml_blocks() if isinstance(b, dict) and "singleuser" in b)["singleuser"]
    assert f"`{values['memory']['limit']}`" in text, "the prose names the limit the values use"
    assert "python -m benchmarks.session_memory" in text, "say how the figures were measured"


def test_classroom_nbgitpuller_link_is_url_encoded():
    links = re.findall(r"https://[^\s`)<>\"]+/hub/user-redirect/git-pull\?[^\s`)<>\"]+", CLASSROOM.read_text())
    assert links
    for link in links:
        query = parse_qs(urlsplit(link).query)
        assert set(query) == {"repo", "branch", "urlpath"}, link
        assert query["urlpath"][0].startswith("lab/tree/")
        assert query["urlpath"][0].endswith("/notebooks/00_setup.ipynb")
        assert "/" not in urlsplit(link).query.split("urlpath=")[1], "urlpath is URL-encoded (%2F)"


def test_nbgitpuller_comes_with_the_lab_extra():
    lab = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["lab"]
    assert "nbgitpuller" in {canonicalize_name(Requirement(r).name) for r in lab}


# ------------------------------------------------------------------------------------------------ the benchmark
def test_recommendation_rounds_up_to_128_mib():
    assert round_up(1) == 128
    assert round_up(128) == 128
    assert round_up(128.5) == 256
    assert recommend(1000) == {"guarantee": "1024M", "limit": "1280M"}
