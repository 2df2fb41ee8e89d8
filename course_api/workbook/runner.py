"""``course-api run-notebooks``: the instructor's pre-class run of every walkthrough and worked solution.

Executes the notebooks in course order with papermill, prints progress, keeps the executed copies, and
writes a summary (notebook, status, seconds, device) as Markdown and JSON. Exits non-zero naming the
notebook and cell that failed.
"""

from __future__ import annotations

import ast
import json
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_FOLDERS = ("notebooks", "solutions")
KERNEL = "course-api"


@dataclass
class Result:
    notebook: str
    status: str  # "ok" or "failed"
    seconds: float
    device: str
    output: str
    error: str = ""
    cell: int | None = None


@dataclass
class Summary:
    started: str
    device: str
    parameters: dict[str, Any]
    python: str = field(default_factory=platform.python_version)
    results: list[Result] = field(default_factory=list)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status != "ok"]

    def to_json(self) -> str:
        data = asdict(self)
        data["ok"] = not self.failed
        data["total_seconds"] = round(sum(r.seconds for r in self.results), 1)
        return json.dumps(data, indent=2)

    def to_markdown(self) -> str:
        verdict = "all notebooks ran" if not self.failed else f"{len(self.failed)} notebook(s) FAILED"
        lines = [
            f"# Notebook run: {verdict}",
            "",
            f"Started {self.started} on device **{self.device}**, Python {self.python}; "
            f"total {sum(r.seconds for r in self.results):.1f} s.",
            "",
            "| notebook | status | seconds | device |",
            "|---|---|---:|---|",
        ]
        for r in self.results:
            status = "ok" if r.status == "ok" else f"**FAILED** in cell {r.cell}: {r.error}"
            lines.append(f"| `{r.notebook}` | {status} | {r.seconds:.1f} | {r.device} |")
        return "\n".join(lines) + "\n"


def parse_parameter(text: str) -> tuple[str, Any]:
    """``name=value``: the value as a Python literal (``None``, ``3``, ``'cpu'``) or else a plain string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.isidentifier():
        raise ValueError(f"-p expects name=value, got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name, value


def discover(root: Path, folders: Sequence[str] = DEFAULT_FOLDERS) -> list[Path]:
    """Walkthroughs and solutions in course order: 00 walkthrough, 01 walkthrough, 01 solution, ..."""
    found = [p for folder in folders for p in sorted((root / folder).glob("[0-9][0-9]_*.ipynb"))]
    return sorted(found, key=lambda p: (p.name[:2], folders.index(p.parent.name) if p.parent.name in folders else 99))


@contextmanager
def kernel_manager(name: str = KERNEL) -> Iterator[Any]:
    """A manager for the course's kernel that encrypts its connections (CurveZMQ), shut down afterwards: without
    encryption every kernel logs "Kernel is running over TCP without encryption", a warning nobody can act on."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name=name, transport_encryption="auto")
    try:
        yield manager
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)


def run_notebooks(
    paths: Sequence[Path],
    output: Path,
    *,
    device: str | None = None,
    parameters: dict[str, Any] | None = None,
    root: Path | None = None,
    echo: Callable[[str], None] = print,
    kernel: str = KERNEL,
) -> Summary:
    import papermill

    from course_api.server.device import resolve_device

    chosen = str(resolve_device(device).device)
    params = {"device": device, **(parameters or {})}
    summary = Summary(datetime.now(UTC).isoformat(timespec="seconds"), chosen, params)
    output.mkdir(parents=True, exist_ok=True)
    for number, path in enumerate(paths, start=1):
        name = str(path.relative_to(root)) if root and path.is_relative_to(root) else path.name
        target = output / name
        target.parent.mkdir(parents=True, exist_ok=True)
        echo(f"[{number}/{len(paths)}] {name} ...")
        started = time.perf_counter()
        result = Result(name, "ok", 0.0, chosen, str(target))
        try:
            with kernel_manager(kernel) as km:
                papermill.execute_notebook(
                    str(path),
                    str(target),
                    parameters=params,
                    cwd=str(path.parent),
                    kernel_name=kernel,
                    progress_bar=False,
                    km=km,
                )
        except papermill.PapermillExecutionError as exc:
            result.status, result.cell = "failed", exc.exec_count
            result.error = f"{exc.ename}: {exc.evalue}"
        except Exception as exc:  # a kernel that dies, a missing kernel: report it, go on
            result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        result.seconds = round(time.perf_counter() - started, 1)
        summary.results.append(result)
        mark = "ok" if result.status == "ok" else f"FAILED (cell {result.cell}: {result.error})"
        echo(f"[{number}/{len(paths)}] {name}: {mark} in {result.seconds:.1f} s")
    (output / "summary.json").write_text(summary.to_json(), encoding="utf-8")
    (output / "summary.md").write_text(summary.to_markdown(), encoding="utf-8")
    return summary
