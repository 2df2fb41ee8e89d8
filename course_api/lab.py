"""JupyterLab settings for the course, installed into the environment by ``make setup``.

They apply to ``make lab``, a plain ``jupyter lab`` in the course's ``.venv`` and single-user servers of a class
JupyterHub alike:

* no "Would you like to receive official Jupyter news?" prompt and no update check: nothing reaches the internet;
* kernels started by the server encrypt their connections (CurveZMQ), so no kernel logs "Kernel is running over
  TCP without encryption", a warning a student can do nothing about.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LAB_OVERRIDES: dict[str, Any] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}
SERVER_CONFIG: dict[str, Any] = {"MappingKernelManager": {"transport_encryption": "auto"}}


def settings_files(prefix: Path) -> dict[Path, dict[str, Any]]:
    """The files :func:`install` writes under the environment ``prefix``, and their content."""
    return {
        prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json": LAB_OVERRIDES,
        prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "course-api.json": SERVER_CONFIG,
    }


def install(prefix: Path | None = None) -> list[Path]:
    """Write the course's JupyterLab and Jupyter Server settings into the environment at ``prefix``."""
    written = []
    for path, content in settings_files(Path(prefix or sys.prefix)).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written in install():
        print(f"wrote {written}")
