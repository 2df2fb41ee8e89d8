"""One worksheet in one kernel: start it in a temporary copy of the student's folder, run the planned cells with
the time and memory limits, ask the probe for the course's checks after the cells that matter, and leave
nothing behind (no process, port or temporary file).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_api.workbook.checks.registry import Outcome
from course_api.workbook.grading.cleanup import kill_marked, remove_tree
from course_api.workbook.grading.probe import ExerciseResult
from course_api.workbook.grading.submissions import Cell, Note, NoteKind, Worksheet

RUN_MARKER = "COURSE_API_GRADER_RUN"
MAX_COPIED_FILE = 50 * 1024 * 1024
CHECK_SECONDS = 30.0  # one call of the course's checks, at most
# Which of two outcomes of an exercise counts: the higher.
RANK = {Outcome.DONE: 3, Outcome.TAMPERED: 2, Outcome.FAILING: 1, Outcome.NOT_DONE: 0, Outcome.ERROR: 0}


@dataclass(frozen=True)
class Limits:
    timeout: float = 120.0  # seconds for a worksheet's cells and checks
    memory_mb: int = 2048  # resident memory of the kernel and what it starts
    output_chars: int = 100_000  # output the kernel may send per stream
    startup: float = 60.0  # seconds to start a kernel (not counted in timeout)


class KernelGone(Exception):
    """The kernel stopped: it crashed, killed itself, or was stopped for its memory."""


class TimeLimit(Exception):
    """The worksheet's time ran out."""


@dataclass
class SheetResult:
    student: str
    file: str
    lesson: str | None
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    seconds: float = 0.0
    isolation: str = ""

    def record(self, exercise_id: str, result: ExerciseResult) -> None:
        """Keep the best result so far: a pass counts, a later failure of the same answer does not undo it."""
        old = self.exercises.get(exercise_id)
        if old is None or (old.outcome is not Outcome.DONE and RANK[result.outcome] >= RANK[old.outcome]):
            self.exercises[exercise_id] = result


def needed_names(exercise_ids: list[str]) -> dict[str, tuple[str, ...]]:
    from course_api.workbook.checks.registry import EXERCISES

    return {exercise_id: EXERCISES[exercise_id].needs + EXERCISES[exercise_id].files for exercise_id in exercise_ids}


def mentions(source: str, names: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\b", source) for name in names)


def copy_folder(source: Path, target: Path) -> list[str]:
    """Copy the student's folder (without other students' or checkpoint files); files over 50 MB are skipped."""
    skipped: list[str] = []

    def ignore(folder: str, names: list[str]) -> set[str]:
        left_out = {n for n in names if n == ".ipynb_checkpoints"}
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink() and path.stat().st_size > MAX_COPIED_FILE:
                left_out.add(name)
                skipped.append(name)
        return left_out

    shutil.copytree(source, target, symlinks=True, ignore=ignore)
    return skipped


def kernel_env(tmp: Path, marker: str, limits: Limits) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            RUN_MARKER: marker,
            "COURSE_API_GRADER_MEMORY_MB": str(limits.memory_mb),
            "PYTHONHASHSEED": "0",
            "TMPDIR": str(tmp),
            "TEMP": str(tmp),
            "TMP": str(tmp),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
    )
    env.pop("JPY_PARENT_PID", None)
    return env


