"""The benchmark suite (benchmarks/): wrk output parsing and reporting, and a short smoke run of the harness.

The smoke run checks that the harness works (servers start and stop, wrk drives every chosen scenario, the
JSON has what the README and notebook 06 read) and that no request failed. It never asserts a timing target:
those are reported by `make bench`, on a quiet machine. Without wrk it skips and says how to install it,
unless COURSE_API_REQUIRE_SYSTEM_TOOLS=1 (as in .ci/run): then it fails.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from benchmarks import report
from benchmarks.run import _shown_args, build_parser
from benchmarks.scenarios import SCENARIOS, Inputs, answer
from benchmarks.wrk import LUA_DIR, WrkError, parse_wrk_output, time_to_ms, wrk_command
from helpers import ROOT, missing_system_tool

WRK_TEXT = """\
Running 5s test @ http://127.0.0.1:41234/predict/image
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.34ms    3.21ms   1.02s    91.00%
    Req/Sec     1.30k   120.00     1.50k    70.00%
  Latency Distribution
     50%  812.00us
     75%   13.10ms
     90%   15.00ms
     99%    1.20s
  6500 requests in 5.01s, 4.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   1297.40
Transfer/sec:    858.90KB
"""

LUA_LINE = (
    'BENCH_RESULT {"requests": 6500, "duration_s": 5.010000, "requests_per_s": 1297.405, "bytes": 4400000, '
    '"errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 5, "non2xx": 6}, '
    '"statuses": {"429": 1, "503": 5}, '
    '"latency_ms": {"min": 0.4000, "mean": 12.3400, "stdev": 3.2100, "max": 1020.0000, '
    '"p50": 0.8120, "p75": 13.1000, "p90": 15.0000, "p99": 1200.0000, "p99.9": 1010.0000}}'
)


# ------------------------------------------------------------------------------------------ parsing
def test_time_units():
    assert time_to_ms("812.00us") == pytest.approx(0.812)
    assert time_to_ms("13.10ms") == pytest.approx(13.1)
    assert time_to_ms("1.20s") == pytest.approx(1200)
    assert time_to_ms("1.00m") == pytest.approx(60_000)
    with pytest.raises(ValueError):
        time_to_ms("fast")


def test_parse_prefers_the_lua_line():
    result = parse_wrk_output(WRK_TEXT + LUA_LINE + "\n")
    assert result.source == "lua"
    assert result.requests == 6500
    assert result.requests_per_s == pytest.approx(1297.405)
    assert result.latency_ms["p50"] == pytest.approx(0.812)
    assert result.latency_ms["p99"] == pytest.approx(1200)
    assert result.non2xx == 6
    assert result.statuses == {"429": 1, "503": 5}
    assert result.socket_errors == 0
    assert result.error_count() == 6
    assert result.error_count(allowed_statuses=[503]) == 1  # the documented 503s are not failures


def test_parse_falls_back_to_the_text_summary():
    result = parse_wrk_output(WRK_TEXT)
    assert result.source == "text"
    assert result.requests == 6500
    assert result.duration_s == pytest.approx(5.01)
    assert result.requests_per_s == pytest.approx(1297.40)
    assert result.latency_ms["p50"] == pytest.approx(0.812)
    assert result.latency_ms["p99"] == pytest.approx(1200)
    assert result.latency_ms["mean"] == pytest.approx(12.34)
    assert result.latency_ms["max"] == pytest.approx(1020)
    assert result.errors["read"] == 2
    assert result.errors["timeout"] == 1
    assert result.socket_errors == 3
    assert result.non2xx == 7
    assert result.error_count() == 10


def test_parse_a_clean_run_without_error_lines():
    text = WRK_TEXT.replace("  Socket errors: connect 0, read 2, write 0, timeout 1\n", "").replace(
        "  Non-2xx or 3xx responses: 7\n", ""
    )
    result = parse_wrk_output(text)
    assert result.error_count() == 0


def test_unreadable_output_is_an_error():
    with pytest.raises(WrkError, match="no summary"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")
    with pytest.raises(WrkError, match="unreadable"):
        parse_wrk_output("BENCH_RESULT {not json\n")


def test_wrk_command():
    cmd = wrk_command("wrk", "http://127.0.0.1:9/", LUA_DIR / "health.lua", connections=1, duration_s=5, threads=2)
    assert cmd[:6] == ["wrk", "-t1", "-c1", "-d5s", "--timeout=30s", "--latency"]  # never more threads than connections
    assert cmd[-1].startswith("http://127.0.0.1:")


def test_every_scenario_has_its_lua_script():
    names = {"health", "image", "text", "pixels", "naive", "plain-health", "plain"}
    assert {s.name for s in SCENARIOS.values()} == names
    for scenario in SCENARIOS.values():
        script = (LUA_DIR / scenario.script).read_text()
        assert "common.lua" in script
        assert scenario.path in script
    common = (LUA_DIR / "common.lua").read_text()
    assert "function done(" in common
    assert "function response(" in common
    assert "BENCH_RESULT " in common


def test_the_plain_peer_gets_the_same_upload_as_the_course_server(tmp_path):
    (tmp_path / "digit.png").write_bytes(b"\x89PNG fake")
    inputs = Inputs(tmp_path)
    body, headers = inputs.body("plain")
    assert (body, headers) == inputs.body("image")
    assert body is not None
    assert b'name="file"; filename="digit.png"' in body
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert inputs.body("plain-health") == (None, {})
    for script in ("image.lua", "plain.lua"):
        assert "bench.post_png(" in (LUA_DIR / script).read_text()
    assert SCENARIOS["plain"].server == SCENARIOS["plain-health"].server == "plain"
    assert answer("plain", b'{"digit": 7, "score": 0.9}') == "7"
    assert answer("plain-health", b'{"message": "OK", "device": "cpu"}') == "OK"


def test_the_plain_peer_classifies_the_benchmark_png():
    """The twenty-line route (Pillow's 8x8 resize, ink = 255 - grey) gets the benchmark's 7 right."""
    from fastapi.testclient import TestClient

    from benchmarks.plain_app import app
    from benchmarks.scenarios import DIGIT
    from course_api.samples import digit_png

    with TestClient(app) as client:
        assert client.get("/").json()["message"] == "OK"
        got = client.post("/predict", files={"file": ("digit.png", digit_png(DIGIT), "image/png")}).json()
    assert got["digit"] == DIGIT
    assert set(got) == {"digit", "score"}
    assert 0.5 < got["score"] <= 1


def test_cli_defaults():
    args = build_parser().parse_args([])
    assert args.concurrency == [1, 16, 64]
    assert args.duration == 5
    assert args.batching == [True, False]
    assert args.workers == [1, 2]
    assert build_parser().parse_args(["--workers", "2,1,2"]).workers == [1, 2]
    for wrong in ("0", "65", "two"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--workers", wrong])
    assert build_parser().parse_args(["--scenarios", "naive,health"]).scenarios == ["health", "naive"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--scenarios", "nope"])
    # The command recorded with the results leaves out what does not change the measurement.
    assert _shown_args(["--update-readme", "--note", "busy machine", "--quick", "--device", "cpu"]) == [
        "--quick",
        "--device",
        "cpu",
    ]


# ------------------------------------------------------------------------------------------ reporting
def _row(
    scenario: str, conc: int, rps: float, batching: bool | None = True, p50: float = 1.0, workers: int | None = 1
) -> dict:
    return {
        "scenario": scenario,
        "batching": None if scenario in ("naive", "plain", "plain-health") else batching,
        "workers": None if scenario in ("naive", "plain", "plain-health") else workers,
        "concurrency": conc,
        "requests_per_s": rps,
        "latency_ms": {"p50": p50, "p99": 2 * p50},
        "error_count": 0,
        "server_cpu_cores": 1.0,
        "wrk_cpu_cores": 0.1,
    }


def _document(device: str = "cpu") -> dict:
    rows = [
        _row("health", 16, 1000),
        _row("image", 16, 300),
        _row("text", 16, 700),
        _row("naive", 16, 90),
        _row("image", 1, 100, True, p50=1.0),
        _row("image", 1, 100, False, p50=2.0),
        _row("image", 64, 900, True),
        _row("image", 64, 100, False),
        _row("plain-health", 16, 2000),
        _row("plain", 16, 200),
        _row("health", 16, 1500, workers=2),
        _row("image", 16, 450, workers=2),
    ]
    return {
        "created": "2030-01-01T00:00:00+00:00",
        "command": "python -m benchmarks.run",
        "machine": {
            "hostname": "h",
            "cpu_model": "cpu",
            "cores": 2,
            "platform": "Linux",
            "python": "3.11",
            "torch": "2",
            "fastapi": "0",
            "uvicorn": "0",
            "wrk": "wrk 4",
        },
        "config": {"duration_s": 5, "warmup_s": 1, "ratio_concurrency": 16, "wrk_threads": 1, "device": device},
        "server": {"device": device},
        "results": rows,
        "cold_start": {"runs_s": [2.0, 3.0, 4.0], "median_s": 3.0, "load_seconds": [0.1]},
    }


def test_checks_compare_with_the_targets():
    found = {c["name"]: c for c in report.checks(_document())}
    image_vs_health = found["/predict/image ÷ health, req/s @16"]
    assert image_vs_health["value"] == pytest.approx(0.3)
    assert image_vs_health["pass"] is False
    assert report.verdict(image_vs_health) == "MISS by 25%"
    assert found["/predict/text ÷ health, req/s @16"]["pass"] is True
    assert found["/predict/image ÷ naive baseline, req/s @16"]["value"] == pytest.approx(300 / 90)
    cold = found["cold start to first /predict/image, median of 3 (s)"]
    assert cold["pass"] is False
    assert report.verdict(cold) == "MISS by 20%"
    batched = found["image: batching on ÷ off, req/s @64"]
    assert batched["value"] == pytest.approx(9)
    assert not batched["applies"]
    assert report.verdict(batched).startswith("(PASS; target on GPU")
    assert found["image: p50 @1, batching on ÷ off"]["value"] == pytest.approx(0.5)
    gpu = {c["name"]: c for c in report.checks(_document("cuda:0"))}
    assert gpu["image: batching on ÷ off, req/s @64"]["applies"]


def test_ratios_compare_with_the_plain_peer_and_one_worker():
    data = _document()
    found = {r["name"]: r["value"] for r in report.ratios(data)}
    assert found["/predict/image ÷ the plain peer's POST /predict, req/s @16"] == pytest.approx(300 / 200)
    assert found["/predict/image ÷ health (the course server's floor), req/s @16"] == pytest.approx(300 / 1000)
    assert found["plain POST /predict ÷ plain health (the plain peer's floor), req/s @16"] == pytest.approx(0.1)
    assert found["plain health ÷ health (floor ÷ floor), req/s @16"] == pytest.approx(2)
    assert found["health: 2 workers ÷ 1, req/s @16"] == pytest.approx(1.5)
    assert found["image: 2 workers ÷ 1, req/s @16"] == pytest.approx(1.5)
    assert len(found) == 6
    # The workers' rows never stand in for one process's in the checks.
    checks = {c["name"]: c["value"] for c in report.checks(data)}
    assert checks["/predict/image ÷ health, req/s @16"] == pytest.approx(0.3)
    section = report.markdown(data)
    assert "| image, 2 workers | on | 16 | 450.0 |" in section
    assert "| plain | - | 16 | 200.0 |" in section
    assert "| health: 2 workers ÷ 1, req/s @16 | 1.50 |" in section
    # A run from before the plain peer and the workers has no such comparisons.
    old = _document()
    old["results"] = [r for r in old["results"] if not r["scenario"].startswith("plain") and r["workers"] == 1]
    for row in old["results"]:
        del row["workers"]
    assert [r["name"] for r in report.ratios(old)] == ["/predict/image ÷ health (the course server's floor), req/s @16"]


def test_markdown_and_readme_section(tmp_path):
    data = _document()
    section = report.markdown(data)
    assert "| health | on | 16 | 1000.0 |" in section
    assert "MISS by 25%" in section
    assert "median 3.00 s" in section
    assert "python -m benchmarks.run" in section
    readme = tmp_path / "README.md"
    begin, end = report.markers("cpu")
    readme.write_text(f"# title\n\n{begin}\nold numbers\n{end}\n\nafter\n")
    report.update_readme(section, "cpu", readme)
    text = readme.read_text()
    assert "old numbers" not in text
    assert "| health | on | 16 |" in text
    assert text.endswith("\n\nafter\n")
    with pytest.raises(ValueError, match="markers"):
        report.update_readme(section, "cuda", readme)


def test_the_readme_has_sections_to_regenerate():
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    for key in ("cpu", "cuda"):
        begin, end = report.markers(key)
        assert begin in readme
        assert end in readme


def test_make_bench_target():
    makefile = (ROOT / "Makefile").read_text()
    assert "bench:" in makefile
    assert "$(COURSE) bench" in makefile
    assert '"-m", "benchmarks.run"' in (ROOT / "course.py").read_text(encoding="utf-8")
    phony = next(line for line in makefile.splitlines() if line.startswith(".PHONY:"))
    assert " bench" in phony


# ------------------------------------------------------------------------------------------ smoke run
def _require_wrk() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        missing_system_tool(
            "wrk is not installed, so the benchmark smoke test is skipped; to run it: sudo apt-get install wrk"
        )
    return wrk


@pytest.mark.wrk
@pytest.mark.load
@pytest.mark.subprocess
@pytest.mark.timeout(120)
def test_smoke_run(tmp_path):
    _require_wrk()
    output = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--concurrency",
        "1,4",
        "--scenarios",
        "health,image,naive,plain-health,plain",
        "--batching",
        "on",
        "--workers",
        "1,2",
        "--cold-runs",
        "1",
        "--device",
        "cpu",
        "--output",
        str(output),
    ]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    data = json.loads(output.read_text())
    assert output.with_suffix(".md").read_text().startswith("Measured ")
    assert {"created", "command", "machine", "config", "server", "results", "cold_start", "checks", "ok"} <= set(data)
    assert data["ok"] is True
    assert data["errors"] == 0
    assert data["server"]["device"] == "cpu"
    assert data["machine"]["cores"] >= 1
    assert data["machine"]["torch"] != "-"
    rows = data["results"]
    assert [(r["scenario"], r["concurrency"], r["workers"]) for r in rows] == [
        ("health", 1, 1),
        ("health", 4, 1),
        ("image", 1, 1),
        ("image", 4, 1),
        ("naive", 1, None),
        ("naive", 4, None),
        ("plain-health", 1, None),
        ("plain-health", 4, None),
        ("plain", 1, None),
        ("plain", 4, None),
        ("health", 4, 2),  # two worker processes: only above concurrency 1
        ("image", 4, 2),
    ]
    for row in rows:
        assert row["error_count"] == 0, row
        assert row["errors"]["non2xx"] == 0, row
        assert row["requests"] > 0
        assert row["requests_per_s"] > 0
        assert 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p99"]
        assert row["source"] == "lua"  # the done() hook's JSON line was read
    assert {r["answer"] for r in rows if r["scenario"] in ("image", "naive", "plain")} == {"7"}
    two = [r for r in rows if r["workers"] == 2]
    assert all(r["server_cpu_cores"] > 0.2 for r in two), two  # the workers' CPU counts, not only the supervisor's
    cold = data["cold_start"]
    assert len(cold["runs_s"]) == 1
    assert cold["median_s"] > 0
    names = {c["name"] for c in data["checks"]}
    assert {"/predict/image ÷ health, req/s @4", "/predict/image ÷ naive baseline, req/s @4"} <= names
    compared = {r["name"] for r in data["ratios"]}
    assert "/predict/image ÷ the plain peer's POST /predict, req/s @4" in compared
    assert "plain POST /predict ÷ plain health (the plain peer's floor), req/s @4" in compared
    assert {"health: 2 workers ÷ 1, req/s @4", "image: 2 workers ÷ 1, req/s @4"} <= compared
    assert "req/s" in done.stdout
    assert "PASS" in done.stdout or "MISS" in done.stdout
    # Every server the harness started is gone: its port refuses connections.
    ports = [int(p) for p in re.findall(r"answering on 127\.0\.0\.1:(\d+)", done.stderr)]
    assert len(ports) == 4, done.stderr  # course server, naive, plain, course server with 2 workers
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"a server still listens on port {port}"
    print(f"benchmark smoke run: {elapsed:.1f} s")
