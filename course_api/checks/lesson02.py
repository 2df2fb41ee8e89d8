"""Checks for notebook 02, JSON: round trips, JSON-safe data, JSON bodies, pydantic models."""

from __future__ import annotations

import json
import math
from typing import Any

from course_api.checks.common import base_url, error_detail, require_response
from course_api.checks.registry import exercise, fail


@exercise("02.1", "a round trip through JSON", needs=("text", "back", "changed"))
def _02_1(ns: dict[str, Any]) -> str:
    course = ns.get("course")
    text, back, changed = ns["text"], ns["back"], ns["changed"]
    if not isinstance(text, str):
        fail(f"`text` should be a str made by json.dumps, not a {type(text).__name__}.")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"`text` is not valid JSON ({exc}); make it with json.dumps(course).")
    if course is not None and parsed != json.loads(json.dumps(course)):
        fail("`text` does not hold the `course` dict: use json.dumps(course).")
    if back != parsed:
        fail("`back` should be json.loads(text).")
    if changed != "topics":
        fail(f"`changed` is {changed!r}. Compare back[key] == course[key] for every key: which one differs, and why?")
    return "a tuple comes back as a list: JSON has only one kind of array."


@exercise("02.2", "making data JSON-safe", needs=("to_json_safe", "event"))
def _02_2(ns: dict[str, Any]) -> str:
    import base64
    from datetime import datetime

    event = ns["event"]
    safe = ns["to_json_safe"](event)
    if safe is event:
        fail("to_json_safe should return a new dict, not the same one.")
    try:
        text = json.dumps(safe, allow_nan=False)
    except (TypeError, ValueError) as exc:
        fail(f"json.dumps(to_json_safe(event), allow_nan=False) still fails: {exc}")
    back = json.loads(text)
    when = back.get("when")
    if not isinstance(when, str) or datetime.fromisoformat(when) != event["when"]:
        fail(f"'when' should be the ISO 8601 string event['when'].isoformat(), got {when!r}.")
    image = back.get("image")
    if not isinstance(image, str):
        fail(f"'image' should be a base64 string, got {type(image).__name__}.")
    try:
        decoded = base64.b64decode(image, validate=True)
    except ValueError:
        fail("'image' is not valid base64: use base64.b64encode(data).decode('ascii').")
    if decoded != event["image"]:
        fail("'image' does not decode back to the original bytes.")
    if back.get("score", "missing") is not None:
        fail(f"'score' is NaN in event; JSON has no NaN: map it to None (null). Got {back.get('score')!r}.")
    if back.get("label") != event.get("label"):
        fail("Values that are already JSON-safe (like 'label') should stay as they are.")
    return "dates as ISO strings, bytes as base64, NaN as null: any JSON parser can read it now."


@exercise("02.3", "sending a JSON body", needs=("negative_response",))
def _02_3(ns: dict[str, Any]) -> str:
    response = require_response(ns["negative_response"], "negative_response")
    if response.request.method != "POST" or not response.url.endswith("/predict/text"):
        fail(f"Send a POST to /predict/text; your request was {response.request.method} {response.url}.")
    if response.status_code == 422:
        fail(
            "The server answered 422: send the body with json={'text': ...} (not data=), "
            f"so it is JSON. The server said: {error_detail(response)}"
        )
    if response.status_code != 200:
        fail(f"Expected 200, got {response.status_code}.")
    sent = json.loads(response.request.body)
    label = response.json()["label"]
    if label != "negative":
        fail(f"The model read {sent.get('text')!r} as {label}: write a sentence it finds negative.")
    return f"{sent['text']!r} is negative ({response.json()['score']:.0%} sure)."


def _validation_error_expected(model: Any, data: Any, why: str) -> None:
    """Fail unless the pydantic ``model`` refuses ``data``; ``why`` says what is wrong with it."""
    from pydantic import ValidationError

    try:
        model.model_validate(data)
    except ValidationError:
        return
    fail(f"{model.__name__} accepted a document where {why}; it should raise ValidationError.")


@exercise("02.4", "a pydantic model for /astros.json", needs=("PeopleInSpace", "Astronaut"))
def _02_4(ns: dict[str, Any]) -> str:
    import requests
    from pydantic import BaseModel, ValidationError

    model, person = ns["PeopleInSpace"], ns["Astronaut"]
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        fail("PeopleInSpace should be a class that inherits from pydantic.BaseModel.")
    document = requests.get(f"{base_url(ns, 'api_url')}/astros.json", timeout=10).json()
    try:
        parsed: Any = model.model_validate(document)  # the student's model, with `people`
    except ValidationError as exc:
        fail(f"PeopleInSpace rejects the real document:\n{exc}")
    if not all(isinstance(p, person) for p in parsed.people):
        fail("`people` should be a list[Astronaut], so each person is an Astronaut object.")
    _validation_error_expected(model, {k: v for k, v in document.items() if k != "people"}, "'people' is missing")
    _validation_error_expected(model, {**document, "number": -1}, "number is -1 (use Field(ge=0))")
    _validation_error_expected(model, {**document, "people": [{"name": "Ada"}]}, "a person has no craft")
    _validation_error_expected(
        model,
        {**document, "number": document["number"] + 1},
        "number does not match the length of people (add a model_validator)",
    )
    return "it accepts the real document and refuses four broken ones."


@exercise("02.5", "validating a batch of pixels", needs=("PixelBatch",))
def _02_5(ns: dict[str, Any]) -> str:
    from pydantic import ValidationError

    model = ns["PixelBatch"]
    good = {"images": [[[0.0] * 8 for _ in range(8)], [[16] * 8 for _ in range(8)]]}
    try:
        model.model_validate(good)
    except ValidationError as exc:
        fail(f"PixelBatch rejects a valid batch of two 8x8 images:\n{exc}")
    row = [0] * 8
    _validation_error_expected(model, {"images": []}, "the batch is empty")
    _validation_error_expected(model, {"images": [[row] * 7]}, "an image has 7 rows")
    _validation_error_expected(model, {"images": [[[0] * 9] * 8]}, "a row has 9 values")
    _validation_error_expected(model, {"images": [[[17] + [0] * 7] + [row] * 7]}, "a value is 17 (the range is 0..16)")
    _validation_error_expected(model, {"images": [[[-1] + [0] * 7] + [row] * 7]}, "a value is negative")
    _validation_error_expected(
        model, {"images": [[[math.nan] + [0] * 7] + [row] * 7]}, "a value is NaN (use allow_inf_nan=False)"
    )
    return "shape, range and NaN are all checked before any model sees the data."
