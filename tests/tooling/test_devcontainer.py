"""The course in the cloud, checked offline: GitHub Codespaces (.devcontainer/devcontainer.json) and Binder (binder/).

Neither service can be reached from a test, so the files are checked for what each one reads: the dev container
against the parts of the spec's JSON Schema it uses (containers.dev, devContainer.base.schema.json), Binder's
folder for what repo2docker does with it (requirements.txt with pip from the repository's root, then postBuild).
"""

from __future__ import annotations

import json
import os
import re
import tomllib

import jsonschema
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from course_api.workbook.doctor import KERNEL_NAME, SUPPORTED_PYTHON
from helpers import ROOT

DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"
BINDER = ROOT / "binder"

_COMMAND = {  # a lifecycle command: a shell line, an argv list, or named commands run in parallel
    "type": ["string", "array", "object"],
    "items": {"type": "string"},
    "additionalProperties": {"type": ["string", "array"], "items": {"type": "string"}},
}
_SIZE = {"type": "string", "pattern": r"^\d+([tgmk]b)?$"}
_EXTENSION_ID = r"^[a-z0-9A-Z][a-z0-9A-Z-]*\.[a-z0-9A-Z][a-z0-9A-Z-]*(@.+)?$"  # publisher.name[@version]
_PORT_ATTRIBUTES = {
    "type": "object",
    "properties": {
        "label": {"type": "string"},
        "onAutoForward": {
            "enum": ["notify", "openBrowser", "openBrowserOnce", "openPreview", "silent", "ignore"],
        },
        "protocol": {"enum": ["http", "https"]},
        "elevateIfNeeded": {"type": "boolean"},
        "requireLocalPort": {"type": "boolean"},
    },
}
# The properties this devcontainer.json uses, as the dev container spec's base schema defines them
# (https://containers.dev/implementors/json_schema/, and VS Code's devContainer.vscode.schema.json for
# customizations.vscode); the file may use no others.
DEVCONTAINER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2019-09/schema",
    "type": "object",
    "required": ["image"],
    "properties": {
        "name": {"type": "string"},
        "image": {"type": "string"},
        "postCreateCommand": _COMMAND,
        "forwardPorts": {
            "type": "array",
            "items": {
                "oneOf": [
                    {"type": "integer", "minimum": 0, "maximum": 65535},
                    {"type": "string", "pattern": r"^([a-z0-9-]+):(\d{1,5})$"},
                ]
            },
        },
        "portsAttributes": {
            "type": "object",
            "patternProperties": {r"(^\d+(-\d+)?$)|(.+)": _PORT_ATTRIBUTES},
            "additionalProperties": False,
        },
        "hostRequirements": {
            "type": "object",
            "properties": {
                "cpus": {"type": "integer", "minimum": 1},
                "memory": _SIZE,
                "storage": _SIZE,
                "gpu": {
                    "oneOf": [
                        {"type": ["boolean", "string"], "enum": [True, False, "optional"]},
                        {
                            "type": "object",
                            "properties": {"cores": {"type": "integer", "minimum": 1}, "memory": _SIZE},
                            "additionalProperties": False,
                        },
                    ]
                },
            },
            "unevaluatedProperties": False,
        },
        "customizations": {
            "type": "object",
            "properties": {
                "vscode": {
                    "type": "object",
                    "properties": {
                        "extensions": {"type": "array", "items": {"type": "string", "pattern": _EXTENSION_ID}},
                        "settings": {"type": "object"},
                    },
                }
            },
        },
    },
    "additionalProperties": False,
}


def devcontainer() -> dict:
    return json.loads(DEVCONTAINER.read_text(encoding="utf-8"))  # plain JSON: no comments, no trailing commas


def pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pairs = (line.split("#")[0].strip().partition("==") for line in lines)
    return {canonicalize_name(name): version for name, _, version in pairs if version}


def binder_requirements() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def binder_packages() -> dict[str, Requirement]:
    found: dict[str, Requirement] = {}
    for line in binder_requirements():
        if not line.startswith("-"):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def lab_extra() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(line).name) for line in project["optional-dependencies"]["lab"]}