class KernelRun:
    """A sandboxed kernel for one worksheet (:mod:`course_api.workbook.grading.sandbox`), driven over ZMQ."""

    def __init__(self, folder: Path, limits: Limits) -> None:
        self.limits = limits
        self.root = Path(tempfile.mkdtemp(prefix="course-api-grade-"))
        self.work = self.root / "work"
        self.tmp = self.root / "tmp"
        self.marker = secrets.token_hex(8)
        self.probe = f"_course_grader_{self.marker}"
        self.skipped = copy_folder(folder, self.work)
        self.tmp.mkdir()
        self.km: Any = None
        self.kc: Any = None
        self.stopped_for = ""
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> str:
        """Start the kernel and install the probe; what isolation the kernel got, in words."""
        from jupyter_client.manager import AsyncKernelManager

        from course_api.workbook.grading.kernelspec import GraderSpecs

        posix = os.name == "posix"
        self.km = AsyncKernelManager(
            kernel_name="course-api-grader",
            kernel_spec_manager=GraderSpecs(),
            transport="ipc" if posix else "tcp",
            connection_file=str(self.root / "kernel.json"),
            **({"ip": str(self.root / "zmq")} if posix else {}),
        )
        log = (self.root / "kernel.log").open("wb")
        env = kernel_env(self.tmp, self.marker, self.limits)
        await self.km.start_kernel(cwd=str(self.work), env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.kc = self.km.client()
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=self.limits.startup)
        self._tasks = [asyncio.create_task(self._drain()), asyncio.create_task(self._watch_memory())]
        install = (
            f"__import__('course_api.workbook.grading.probe').workbook.grading.probe.install_probe({self.probe!r}, "
        )
        install += f"{self.limits.output_chars}, get_ipython().user_ns)"
        isolation = "__import__('os').environ.get('COURSE_API_GRADER_ISOLATION', '')"
        reply = await self.execute("", self.limits.startup, expressions={"ok": install, "isolation": isolation})
        values = reply.get("user_expressions", {})
        if values.get("ok", {}).get("status") != "ok":
            raise RuntimeError(f"the grader's probe did not start: {values.get('ok')}")
        return str(literal(values["isolation"]))

    async def _drain(self) -> None:
        """Read and drop everything the kernel publishes (its output is not graded, and may be huge)."""
        while True:
            with contextlib.suppress(queue.Empty):
                await self.kc.get_iopub_msg(timeout=1)

    async def _watch_memory(self) -> None:
        import psutil

        limit = self.limits.memory_mb * 1024 * 1024
        while True:
            await asyncio.sleep(0.25)
            with contextlib.suppress(psutil.Error):
                kernel = psutil.Process(self.km.provisioner.pid)
                used = sum(p.memory_info().rss for p in [kernel, *kernel.children(recursive=True)])
                if used > limit:
                    self.stopped_for = f"it used more than {self.limits.memory_mb} MiB of memory"
                    await self.km.provisioner.kill()

    async def execute(self, code: str, timeout: float, expressions: dict[str, str] | None = None) -> dict[str, Any]:
        """Run ``code``; the reply's content. :class:`TimeLimit` after ``timeout`` s, :class:`KernelGone`."""
        silent = expressions is not None
        # stop_on_error=False: after a cell raises, ipykernel would otherwise abort the requests that reach it in
        # the next moments (the check after that cell, the next cell), depending on timing.
        msg_id = self.kc.execute(
            code,
            silent=silent,
            store_history=not silent,
            user_expressions=expressions or {},
            allow_stdin=False,
            stop_on_error=False,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                msg = await self.kc.get_shell_msg(timeout=min(0.5, max(deadline - loop.time(), 0.01)))
            except queue.Empty:
                if not await self.km.is_alive():
                    raise KernelGone(self.stopped_for or "it crashed, or the notebook ended it") from None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return dict(msg["content"])
        raise TimeLimit

    async def interrupt(self) -> bool:
        """Interrupt what runs now; whether the kernel answered within 5 seconds."""
        with contextlib.suppress(Exception):
            await self.km.interrupt_kernel()
            await self.execute("", 5.0, expressions={})
            return True
        return False

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.kc is not None:
            self.kc.stop_channels()
        if self.km is not None:
            with contextlib.suppress(Exception):
                await self.km.shutdown_kernel(now=True)  # also removes the connection file and sockets
        kill_marked(RUN_MARKER, self.marker)
        remove_tree(self.root)


def literal(value: dict[str, Any]) -> Any:
    """A user expression's value, from its text/plain repr."""
    return ast.literal_eval(value.get("data", {}).get("text/plain", "''"))


async def grade_exercises(run: KernelRun, result: SheetResult, exercise_ids: list[str], timeout: float) -> None:
    """Run the course's checks of ``exercise_ids`` in the kernel and keep the outcomes."""
    if not exercise_ids:
        return
    call = f"{run.probe}({exercise_ids!r})"
    try:
        reply = await run.execute("", min(timeout, CHECK_SECONDS), expressions={"report": call})
    except KernelGone as exc:
        raise KernelGone(f"The kernel stopped while the course's checks ran: {exc}") from None
    except TimeLimit:
        await run.interrupt()
        stuck = "The check did not finish in time: does your code wait forever, or loop without end?"
        for exercise_id in exercise_ids:
            result.record(exercise_id, ExerciseResult(Outcome.FAILING, stuck))
        return
    value = reply.get("user_expressions", {}).get("report", {})
    if value.get("status") != "ok":
        problem = f"{value.get('ename', 'Error')}: {value.get('evalue', '')}".strip()
        trouble = ExerciseResult(Outcome.FAILING, f"The grader could not run the check: {problem}")
        for exercise_id in exercise_ids:
            result.record(exercise_id, trouble)
        return
    for exercise_id, found in json.loads(literal(value)).items():
        result.record(exercise_id, ExerciseResult.from_dict(found))


def ordinal(number: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd": how a student counts cells from the top."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def where_is(cell: Cell) -> str:
    """The cell, as a student finds it: its place among the notebook's code cells."""
    return f"the {ordinal(cell.number)} code cell" if cell.origin == "student" else "a restored setup cell"


def describe_error(cell: Cell, content: dict[str, Any], limits: Limits) -> str | None:
    """A note for a cell that raised, unless it is an answer stub nobody filled in."""
    ename, evalue = content.get("ename", "Error"), str(content.get("evalue", ""))
    if ename == "NotImplementedError" and "raise NotImplementedError" in cell.source:
        return None
    where = where_is(cell).capitalize()
    note = f"{where} raised {ename}" + (f": {evalue[:300]}" if evalue else "")
    if ename == "MemoryError":
        note += f" (a graded worksheet may use {limits.memory_mb} MiB)"
    return note


async def run_cells(run: KernelRun, sheet: Worksheet, result: SheetResult, deadline: float) -> bool:
    """Run the planned cells, checking the exercises a cell mentions after it; False when time or kernel ran out."""
    loop = asyncio.get_running_loop()
    needs = needed_names(lesson_exercises(sheet.lesson))
    for cell in sheet.cells:
        try:
            content = await run.execute(cell.source, deadline - loop.time())
        except KernelGone as exc:
            stopped = f"The kernel stopped while it ran {where_is(cell)}: {exc}. The cells after it were not run"
            raise KernelGone(stopped) from None
        except TimeLimit:
            await run.interrupt()
            text = (
                f"{where_is(cell).capitalize()} was still running when the worksheet's time limit "
                f"({run.limits.timeout:g} s) "
                "ran out: it was stopped, and the cells after it were not run. Does it loop without end?"
            )
            result.notes.append(Note(text, NoteKind.STOPPED))
            return False
        if content.get("status") == "error":
            note = describe_error(cell, content, run.limits)
            if note and len(result.notes) < 12:
                result.notes.append(Note(note, NoteKind.CELL_ERROR))
        elif content.get("status") != "ok":  # "aborted": never expected with stop_on_error=False, but say so
            text = f"The kernel did not run {where_is(cell)} ({content.get('status')})."
            result.notes.append(Note(text, NoteKind.CELL_ERROR))
        touched = [e for e, names in needs.items() if mentions(cell.source, names) and not passed(result, e)]
        await grade_exercises(run, result, touched, deadline - loop.time())
    return True


def passed(result: SheetResult, exercise_id: str) -> bool:
    found = result.exercises.get(exercise_id)
    return found is not None and found.outcome is Outcome.DONE


def lesson_exercises(lesson: str | None) -> list[str]:
    from course_api.workbook.checks.registry import EXERCISES

    return sorted(e for e, spec in EXERCISES.items() if spec.lesson == lesson)


async def grade_worksheet(sheet: Worksheet, limits: Limits) -> SheetResult:
    """Grade one planned worksheet: every exercise of its lesson gets an outcome, whatever happens."""
    result = SheetResult(sheet.student, sheet.name, sheet.lesson, notes=list(sheet.notes))
    loop = asyncio.get_running_loop()
    started = loop.time()
    if sheet.lesson is not None and sheet.cells:
        run = KernelRun(sheet.path.parent, limits)
        result.notes += [Note(f"{name} (over 50 MB) was not copied for grading.") for name in run.skipped]
        try:
            result.isolation = await run.start()
            deadline = loop.time() + limits.timeout
            if await run_cells(run, sheet, result, deadline):
                left = [e for e in lesson_exercises(sheet.lesson) if not passed(result, e)]
                await grade_exercises(run, result, left, max(deadline - loop.time(), CHECK_SECONDS))
        except KernelGone as exc:
            result.notes.append(Note(f"{exc}.", NoteKind.STOPPED))
        except Exception as exc:  # the grader's own trouble (no kernel, ...): reported, never a crash
            trouble = f"The grader could not run this worksheet: {type(exc).__name__}: {exc}"
            result.notes.append(Note(trouble, NoteKind.GRADER))
        finally:
            await run.stop()
    finish(result)
    result.seconds = round(loop.time() - started, 2)
    return result


def finish(result: SheetResult) -> None:
    """Every exercise of the lesson gets an outcome, with the reason when it was never checked."""
    reason = result.notes[-1] if result.notes else Note("the worksheet has no code to run.")
    message = reason.text if reason.kind is NoteKind.NOT_GRADED else f"Not checked. {reason.text}"
    for exercise_id in lesson_exercises(result.lesson):
        if exercise_id not in result.exercises:
            result.exercises[exercise_id] = ExerciseResult(Outcome.NOT_DONE, message)
    result.exercises = dict(sorted(result.exercises.items()))
