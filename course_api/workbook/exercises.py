"""Build ``exercises/`` from ``solutions/``: one source for the worked answers and the worksheets.

In a solution notebook, each answer sits between marker lines::

    ### BEGIN SOLUTION
    ### HINT: requests.get takes params= for the query string
    item_response = requests.get(f"{course_url}/items/5", params={"q": "somequery"}, timeout=10)
    ### END SOLUTION

:func:`build_exercise` replaces each marked block with a stub that raises ``NotImplementedError`` with the
hint (same indentation, so blocks inside functions work), clears outputs and execution counts, and leaves
everything else as it is. In Markdown cells the block becomes "*Your answer here.*".
"""

from __future__ import annotations

import copy
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_api.workbook.checks.registry import WIDTH  # stubs stay within a cell's width, as messages do

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT = "### HINT:"
DEFAULT_HINT = "Write your answer here, then run the check cell below."


class MarkerError(ValueError):
    """Unbalanced or nested solution markers; the message names the notebook and cell."""


def raise_lines(indent: str, hint: str, width: int = WIDTH) -> list[str]:
    """``raise NotImplementedError(hint)`` at ``indent``, on one line if it fits in ``width`` columns, else with the
    hint cut at word boundaries into strings that Python joins, one per line, so that nothing runs past the cell's
    edge."""
    line = f"{indent}raise NotImplementedError({hint!r})"
    if len(line) <= width:
        return [line]
    inner = indent + "    "
    chunks = textwrap.wrap(hint, width=width - len(inner) - 3, drop_whitespace=False, break_long_words=False)
    return [f"{indent}raise NotImplementedError(", *(f"{inner}{chunk!r}" for chunk in chunks), f"{indent})"]


def stub_code(source: str, where: str = "cell") -> str:
    """``source`` with every marked solution block replaced by a ``NotImplementedError`` stub."""
    out: list[str] = []
    inside = False
    indent = ""
    hints: list[str] = []
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise MarkerError(f"{where}, line {number}: {BEGIN} inside another solution block.")
            inside, indent, hints = True, line[: len(line) - len(line.lstrip())], []
        elif stripped.startswith(END):
            if not inside:
                raise MarkerError(f"{where}, line {number}: {END} without a {BEGIN} before it.")
            hint = " ".join(hints) or DEFAULT_HINT
            out.append(f"{indent}# YOUR CODE HERE")
            out.extend(raise_lines(indent, hint))
            inside = False
        elif inside:
            if stripped.startswith(HINT):
                hints.append(stripped[len(HINT) :].strip())
        else:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: {BEGIN} is never closed by {END}.")
    return "\n".join(out)


def stub_markdown(source: str, where: str = "cell") -> str:
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise MarkerError(f"{where}: {BEGIN} inside another solution block.")
            inside = True
        elif stripped.startswith(END):
            if not inside:
                raise MarkerError(f"{where}: {END} without a {BEGIN} before it.")
            out.append("*Your answer here.*")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: {BEGIN} is never closed by {END}.")
    return "\n".join(out)


def count_solutions(nb: nbformat.NotebookNode) -> int:
    return sum(line.strip().startswith(BEGIN) for cell in nb.cells for line in cell.source.splitlines())


def stub_magic_cell(source: str, where: str = "cell") -> str:
    """A cell that writes a file (``%%writefile my_api/main.py``) with its code as the answer: the stub leaves the
    magic line out, so that running the stub never overwrites the file (one the student may have written in the
    editor); its first comment says what the cell's first line becomes."""
    magic, _, rest = source.partition("\n")
    stub = stub_code(rest, where)
    return stub.replace("# YOUR CODE HERE", f"# YOUR CODE HERE. Make the first line of this cell: {magic}", 1)


def build_exercise(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The worksheet for ``solution``: stubs instead of answers, no outputs, nothing else changed."""
    nb = copy.deepcopy(solution)
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type == "code":
            magic = cell.source.startswith("%%") and BEGIN in cell.source
            cell.source = stub_magic_cell(cell.source, where) if magic else stub_code(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown":
            cell.source = stub_markdown(cell.source, where)
    nb.metadata.pop("papermill", None)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


@dataclass(frozen=True)
class Change:
    name: str
    status: str  # "written", "unchanged", "stale", "missing", "orphan", "removed"

    def __str__(self) -> str:
        return f"{self.status:>9}  exercises/{self.name}"


def build_all(solutions: Path, exercises: Path, *, check: bool = False) -> list[Change]:
    """Write (or with ``check``, only compare) ``exercises/NN_*.ipynb`` for every ``solutions/NN_*.ipynb``."""
    changes: list[Change] = []
    wanted = set()
    for path in sorted(solutions.glob("[0-9][0-9]_*.ipynb")):
        wanted.add(path.name)
        text = render(build_exercise(nbformat.read(path, as_version=4), path.name))
        target = exercises / path.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            changes.append(Change(path.name, "unchanged"))
        elif check:
            changes.append(Change(path.name, "missing" if current is None else "stale"))
        else:
            exercises.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")  # the same bytes on Windows
            changes.append(Change(path.name, "written"))
    for path in sorted(exercises.glob("[0-9][0-9]_*.ipynb")) if exercises.is_dir() else []:
        if path.name not in wanted:
            if check:
                changes.append(Change(path.name, "orphan"))
            else:
                path.unlink()
                changes.append(Change(path.name, "removed"))
    return changes


def problems(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.status in ("stale", "missing", "orphan")]
