"""course.py, the standard-library entry point: the same set-up on Linux, macOS and Windows, the right PyTorch
build for each machine, and the Makefile as a thin shell around it. What cannot run here (Windows, macOS, a GPU,
PyTorch's own index) is tested by the exact commands course.py would run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import course
from helpers import ROOT

VERSION = course.torch_version()
CPU_INDEX = ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
CU130_INDEX = ["--extra-index-url", "https://download.pytorch.org/whl/cu130"]


def test_the_pinned_torch_version_is_the_one_in_constraints():
    pins = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    assert f"\ntorch=={VERSION}\n" in pins
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)


@pytest.mark.parametrize(
    ("system", "choice", "nvidia", "build", "requirement", "extra"),
    [
        ("Linux", "auto", False, "cpu", f"torch=={VERSION}+cpu", CPU_INDEX),
        ("Linux", "cpu", True, "cpu", f"torch=={VERSION}+cpu", CPU_INDEX),
        ("Linux", "auto", True, "cuda", f"torch=={VERSION}", []),
        ("Linux", "cuda", False, "cuda", f"torch=={VERSION}", []),
        ("Darwin", "auto", False, "pypi", f"torch=={VERSION}", []),
        ("Darwin", "cpu", False, "pypi", f"torch=={VERSION}", []),
        ("Windows", "auto", False, "pypi", f"torch=={VERSION}", []),
        ("Windows", "cpu", True, "pypi", f"torch=={VERSION}", []),
        ("Windows", "cuda", True, "cuda", f"torch=={VERSION}+cu130", CU130_INDEX),
    ],
)
def test_each_machine_gets_its_torch_build_and_install_command(system, choice, nvidia, build, requirement, extra):
    plan = course.plan_torch(choice, VERSION, system, nvidia)
    assert (plan.build, plan.requirement, plan.pip_args) == (build, requirement, extra)
    python = Path(".venv/bin/python")
    assert plan.command(python) == [str(python), "-m", "pip", "install", "--quiet", requirement, *extra]
    assert plan.why


def test_a_cpu_wheel_on_disk_is_used_without_asking_pytorchs_index(tmp_path):
    wheel = tmp_path / f"torch-{VERSION}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    wheel.write_bytes(b"")
    (tmp_path / f"torch-{VERSION}+cpu-cp312-cp312-manylinux_2_28_x86_64.whl").write_bytes(b"")
    plan = course.plan_torch("auto", VERSION, "Linux", False, "cp311", "x86_64", [tmp_path])
    assert (plan.requirement, plan.pip_args) == (f"torch=={VERSION}+cpu", ["--find-links", str(tmp_path)])
    for tag, machine in (("cp313", "x86_64"), ("cp311", "aarch64")):  # another Python, another CPU: the index
        other = course.plan_torch("auto", VERSION, "Linux", False, tag, machine, [tmp_path])
        assert other.pip_args == CPU_INDEX


def test_on_this_machine_the_local_cpu_wheel_is_the_plan():
    """This machine: Linux, no NVIDIA driver, PyTorch's CPU wheel in pip's find-links: what `setup` installs."""
    if not course.find_links() or course.has_nvidia_driver():
        pytest.skip("needs pip find-links with torch's CPU wheel and no NVIDIA driver, as on the course's CI machine")
    plan = course.machine_torch_plan("auto", course.venv_python())
    assert plan.build == "cpu"
    assert plan.pip_args[0] == "--find-links"
    import torch

    assert torch.__version__ == f"{VERSION}+cpu"  # and it is what the .venv these tests run in got


@pytest.mark.parametrize("choice", ["gpu", ""])
def test_an_unknown_torch_choice_says_the_choices(choice):
    with pytest.raises(course.CourseError, match="auto, cpu, cuda"):
        course.plan_torch(choice, VERSION, "Linux", False)


def test_macos_has_no_cuda_and_intel_macs_no_torch():
    with pytest.raises(course.CourseError, match="macOS has no CUDA"):
        course.plan_torch("cuda", VERSION, "Darwin", False)
    with pytest.raises(course.CourseError, match="no build for Intel Macs"):
        course.plan_torch("auto", VERSION, "Darwin", False, "cp311", "x86_64")
    assert course.plan_torch("auto", VERSION, "Darwin", False, "cp311", "arm64").build == "pypi"


@pytest.mark.parametrize(
    ("paths", "on_path", "expected"),
    [
        ({"/proc/driver/nvidia/version"}, None, True),
        ({"/usr/lib/wsl/lib/libcuda.so"}, None, True),  # WSL 2 with the Windows driver
        (set(), "/usr/bin/nvidia-smi", True),
        (set(), None, False),
    ],
)
def test_an_nvidia_driver_is_found_on_linux(paths, on_path, expected):
    found = course.has_nvidia_driver("Linux", exists=lambda p: p in paths, which=lambda _: on_path)
    assert found is expected
    assert course.has_nvidia_driver("Darwin", exists=lambda p: True, which=lambda _: "x") is False


def test_switching_builds_replaces_torch_and_drops_the_cuda_libraries():
    cpu = course.plan_torch("cpu", VERSION, "Linux", False)
    cuda = course.plan_torch("cuda", VERSION, "Linux", True)
    pypi_cuda = {"torch": VERSION, "nvidia-cublas": "13.1", "triton": "3.7.1"}
    assert course.torch_to_replace(pypi_cuda, cpu) == [VERSION, "torch", "nvidia-cublas", "triton"]
    assert course.torch_to_replace({"torch": f"{VERSION}+cpu"}, cuda) == [f"{VERSION}+cpu", "torch"]
    assert course.torch_to_replace({"torch": f"{VERSION}+cpu"}, cpu) == []
    assert course.torch_to_replace(pypi_cuda, cuda) == []
    assert course.torch_to_replace({}, cpu) == []  # nothing installed yet
    windows_cuda = course.plan_torch("cuda", VERSION, "Windows", True)
    assert course.torch_to_replace({"torch": VERSION}, windows_cuda) == [VERSION, "torch"]


@pytest.mark.parametrize("choice", ["auto", "cpu", "cuda"])
def test_lock_installs_setups_torch_build_before_the_project(monkeypatch, tmp_path, choice):
    """`make lock` (course.py lock) chooses PyTorch's build as setup does and installs it first, so the project's
    torch==X is already met and pip never swaps in another build; constraints.txt pins the plain version."""
    (tmp_path / "constraints.txt").write_text("# one\n# two\n# three\ntorch==0.0.1\n", encoding="utf-8")
    chosen: list[str] = []
    commands: list[list[str]] = []

    def plan(wanted: str, python: Path) -> course.TorchPlan:  # setup's choice, on Linux without an NVIDIA driver
        chosen.append(wanted)
        return course.plan_torch(wanted, VERSION, "Linux", False)

    frozen = f"fastapi==9.9.9\ntorch=={VERSION}+cpu\ncourse-api==0.1.0\n"
    monkeypatch.setattr(course, "ROOT", tmp_path)
    monkeypatch.setattr(course, "machine_torch_plan", plan)
    monkeypatch.setattr(course, "run", lambda command, **_: commands.append([str(part) for part in command]))
    monkeypatch.setattr(course.subprocess, "run", lambda *_, **__: subprocess.CompletedProcess([], 0, frozen, ""))
    assert course.main(["--torch", choice, "lock"]) == 0
    assert chosen == [choice]
    installs = [command[4:] for command in commands if command[1:4] == ["-m", "pip", "install"]]
    expected = course.plan_torch(choice, VERSION, "Linux", False)
    assert ("+cpu" in expected.requirement) == (choice != "cuda")
    assert installs[0] == expected.command("python")[4:]  # torch, its build's index, before anything else
    assert installs[1][-2:] == ["-e", f".[{course.EXTRAS}]"]
    assert (tmp_path / "constraints.txt").read_text(encoding="utf-8").splitlines() == [
        "# one",
        "# two",
        "# three",
        "fastapi==9.9.9",
        f"torch=={VERSION}",
    ]


@pytest.mark.parametrize(
    ("system", "advice"),
    [
        ("Windows", "py -3.12 course.py <command>"),
        ("Darwin", "brew install python@3.12"),
        ("Linux", "python3.12 course.py <command>"),
    ],
)
def test_a_python_outside_the_range_is_refused_with_what_to_install(system, advice):
    for version in ((3, 10), (3, 15)):
        with pytest.raises(course.CourseError, match=re.escape(advice)):
            course.check_python(version, "python3", system)
    course.check_python((3, 11), "python3", system)
    course.check_python((3, 14), "python3", system)


def test_the_venv_python_on_each_system():
    assert course.venv_python(Path("v"), windows=True) == Path("v") / "Scripts" / "python.exe"
    assert course.venv_python(Path("v"), windows=False) == Path("v") / "bin" / "python"


def test_options_come_before_the_command_and_the_rest_goes_to_the_tool(monkeypatch):
    monkeypatch.delenv("TORCH", raising=False)
    options, command, args = course.parse(["--torch", "cpu", "test", "-x", "-k", "grade"])
    assert (options["torch"], command, args) == ("cpu", "test", ["-x", "-k", "grade"])
    options, command, args = course.parse(["--torch=cuda", "lab", "--no-browser"])
    assert (options["torch"], command, args) == ("cuda", "lab", ["--no-browser"])
    monkeypatch.setenv("TORCH", "cpu")
    assert course.parse(["setup"])[0]["torch"] == "cpu"
    assert course.parse([])[1] == "help"
    with pytest.raises(course.CourseError, match=r"There is no command 'labb'\. Did you mean 'lab'"):
        course.parse(["labb"])
    with pytest.raises(course.CourseError, match="Did you mean 'serve'"):
        course.parse(["serv"])
    with pytest.raises(course.CourseError, match=r"There is no command 'frobnicate'\.\n\nusage:"):
        course.parse(["frobnicate"])  # nothing near: the whole list
    with pytest.raises(course.CourseError, match="Unknown option --gpu"):
        course.parse(["--gpu", "lab"])


def test_every_make_target_is_a_course_py_command():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = re.findall(r"^([a-z-]+):", makefile, re.M)
    assert set(targets) - {"help"} == set(course.COMMANDS)
    for target in set(targets) - {"help"}:
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
        assert recipe, target
        assert f"$(COURSE) {target}" in recipe.group(1), f"make {target} should call course.py {target}"


def test_the_environment_has_every_extra():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert ",".join(sorted(extras)) == course.EXTRAS


def without_make() -> dict[str, str]:
    """This environment with a PATH on which there is no make (a farm of links to everything else)."""
    farm = Path(os.environ.get("TMPDIR", "/tmp")) / f"course-py-no-make-{os.getpid()}"
    if not farm.exists():
        farm.mkdir()
        for folder in os.environ["PATH"].split(os.pathsep):
            for tool in Path(folder).glob("*") if Path(folder).is_dir() else []:
                target = farm / tool.name
                if tool.name != "make" and not target.exists():
                    target.symlink_to(tool)
    return {**os.environ, "PATH": str(farm)}


@pytest.mark.subprocess
@pytest.mark.skipif(sys.platform == "win32", reason="builds a PATH of symbolic links")
def test_course_py_needs_no_make():
    env = without_make()
    assert shutil.which("make", path=env["PATH"]) is None
    done = subprocess.run(
        [sys.executable, "course.py", "doctor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok  torch build" in done.stdout
    helped = subprocess.run(
        [sys.executable, "course.py", "help"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0
    assert "py -3.12 course.py" in helped.stdout


@pytest.mark.subprocess
def test_a_mistyped_command_says_what_exists():
    done = subprocess.run([sys.executable, "course.py", "tset"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "There is no command 'tset'. Did you mean 'test'?" in done.stderr


def test_clean_removes_what_the_course_generates_and_keeps_the_students_work(monkeypatch, tmp_path, capsys):
    """`make clean` on a copy-like folder: every generated folder goes; the student's worksheets and my_api/ (and
    anything else in exercises/ but exercises/work/), the instructors' folders and the course's own files stay."""
    generated = [*course.GENERATED, "course_api.egg-info", "course_api/__pycache__", "notebooks/work/03/__pycache__"]
    for name in generated:
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
        (tmp_path / name / "file.txt").write_text("generated\n")
    kept = [
        "exercises/my_api/main.py",
        "exercises/my_api/__pycache__/main.cpython-312.pyc",
        "exercises/03_fastapi.ipynb",
        "exercises/notes.txt",
        "notebooks/03_fastapi.ipynb",
        "solutions/03_fastapi.ipynb",
        "course_api/weights/digits_cnn.safetensors",
        "submissions/ada/03_fastapi.ipynb",
        "grades/report.md",
    ]
    for name in kept:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("the student's\n")
    monkeypatch.setattr(course, "ROOT", tmp_path)
    course.cmd_clean([])
    assert [name for name in generated if (tmp_path / name).exists()] == []
    assert [name for name in kept if not (tmp_path / name).is_file()] == []
    printed = capsys.readouterr().out
    assert "notebooks/work/" in printed
    assert "exercises/ (your worksheets and my_api/)" in printed
    assert {"notebooks/work", "exercises/work", "solutions/work", "solutions/my_api"} <= set(course.GENERATED)
    assert not [name for name in course.GENERATED if name.startswith("exercises/") and name != "exercises/work"]


@pytest.mark.subprocess
def test_setup_on_a_ready_environment_says_how_to_activate_it():
    """`make setup` twice: the second run installs nothing, and still prints the reminder the README promises."""
    done = subprocess.run(
        [sys.executable, "course.py", "setup"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    again = subprocess.run(
        [sys.executable, "course.py", "setup"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert "ready and up to date" in again.stdout
    assert "activate it first" in again.stdout
