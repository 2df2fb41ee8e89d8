"""Turning a benchmark's JSON into checks against the issue's targets, a console table and Markdown.

Everything here works on the JSON document alone, so ``python -m benchmarks.run --render results.json``
can redo the Markdown (and ``--update-readme`` the section of ``benchmarks/README.md``) without measuring.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"

# The targets of issue 5. The first block is for the 2-core CPU machine, the second for a CUDA GPU.
CPU_TARGETS = {"image_vs_health": 0.4, "text_vs_health": 0.6, "vs_naive": 3.0, "cold_start_s": 2.5}
GPU_TARGETS = {"batched_vs_unbatched": 3.0, "p50_c1_slowdown": 1.10}
MODEL_SCENARIOS = ("image", "text", "pixels")


def label(row: dict[str, Any]) -> str:
    workers = row.get("workers") or 1
    return row["scenario"] if workers == 1 else f"{row['scenario']}, {workers} workers"


def batching_label(row: dict[str, Any]) -> str:
    if row.get("batching") is None:
        return "-"
    return "on" if row["batching"] else "off"


def find(
    rows: Iterable[dict[str, Any]], scenario: str, concurrency: int, batching: bool | None = True, workers: int = 1
) -> dict | None:
    """The row of ``scenario`` at ``concurrency``: with ``batching`` on or off for the model scenarios, and from
    the server with ``workers`` processes (rows without the key, from older runs, are one process's)."""
    for row in rows:
        if row["scenario"] != scenario or row["concurrency"] != concurrency:
            continue
        if (row.get("workers") or 1) != workers:
            continue
        if scenario not in MODEL_SCENARIOS or row.get("batching") == batching:
            return row
    return None


def device_type(data: dict[str, Any]) -> str:
    device = str(data.get("server", {}).get("device") or data.get("config", {}).get("device") or "cpu")
    return device.split(":")[0]


def _check(name: str, value: float | None, target: float, op: str, applies: bool, detail: str = "") -> dict[str, Any]:
    ok = None if value is None else (value >= target if op == ">=" else value <= target)
    return {"name": name, "value": value, "target": target, "op": op, "pass": ok, "applies": applies, "detail": detail}


def _ratio(a: dict | None, b: dict | None, key: str = "requests_per_s") -> float | None:
    if not a or not b:
        return None
    x, y = _value(a, key), _value(b, key)
    return x / y if y else None


def _value(row: dict[str, Any], key: str) -> float:
    if key.startswith("p") and key.endswith("_ms"):
        return float(row["latency_ms"][key[:-3]])
    return float(row[key])


def checks(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with its measured value; ``applies`` says if it is a target on this device."""
    rows = data.get("results", [])
    conc = data["config"].get("ratio_concurrency", 16)
    levels = sorted({row["concurrency"] for row in rows}) or [conc]
    on_gpu = device_type(data) == "cuda"
    return _cpu_checks(data, conc, not on_gpu) + _batching_checks(rows, levels[0], levels[-1], on_gpu)


def _cpu_checks(data: dict[str, Any], conc: int, applies: bool) -> list[dict[str, Any]]:
    """The CPU targets: requests/s against the health route and the naive baseline, and the cold start."""
    rows = data.get("results", [])
    health, naive = find(rows, "health", conc), find(rows, "naive", conc)
    image, text = find(rows, "image", conc, True), find(rows, "text", conc, True)
    ratios = [  # (route, its row, the row it is compared with, that row's name, target)
        ("/predict/image", image, health, "health", CPU_TARGETS["image_vs_health"]),
        ("/predict/text", text, health, "health", CPU_TARGETS["text_vs_health"]),
        ("/predict/image", image, naive, "naive baseline", CPU_TARGETS["vs_naive"]),
        ("/predict/text", text, naive, "naive baseline", CPU_TARGETS["vs_naive"]),
    ]
    out = [
        _check(f"{route} ÷ {base_name}, req/s @{conc}", _ratio(row, base), target, ">=", applies)
        for route, row, base, base_name, target in ratios
        if row and base
    ]
    cold = data.get("cold_start") or {}
    if cold.get("runs_s"):
        name = f"cold start to first /predict/image, median of {len(cold['runs_s'])} (s)"
        out.append(_check(name, cold["median_s"], CPU_TARGETS["cold_start_s"], "<=", applies))
    return out


def _batching_checks(rows: list[dict[str, Any]], low: int, high: int, applies: bool) -> list[dict[str, Any]]:
    """The GPU targets: batching on against off, requests/s at the highest concurrency and p50 at the lowest."""
    out: list[dict[str, Any]] = []
    for scenario in MODEL_SCENARIOS:
        on, off = find(rows, scenario, high, True), find(rows, scenario, high, False)
        if on and off:
            name = f"{scenario}: batching on ÷ off, req/s @{high}"
            out.append(_check(name, _ratio(on, off), GPU_TARGETS["batched_vs_unbatched"], ">=", applies))
    for scenario in MODEL_SCENARIOS:
        on, off = find(rows, scenario, low, True), find(rows, scenario, low, False)
        if on and off:
            name = f"{scenario}: p50 @{low}, batching on ÷ off"
            out.append(_check(name, _ratio(on, off, "p50_ms"), GPU_TARGETS["p50_c1_slowdown"], "<=", applies))
    return out


# Comparisons without a target: (name, scenario, scenario it is divided by).
PEER_RATIOS = (
    ("/predict/image ÷ the plain peer's POST /predict", "image", "plain"),
    ("/predict/image ÷ health (the course server's floor)", "image", "health"),
    ("plain POST /predict ÷ plain health (the plain peer's floor)", "plain", "plain-health"),
    ("plain health ÷ health (floor ÷ floor)", "plain-health", "health"),
)


def ratios(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Requests/s compared without a target: the course server against the plain peer and each against its own
    health route, at the ratio concurrency; then every row of a server with several workers against the same
    row of one process."""
    rows = data.get("results", [])
    conc = data["config"].get("ratio_concurrency", 16)
    out = []
    for name, scenario, base in PEER_RATIOS:
        value = _ratio(find(rows, scenario, conc), find(rows, base, conc))
        if value is not None:
            out.append({"name": f"{name}, req/s @{conc}", "value": value})
    for row in rows:
        workers = row.get("workers") or 1
        if workers > 1:
            one = find(rows, row["scenario"], row["concurrency"], row.get("batching"), workers=1)
            value = _ratio(row, one)
            if value is not None:
                name = f"{row['scenario']}: {workers} workers ÷ 1, req/s @{row['concurrency']}"
                out.append({"name": name, "value": value})
    return out


def verdict(check: dict[str, Any]) -> str:
    if check["pass"] is None:
        return "n/a"
    if check["pass"]:
        word = "PASS"
    else:
        value, target = check["value"], check["target"]
        gap = (target - value) / target if check["op"] == ">=" else (value - target) / target
        word = f"MISS by {gap:.0%}"
    return word if check["applies"] else f"({word}; target on {'GPU' if 'batching' in check['name'] else 'CPU'})"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _target(check: dict[str, Any]) -> str:
    return f"{'≥' if check['op'] == '>=' else '≤'} {check['target']:g}"


def _rows_table(rows: list[dict[str, Any]]) -> list[list[str]]:
    table = []
    for row in rows:
        table.append(
            [
                label(row),
                batching_label(row),
                str(row["concurrency"]),
                f"{row['requests_per_s']:.1f}",
                f"{row['latency_ms']['p50']:.2f}",
                f"{row['latency_ms']['p99']:.2f}",
                str(row["error_count"]),
                _fmt(row.get("server_cpu_cores")),
                _fmt(row.get("wrk_cpu_cores")),
            ]
        )
    return table


ROW_HEADER = ["scenario", "batching", "conc", "req/s", "p50 ms", "p99 ms", "errors", "server CPU", "wrk CPU"]
CHECK_HEADER = ["check", "value", "target", "result"]
RATIO_HEADER = ["comparison", "value"]


def console(data: dict[str, Any]) -> str:
    """A plain-text summary: every row, then the checks."""
    lines = [_plain(ROW_HEADER, _rows_table(data.get("results", [])), right_from=2), ""]
    found = checks(data)
    if found:
        lines.append(_plain(CHECK_HEADER, [[c["name"], _fmt(c["value"]), _target(c), verdict(c)] for c in found]))
    compared = ratios(data)
    if compared:
        lines += ["", _plain(RATIO_HEADER, [[r["name"], _fmt(r["value"])] for r in compared])]
    cold = data.get("cold_start") or {}
    if cold.get("runs_s"):
        lines.append("")
        lines.append(_cold_line(cold))
    return "\n".join(lines)


def _cold_line(cold: dict[str, Any]) -> str:
    runs = ", ".join(f"{s:.2f}" for s in cold["runs_s"])
    line = (
        f"Cold start (spawn `course-api serve` to first 200 from POST /predict/image): {runs} s; "
        f"median {cold['median_s']:.2f} s"
    )
    if cold.get("load_seconds"):
        line += f" (of which model loading in the lifespan: {statistics.median(cold['load_seconds']):.2f} s)"
    return line + "."


def _plain(header: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    widths = (
        [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
        if rows
        else [len(h) for h in header]
    )

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i >= right_from else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _md(header: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    align = ["---:" if i >= right_from else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def markdown(data: dict[str, Any]) -> str:
    """The README section for this run: command, machine, every row, the checks, cold start."""
    m, cfg = data["machine"], data["config"]
    device = data.get("server", {}).get("device") or cfg.get("device") or "auto"
    gpu = f"; GPU {m['gpu']}" if m.get("gpu") else ""
    command = f"`{data['command']}`" + (" (`make bench`)" if data["command"] == "python -m benchmarks.run" else "")
    lines = [
        f"Measured {data['created']} on `{m['hostname']}` with {command} (commit {m.get('commit', '?')}).",
        "",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores{gpu}; {m['platform']}",
        f"- Python {m['python']}, torch {m['torch']}, fastapi {m['fastapi']}, uvicorn {m['uvicorn']}, {m['wrk']}",
        f"- Model device: {device}. Each row: {cfg['duration_s']} s of load after {cfg['warmup_s']} s of warm-up, "
        f"wrk with {cfg['wrk_threads']} thread(s) and `conc` keep-alive connections, on 127.0.0.1.",
        f"- Load average before / after: {_load(m.get('loadavg_before'))} / {_load(data.get('loadavg_after'))}"
        + (f". {cfg['note']}" if cfg.get("note") else ""),
        "",
        _md(ROW_HEADER, _rows_table(data.get("results", [])), right_from=2),
        "",
    ]
    found = checks(data)
    if found:
        lines += [_md(CHECK_HEADER, [[c["name"], _fmt(c["value"]), _target(c), verdict(c)] for c in found]), ""]
    compared = ratios(data)
    if compared:
        lines += [_md(RATIO_HEADER, [[r["name"], _fmt(r["value"])] for r in compared]), ""]
    cold = data.get("cold_start") or {}
    if cold.get("runs_s"):
        lines += [_cold_line(cold), ""]
    return "\n".join(lines).rstrip() + "\n"


def _load(values: Any) -> str:
    return "-" if not values else " ".join(f"{v:.2f}" for v in values)


def markers(key: str) -> tuple[str, str]:
    return f"<!-- bench:{key}:begin -->", f"<!-- bench:{key}:end -->"


def update_readme(section: str, key: str, path: Path = README) -> Path:
    """Replace the text between the ``bench:<key>`` markers of ``path`` with ``section``."""
    begin, end = markers(key)
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {begin} ... {end} markers: add them where the {key} results belong.")
    path.write_text(pattern.sub(lambda _: f"{begin}\n{section.rstrip()}\n{end}", text), encoding="utf-8")
    return path
