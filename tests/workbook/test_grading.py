"""The grader's parts that need no kernel: reading submissions, planning cells, the probe's rules, the reports."""

from __future__ import annotations

import json

import pytest

from benchmarks.class_submissions import answered, load, other_course, rearranged, source, write
from course_api.cli import main
from course_api.workbook.checks.registry import NOTEBOOKS, Outcome
from course_api.workbook.grading import probe
from course_api.workbook.grading.gradebook import StudentGrades, feedback_name, feedback_page, write_all
from course_api.workbook.grading.grader import ClassResult
from course_api.workbook.grading.probe import ExerciseResult
from course_api.workbook.grading.session import SheetResult, finish
from course_api.workbook.grading.submissions import (
    Note,
    NotebookError,
    NoteKind,
    find_students,
    load_worksheet,
    only_checks,
    plan_cells,
    read_code_cells,
)
from helpers import ROOT, page_assets

NAME03 = f"{NOTEBOOKS['03']}.ipynb"


def code_of(nb: dict) -> list[str]:
    return [source(c) for c in nb["cells"] if c["cell_type"] == "code"]


def test_a_worksheet_as_handed_out_runs_as_it_is_without_its_check_cells():
    sheet = code_of(load("exercises", "03"))
    planned = plan_cells(sheet, sheet)
    assert [c.source for c in planned] == [s for s in sheet if s.strip() and not only_checks(s)]
    assert all(c.origin == "student" for c in planned)
    assert len(planned) < len(sheet)  # the check("03.N") and check_all cells are left out


def test_a_deleted_setup_cell_is_put_back_where_it_was():
    course = code_of(load("exercises", "03"))
    student = code_of(answered("03"))
    del student[1]  # the import cell
    planned = plan_cells(student, course)
    assert planned[1].origin == "restored"
    assert planned[1].source == course[1]
    assert [c.source for c in planned if c.origin == "student"][:2] == [student[0], student[1]]


def test_moved_split_and_copied_cells_all_run_in_the_students_order():
    course = code_of(load("exercises", "03"))
    student = code_of(rearranged())
    planned = [c for c in plan_cells(student, course) if c.origin == "student"]
    assert [c.source for c in planned] == [s for s in student if s.strip() and not only_checks(s)]
    assert sum("def hello" in c.source for c in planned) == 2  # the copy runs too


def test_an_edited_setup_cell_is_not_run_twice():
    course = code_of(load("exercises", "03"))
    student = code_of(answered("03"))
    student[1] = student[1] + "\nimport math  # the student added an import"
    planned = plan_cells(student, course)
    assert not [c for c in planned if c.origin == "restored"]


def test_cells_that_only_check_are_recognised():
    assert only_checks('check("03.1")')
    assert only_checks('hint("03.1")\ncheck("03.1")')
    assert only_checks('check_all("03")')
    assert not only_checks('check("03.1")\nx = 1')
    assert not only_checks("def check(x):\n    pass")
    assert not only_checks("check(")  # a syntax error runs, and reports itself


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"cells": [', "not valid JSON"),
        ("[1, 2]", "not a notebook"),
        ('{"metadata": {}}', "not a notebook"),
    ],
)
def test_unreadable_notebooks_are_named_with_the_reason(tmp_path, text, says):
    path = tmp_path / NAME03
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NotebookError, match=says):
        read_code_cells(path)


def test_binary_and_old_notebooks(tmp_path):
    binary = tmp_path / "01_a.ipynb"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xff")  # an image, renamed
    with pytest.raises(NotebookError, match="not text"):
        read_code_cells(binary)
    old = tmp_path / "01_b.ipynb"  # nbformat 3: cells inside worksheets, code in "input"
    old.write_text(json.dumps({"worksheets": [{"cells": [{"cell_type": "code", "input": ["x = ", "1"]}]}]}))
    assert read_code_cells(old) == ["x = 1"]


