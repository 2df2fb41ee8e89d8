"""How long ``course-api grade`` takes for a class, one worksheet at a time and ``--jobs N`` at once.

    .venv/bin/python -m benchmarks.grading_time                  # 30 students x 6 worksheets, --jobs 1 then 2
    .venv/bin/python -m benchmarks.grading_time --students 3 --jobs 1 2 4

The class is made from the course's own notebooks (:mod:`benchmarks.class_submissions`, as the grading tests do): a
student ``i`` hands in all six worksheets; every fifth student's worksheets are as handed out (nothing answered), and
the others leave out a different exercise or two each, so the checks fail and pass in a realistic mix. Each ``--jobs``
value grades the same class into its own folder, timed from the call to the written reports. A thread samples, every
0.2 s, the memory of the grader and of every process below it (the kernels, the servers they start): the peak of
the summed PSS (each shared page counted once, as a container's limit counts it) and of the summed RSS. The runs
must give the same grades; the run says so.

Results go to ``benchmarks/results/grading.json``; ``benchmarks/README.md`` quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.class_submissions import answered, lesson_ids, load, write  # the class the grading tests grade
from benchmarks.session_memory import SESSION, Sampler
from course_api.workbook.checks.registry import NOTEBOOKS
from course_api.workbook.grading import Limits, grade_class

ROOT = Path(__file__).resolve().parent.parent

MIB = 1024 * 1024


def build_class(root: Path, students: int) -> int:
    """``students`` folders of six worksheets each; the number of worksheets."""
    count = 0
    for number in range(students):
        folder = root / f"student{number:02d}"
        for lesson, name in NOTEBOOKS.items():
            ids = lesson_ids(lesson)
            if number % 5 == 4:
                nb = load("exercises", lesson)
            else:
                nb = answered(lesson, {e for i, e in enumerate(ids) if (number + i) % 4 != 0})
            write(folder, f"{name}.ipynb", nb)
            count += 1
    return count


def run_once(submissions: Path, output: Path, jobs: int, limits: Limits) -> dict[str, float]:
    sampler = Sampler(os.getpid())
    sampler.start()
    started = time.perf_counter()
    grade_class(submissions, output, jobs=jobs, limits=limits, echo=lambda line: print("   ", line, flush=True))
    seconds = time.perf_counter() - started
    sampler.stop()
    peak = sampler.peaks[SESSION]
    return {
        "jobs": jobs,
        "seconds": round(seconds, 1),
        "peak_pss_mib": peak.pss // MIB,
        "peak_rss_mib": peak.total // MIB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "grading.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="course-api-bench-grading-") as tmp:
        submissions = Path(tmp) / "submissions"
        worksheets = build_class(submissions, args.students)
        order = " then ".join(map(str, args.jobs))
        print(f"{args.students} students, {worksheets} worksheets; grading with --jobs {order}")
        runs, grades = [], []
        for jobs in args.jobs:
            output = Path(tmp) / f"grades-{jobs}"
            runs.append(run_once(submissions, output, jobs, Limits(timeout=args.timeout)))
            grades.append((output / "grades.csv").read_text(encoding="utf-8"))
            kept = args.json.with_name(f"grading-jobs{jobs}")  # the grades and feedback, to compare runs
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(output, kept)
    base = runs[0]["seconds"]
    for run in runs:
        run["per_worksheet_s"] = round(run["seconds"] / worksheets, 2)
        run["speedup"] = round(base / run["seconds"], 2)
    same = all(g == grades[0] for g in grades)
    report = {"students": args.students, "worksheets": worksheets, "same_grades": same, "runs": runs}
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.system()}
    print("\n| --jobs | seconds | per worksheet | × serial | peak PSS (MiB) | peak RSS sum (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        print(
            f"| {run['jobs']} | {run['seconds']} | {run['per_worksheet_s']} s | {run['speedup']} "
            f"| {run['peak_pss_mib']} | {run['peak_rss_mib']} |"
        )
    print(f"\nSame grades in every run: {'yes' if same else 'NO'}")
    for jobs, csv in zip(args.jobs[1:], grades[1:], strict=True):
        for first, other in zip(grades[0].splitlines(), csv.splitlines(), strict=False):
            if first != other:
                print(f"  --jobs {args.jobs[0]}: {first}\n  --jobs {jobs}: {other}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
