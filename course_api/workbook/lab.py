"""JupyterLab settings for the course, installed into the environment by ``make setup``.

They apply to ``make lab``, a plain ``jupyter lab`` in the course's ``.venv`` and single-user servers of a class
JupyterHub alike:

* no "Would you like to receive official Jupyter news?" prompt, no update check and no extension search on PyPI:
  nothing reaches the internet;
* kernels started by the server encrypt their connections (CurveZMQ), so no kernel logs "Kernel is running over
  TCP without encryption", a warning a student can do nothing about;
* the websocket ping timeout equals its interval (Jupyter Server's default of three intervals makes Tornado warn).

``make lab`` also marks the course's own notebooks as trusted (:func:`trust`), so opening one logs no "is not
trusted" warning.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LAB_OVERRIDES: dict[str, Any] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}
SERVER_CONFIG: dict[str, Any] = {
    "MappingKernelManager": {"transport_encryption": "auto"},
    "LabApp": {"extension_manager": "readonly", "news_url": None},  # no extension search on PyPI, no news feed
    "ServerApp": {"tornado_settings": {"ws_ping_timeout": 30000}},
}


def settings_files(prefix: Path) -> dict[Path, dict[str, Any]]:
    """The files :func:`install` writes (or updates) under the environment ``prefix``, and what goes in them."""
    return {
        prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json": LAB_OVERRIDES,
        prefix / "etc" / "jupyter" / "jupyter_server_config.json": SERVER_CONFIG,
    }


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        merged[key] = _merge(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def install_settings(prefix: Path | None = None) -> list[Path]:
    """Write the course's settings into the environment at ``prefix``, keeping any other settings there."""
    written = []
    for path, content in settings_files(Path(prefix or sys.prefix)).items():
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_merge(old, content), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def trust(folders: list[Path]) -> list[Path]:
    """Sign the notebooks in ``folders`` that are not trusted yet (the course's own notebooks)."""
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = NotebookNotary()
    signed = []
    for path in sorted(p for folder in folders for p in Path(folder).glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        if not notary.check_signature(notebook):
            notary.sign(notebook)
            signed.append(path)
    return signed


if __name__ == "__main__":
    if sys.argv[1:2] == ["trust"]:
        trust([Path(folder) for folder in sys.argv[2:]])
    else:
        for written in install_settings():
            print(f"wrote {written}")