def test_submissions_are_found_by_student_and_worksheet_name(tmp_path):
    write(tmp_path / "bo", NAME03, answered("03"))
    write(tmp_path / "bo", "notes.ipynb", other_course())  # not NN_*: not a worksheet
    write(tmp_path / "bo" / ".ipynb_checkpoints", "03_fastapi-checkpoint.ipynb", answered("03"))
    write(tmp_path / "al", "99_extra.ipynb", other_course())
    (tmp_path / "readme.txt").write_text("not a student")
    found = find_students(tmp_path)
    assert list(found) == ["al", "bo"]
    assert [p.name for p in found["bo"]] == [NAME03]
    extra = load_worksheet("al", found["al"][0], ROOT)
    assert extra.lesson is None
    assert not extra.cells
    assert "not a worksheet of this course" in extra.notes[0].text
    assert extra.notes[0].kind is NoteKind.NOT_GRADED


def test_another_courses_notebook_is_graded_as_it_is(tmp_path):
    write(tmp_path, NAME03, other_course())
    sheet = load_worksheet("x", tmp_path / NAME03, ROOT)
    assert all(c.origin == "student" for c in sheet.cells)
    assert "does not look like worksheet" in sheet.notes[0].text


def test_the_probe_allows_loopback_only():
    for host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "127.0.0.53", None):
        assert probe._is_local_host(host), host
    for host in ("example.com", "8.8.8.8", "2001:db8::1", "10.0.0.1"):
        assert not probe._is_local_host(host), host
    with pytest.raises(PermissionError, match="blocks network access"):
        probe._network_guard("socket.connect", (None, ("93.184.215.14", 80)))
    probe._network_guard("socket.connect", (None, ("127.0.0.1", 80)))


def test_the_probe_runs_the_courses_checks_and_notices_tampering(monkeypatch):
    report = probe._make_report({})
    outcome = json.loads(report(["03.1"]))["03.1"]
    assert outcome["status"] == "not done"
    assert outcome["message"].startswith("Not done: `hello` did not exist when the check ran")
    import course_api.workbook.checks.lesson03 as lesson03

    monkeypatch.setattr(lesson03, "fail", lambda message: None)  # what a notebook could do to pass
    outcome = json.loads(report(["03.1"]))["03.1"]
    assert outcome["status"] == "tampered"
    assert "course_api.workbook.checks.lesson03.fail" in outcome["message"]


def test_the_best_outcome_of_an_exercise_is_kept():
    result = SheetResult("s", NAME03, "03")
    result.record("03.1", ExerciseResult(Outcome.NOT_DONE, "a"))
    result.record("03.1", ExerciseResult(Outcome.FAILING, "b"))
    result.record("03.1", ExerciseResult(Outcome.DONE, "c"))
    result.record("03.1", ExerciseResult(Outcome.FAILING, "d"))  # a later cell broke it: the pass stands
    assert result.exercises["03.1"] == ExerciseResult(Outcome.DONE, "c")


def test_outcomes_travel_and_are_written_as_their_words():
    """The probe's JSON and grades.json carry an outcome as its word; the grader reads it back as the enum."""
    for outcome in Outcome:
        sent = json.loads(json.dumps(ExerciseResult(outcome, "m").as_dict()))
        assert sent == {"status": outcome.value, "message": "m"}
        assert ExerciseResult.from_dict(sent) == ExerciseResult(outcome, "m")
    assert [o.value for o in Outcome] == ["done", "not done", "failing", "tampered", "error"]


