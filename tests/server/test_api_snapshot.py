"""What a client sees does not change when the code changes shape: the course server answers a corpus of requests
(every route, good requests and each kind of mistake; tests/api_corpus.py) byte for byte as recorded in
tests/snapshots/api_answers.json, /openapi.json included. Timings are masked."""

from __future__ import annotations

import json

from api_corpus import SNAPSHOT, answers


def test_every_route_answers_as_recorded():
    recorded = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    now = answers()
    assert [a["request"] for a in now] == [a["request"] for a in recorded], "the corpus changed: record it again"
    changed = [f"{a['request']}: {a['status']} {a['type']}" for a, b in zip(now, recorded, strict=True) if a != b]
    assert not changed, "answers differ from the recording (python -m api_corpus record, from tests/):\n" + "\n".join(
        changed
    )