# ------------------------------------------------------------------------------------- Codespaces
def test_devcontainer_is_valid_for_the_spec():
    validator = jsonschema.Draft201909Validator(DEVCONTAINER_SCHEMA)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(devcontainer())
    ]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    "broken",
    [
        {"forwardPorts": ["8000"]},
        {"forwardPorts": [70000]},
        {"hostRequirements": {"gpu": "yes"}},
        {"hostRequirements": {"gpus": 1}},
        {"portsAttributes": {"8000": {"onAutoForward": "open"}}},
        {"postCreateCommand": 1},
        {"image": None},
        {"imagee": "typo"},
        {"customizations": {"vscode": {"extensions": ["python"]}}},
    ],
    ids=repr,
)
def test_the_schema_catches_mistakes(broken):
    """The embedded schema is not a formality: each of these mistakes breaks it."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**devcontainer(), **broken}, DEVCONTAINER_SCHEMA, jsonschema.Draft201909Validator)


def test_devcontainer_sets_up_the_course_with_a_supported_python():
    config = devcontainer()
    image, _, tag = config["image"].partition(":")
    assert image == "mcr.microsoft.com/devcontainers/python"
    match = re.fullmatch(r"\d+(?:\.\d+)*-(\d+)\.(\d+)-bookworm", tag)  # 1-3.11-bookworm: image 1.x, Python 3.11
    assert match, f"pin the image's tag to an image version, a Python and a Debian release, not {tag!r}"
    low, high = SUPPORTED_PYTHON
    assert low <= (int(match[1]), int(match[2])) <= high
    assert config["postCreateCommand"] == "make setup"
    assert config["hostRequirements"]["gpu"] == "optional"  # a GPU is used when there is one, never needed


def test_devcontainer_forwards_the_server_and_jupyterlab():
    config = devcontainer()
    assert 8000 in config["forwardPorts"]
    assert 8888 in config["forwardPorts"]
    labels = {port: attributes.get("label") for port, attributes in config["portsAttributes"].items()}
    assert labels == {"8000": "course server", "8888": "JupyterLab"}


def test_devcontainer_installs_the_python_and_jupyter_extensions():
    vscode = devcontainer()["customizations"]["vscode"]
    assert {"ms-python.python", "ms-toolsai.jupyter"} <= set(vscode["extensions"])
    assert vscode["settings"]["python.defaultInterpreterPath"].endswith("/.venv/bin/python")  # what make setup makes


# ------------------------------------------------------------------------------------------ Binder
def test_binder_folder_has_what_repo2docker_reads():
    for name in ("requirements.txt", "postBuild", "runtime.txt", "README.md"):
        assert (BINDER / name).is_file(), name
    assert not (BINDER / "environment.yml").exists()  # repo2docker would take it instead of requirements.txt


def test_binder_python_is_one_the_course_supports():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+)\.(\d+)", runtime)
    assert match, runtime
    version = (int(match[1]), int(match[2]))
    low, high = SUPPORTED_PYTHON
    assert low <= version <= high
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"{version[0]}.{version[1]}.0")


def test_binder_installs_cpu_torch_at_the_pinned_version():
    lines = binder_requirements()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    torch = binder_packages()["torch"]
    assert str(torch.specifier) == f"=={pins()['torch']}"  # 2.13.0 matches the index's 2.13.0+cpu too


def test_binder_installs_the_course_within_constraints_txt():
    lines = binder_requirements()
    assert "-c ../constraints.txt" in lines  # pip reads a nested file's path from the requirements file's folder
    assert (BINDER / ".." / "constraints.txt").resolve() == ROOT / "constraints.txt"
    assert "-e ." in lines  # repo2docker runs pip in the repository's root
    locked = pins()
    for name, requirement in binder_packages().items():
        assert name in locked, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(locked[name]), name


def test_binder_has_what_the_notebooks_use_but_keeps_its_own_jupyter():
    packages = set(binder_packages())
    own = {"jupyterlab", "jupyterhub"}  # Binder's single-user server must match its hub: left as Binder has it
    missing = lab_extra() - own - packages
    assert not missing, f"the lab extra's {sorted(missing)} are not installed on Binder"
    assert not own & packages


def test_binder_postbuild_registers_the_kernel_and_the_lab_settings():
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "chmod +x binder/postBuild (and commit the mode)"
    text = post_build.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert f"python -m ipykernel install --sys-prefix --name {KERNEL_NAME} " in text
    assert "\npython -m course_api.workbook.lab\n" in text
    assert "python -m course_api.workbook.lab trust notebooks exercises solutions" in text


def test_notebooks_ask_for_the_kernel_that_binder_registers():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        kernelspec = json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]
        assert kernelspec["name"] == KERNEL_NAME, path.name


def test_binder_readme_opens_notebook_00():
    text = (BINDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"\?urlpath=lab/tree/(\S+\.ipynb)", text)
    assert match, "the Binder link should open a notebook"
    assert (ROOT / match[1]).is_file()
    assert match[1] == "notebooks/00_setup.ipynb"