def test_the_grader_acts_on_a_notes_kind_not_its_words():
    """An unreadable file's note is the exercises' message as it is; the grader's own trouble is found by kind, even
    when a student's cell raised an error with the same words."""
    unreadable = SheetResult("s", NAME03, "03", notes=[Note("Not graded: broken.", NoteKind.NOT_GRADED)])
    finish(unreadable)
    assert {r.message for r in unreadable.exercises.values()} == {"Not graded: broken."}
    assert {r.outcome for r in unreadable.exercises.values()} == {Outcome.NOT_DONE}
    stopped = SheetResult("s", NAME03, "03", notes=[Note("Not graded: my cell said so.", NoteKind.CELL_ERROR)])
    finish(stopped)
    assert {r.message for r in stopped.exercises.values()} == {"Not checked. Not graded: my cell said so."}
    trouble = Note("The grader could not run this worksheet: OSError: no kernel", NoteKind.GRADER)
    mimic = Note("The grader could not run this worksheet (a student's own message)", NoteKind.CELL_ERROR)
    result = ClassResult([StudentGrades("s", [SheetResult("s", NAME03, "03", notes=[mimic, trouble])])], 0.0)
    assert result.grader_trouble == [f"s/{NAME03}: {trouble.text}"]


def test_feedback_names_are_safe_and_unique():
    taken: set[str] = set()
    names = [feedback_name(n, taken) for n in ("Ada Lovelace", "ada lovelace", "../etc", "", "Zoë")]
    assert names == ["Ada_Lovelace.html", "ada_lovelace_2.html", "etc.html", "student.html", "Zoë.html"]


def test_reports_escape_what_students_wrote_and_load_nothing(tmp_path):
    sheet = SheetResult("<b>eve</b>", NAME03, "03", notes=[Note("<script>alert(1)</script>")])
    sheet.exercises["03.1"] = ExerciseResult(Outcome.FAILING, "<img src=https://example.com/x.png>")
    grades = StudentGrades("<b>eve</b>", [sheet])
    page = feedback_page(grades)
    assert "<script>" not in page
    assert "<img" not in page
    assert page_assets(page) == []
    write_all(tmp_path, [grades])
    header, row = (tmp_path / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert header.startswith("student,01.1,")
    assert header.endswith(",total")
    assert row.startswith("<b>eve</b>,0,")
    assert row.endswith(",0")
    data = json.loads((tmp_path / "grades.json").read_text(encoding="utf-8"))
    assert data["students"][0]["exercises"]["03.1"]["message"].startswith("<img")
    assert data["max_total"] == sum(e["points"] for e in data["exercises"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["grade", "no-such-folder"], "no folder no-such-folder"),
        (["grade", ".", "--jobs", "0"], "--jobs must be 1 or more"),
        (["grade", ".", "--timeout", "0"], "--timeout above 0"),
    ],
)
def test_grade_command_refuses_bad_arguments_with_what_to_do(capsys, args, says):
    assert main(args) == 2
    assert says in capsys.readouterr().err


def test_grade_command_wants_a_folder_per_student(capsys, tmp_path):
    write(tmp_path, NAME03, answered("03"))
    assert main(["grade", str(tmp_path)]) == 2
    assert f"not a folder per student: move them to {tmp_path}/<student>/{NAME03}" in capsys.readouterr().err


def test_cells_are_sent_so_that_an_error_never_aborts_the_next_request(tmp_path):
    """ipykernel aborts the requests that arrive just after a cell raised, unless stop_on_error=False: with it left
    at True, an answer right after an unanswered stub was sometimes never run (a grade that depended on timing)."""
    import asyncio

    from course_api.workbook.grading.cleanup import remove_tree
    from course_api.workbook.grading.session import KernelRun, Limits

    sent: list[dict] = []

    class Client:
        def execute(self, code: str, **options: object) -> str:
            sent.append(options)
            return "m1"

        async def get_shell_msg(self, timeout: float) -> dict:
            return {"parent_header": {"msg_id": "m1"}, "content": {"status": "ok"}}

    run = KernelRun(tmp_path, Limits())
    try:
        run.kc = Client()
        assert asyncio.run(run.execute("x = 1", 5))["status"] == "ok"
        assert asyncio.run(run.execute("", 5, expressions={"r": "1"}))["status"] == "ok"
    finally:
        remove_tree(run.root)
    assert [options["stop_on_error"] for options in sent] == [False, False]
    assert [options["silent"] for options in sent] == [False, True]


def test_cells_are_named_as_a_student_counts_them():
    from course_api.workbook.grading.session import ordinal

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th",
    ]  # fmt: skip
