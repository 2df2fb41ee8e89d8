"""``course-api grade`` on a class of good, partial and broken submissions, in real sandboxed kernels.

Every case of the issue is here: moved, copied, split and deleted cells; a redefined ``check``; invalid JSON; a
cell that loops forever, one that prints 100 MB, one that kills its kernel, one that starts servers and threads,
one that allocates too much memory, one that reaches for the internet; another course's notebook; a student's own
project (``my_api/``) written in the editor, and one that does not start, which costs only its exercise. Each gets
its expected points, with the reason in its feedback, and nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from benchmarks.class_submissions import (
    SERVERS,
    answered,
    build_corpus,
    insert_after,
    lesson_ids,
    lesson_points,
    points,
    write,
)
from course_api.system.ports import is_listening
from course_api.workbook.checks.registry import NOTEBOOKS
from course_api.workbook.grading import Limits, grade_class
from course_api.workbook.grading.cleanup import marked_processes
from helpers import BIN, write_project

pytestmark = [pytest.mark.kernel, pytest.mark.slow, pytest.mark.timeout(300)]

NAME03 = f"{NOTEBOOKS['03']}.ipynb"
LIMITS = Limits(timeout=20, memory_mb=1024)
NETWORK = 'import urllib.request\nurllib.request.urlopen("http://example.com", timeout=3)'
HOG = 'hog = b"x" * (2 * 1024**3)'
LISTEN = psutil.CONN_LISTEN


# ------------------------------------------------------------------------------ what this test started
# Other programs may run beside the tests (a student's JupyterLab, another `make test`): the checks below judge
# only what a test's own grading started. Every process the grader starts inherits a variable with a token of
# the test, and its temporary folders go to a folder of the test; ports count when one of those processes
# listened on them during the run.
OWN_RUN = "COURSE_API_TEST_GRADING_RUN"


class OwnRun:
    """A grading run of this test: its token, its temporary folder, and the ports its processes listened on."""

    def __init__(self, folder: Path) -> None:
        self.token = secrets.token_hex(8)
        self.folder = folder
        self.ports: set[int] = set()
        self.seen: set[int] = set()  # the pids of its processes seen while it ran
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def processes(self) -> list[psutil.Process]:
        return marked_processes(OWN_RUN, self.token)

    def _watch(self) -> None:
        while not self._done.wait(0.2):
            for process in self.processes():
                self.seen.add(process.pid)
                with contextlib.suppress(psutil.Error):
                    self.ports |= {c.laddr.port for c in process.net_connections("inet") if c.status == LISTEN}

    @contextlib.contextmanager
    def grading(self) -> Iterator[None]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(OWN_RUN, self.token)
            patch.setattr(tempfile, "tempdir", str(self.folder))
            self._watcher.start()
            try:
                yield
            finally:
                self._done.set()
                self._watcher.join()

    def leftovers(self) -> tuple[list[str], list[str], set[int]]:
        """What is still there: processes (pid and command), temporary folders, and ports that still listen."""
        processes = []
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                processes.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
        folders = [p.name for p in self.folder.glob("course-api-grade-*")]
        return processes, folders, {port for port in self.ports if is_listening(port)}


def rows(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.split(",")[0]: line for line in lines[1:]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    submissions, output = root / "submissions", root / "grades"
    expected = build_corpus(submissions)
    write(submissions / "hog", NAME03, insert_after(answered("03"), "03.1", HOG))
    write(submissions / "network", NAME03, insert_after(answered("03"), "03.1", NETWORK))
    expected |= {"hog": lesson_points("03"), "network": lesson_points("03")}
    run = OwnRun(root)
    lines: list[str] = []
    with run.grading():
        result = grade_class(submissions, output, jobs=2, limits=LIMITS, echo=lines.append)
    return submissions, output, expected, result, lines, run


def test_every_submission_gets_its_expected_points(graded):
    _, output, expected, result, _, _ = graded
    got = {s.student: s.total for s in result.students}
    assert got == expected
    assert not result.grader_trouble
    csv_rows = rows(output / "grades.csv")
    assert {name: int(row.rsplit(",", 1)[1]) for name, row in csv_rows.items()} == expected


def notes_of(output: Path, student: str) -> str:
    data = json.loads((output / "grades.json").read_text(encoding="utf-8"))
    (found,) = [s for s in data["students"] if s["student"] == student]
    return " ".join(note for sheet in found["worksheets"] for note in sheet["notes"]) + " ".join(
        outcome["message"] for outcome in found["exercises"].values()
    )


@pytest.mark.parametrize(
    ("student", "reason"),
    [
        ("broken_json", "is not valid JSON"),
        ("loops", "time limit (20 s) ran out"),
        ("kills", "The kernel stopped while it ran the 4th code cell"),
        ("loops", "The 6th code cell was still running"),
        ("cheat", "changed the course's checks"),
        ("other", "not a worksheet of this course"),
        ("other", "does not look like worksheet 03_fastapi"),
        ("moved", "were missing and were put back"),
        ("hog", "MemoryError"),
        ("network", "blocks network access beyond this machine"),
        ("blank", "Not done: `hello` did not exist when the check ran"),
        ("blank", "Not done: There is no my_api/main.py yet"),
        ("broken_project", "NameError: name 'FastAPi' is not defined"),
        ("broken_project", "my_api/main.py, line 4"),
    ],
)
def test_the_feedback_gives_the_reason(graded, student, reason):
    _, output, _, _, _, _ = graded
    assert reason in notes_of(output, student)
    page = (output / "feedback" / f"{student}.html").read_text(encoding="utf-8")
    assert f"Feedback for {student}" in page


def test_a_feedback_page_per_student_and_a_progress_line_per_worksheet(graded):
    submissions, output, expected, _, lines, _ = graded
    assert sorted(p.stem for p in (output / "feedback").glob("*.html")) == sorted(expected)
    worksheets = sum(1 for _ in submissions.glob("*/*.ipynb"))
    assert len(lines) == worksheets
    assert lines[-1].startswith(f"[{worksheets}/{worksheets}] ")


def test_nothing_is_left_behind(graded):
    _, _, _, _, _, run = graded
    assert len(run.seen) >= 2, "the grader's kernels were not seen while they ran, so leftovers would not be either"
    assert run.leftovers() == ([], [], set())


def test_the_same_input_gives_the_same_grades_one_job_at_a_time(graded, tmp_path):
    submissions, output, _, _, _, _ = graded
    again = tmp_path / "submissions"
    for student in ("ada", "partial", "moved", "cheat"):
        (again / student).mkdir(parents=True)
        for path in (submissions / student).iterdir():
            (again / student / path.name).write_bytes(path.read_bytes())
    grade_class(again, tmp_path / "grades", jobs=1, limits=LIMITS, echo=lambda _: None)
    first, second = rows(output / "grades.csv"), rows(tmp_path / "grades" / "grades.csv")
    assert {name: first[name] for name in second} == second


def test_without_a_network_namespace_the_network_is_still_blocked_and_nothing_is_left(tmp_path, monkeypatch):
    """macOS, Windows and containers without namespaces: the audit hook blocks the network; cleanup still works."""
    monkeypatch.setenv("COURSE_API_GRADER_NETNS", "0")
    submissions = tmp_path / "submissions"
    write(submissions / "servers", NAME03, insert_after(answered("03"), "03.5", SERVERS))
    write(submissions / "network", NAME03, insert_after(answered("03"), "03.1", NETWORK))
    run = OwnRun(tmp_path)
    with run.grading():
        result = grade_class(submissions, tmp_path / "grades", jobs=2, limits=LIMITS, echo=lambda _: None)
    assert [s.total for s in result.students] == [lesson_points("03")] * 2
    assert all("network namespace" not in s.isolation for s in result.sheets)  # the fallback was what ran
    assert "blocks network access" in notes_of(tmp_path / "grades", "network")
    assert run.seen, "the grader's kernels were not seen while they ran, so leftovers would not be either"
    assert run.ports, "the servers that the notebook started were not seen listening"
    assert run.leftovers() == ([], [], set())


def test_the_command_grades_a_class_and_says_where_the_results_are(tmp_path):
    submissions = tmp_path / "submissions"
    write(submissions / "ada", NAME03, answered("03", {"03.1"}))
    done = subprocess.run(
        [str(BIN / "course-api"), "grade", str(submissions), "--output", str(tmp_path / "out"), "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 student(s), 1 worksheet(s)" in done.stdout
    done_line = f"[1/1] ada/03_fastapi.ipynb: 1 of {len(lesson_ids('03'))} exercises done"
    assert done_line in done.stderr  # not a terminal: a line each
    assert rows(tmp_path / "out" / "grades.csv")["ada"].endswith(f",{points('03.1')}")


def test_worksheets_04_and_05_grade_the_students_project_and_give_every_point(tmp_path):
    """Worksheets 04 and 05 answered, with the student's my_api/ beside them, as a student hands in exercises/:
    04's checks start the student's app (the model loaded once, POST /predict) and run the student's own tests with
    pytest; 05's run the image's CMD from the files the image would hold. All inside the sandbox, within the
    default memory cap. These checks start several processes with PyTorch, so they get the default time limit,
    not the class's 20 s."""
    submissions = tmp_path / "submissions"
    write_project(submissions / "ada")
    for lesson in ("04", "05"):
        write(submissions / "ada", f"{NOTEBOOKS[lesson]}.ipynb", answered(lesson))
    run = OwnRun(tmp_path)
    with run.grading():
        result = grade_class(submissions, tmp_path / "grades", jobs=1, limits=Limits(), echo=lambda _: None)
    expected = lesson_points("04") + lesson_points("05")
    assert [s.total for s in result.students] == [expected], notes_of(tmp_path / "grades", "ada")
    assert (tmp_path / "grades" / "grades.csv").read_text(encoding="utf-8").count("\n") == 2
    assert run.leftovers() == ([], [], set())
