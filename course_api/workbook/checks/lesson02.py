"""Checks for notebook 02, JSON: round trips, JSON-safe data, JSON bodies, pydantic models."""

from __future__ import annotations

import base64
import copy
import json
import math
from datetime import UTC, datetime
from typing import Any

from course_api.workbook.checks.common import base_url, error_detail, require_response
from course_api.workbook.checks.errors import raised
from course_api.workbook.checks.registry import exercise, fail


def _back_and_changed(course: Any, parsed: Any, back: Any, changed: Any) -> None:
    if isinstance(back, str | bytes):
        fail("`back` is still JSON text: json.loads(text) turns the text back into Python data (a dict).")
    if course is not None and back == course and back != parsed:
        fail("`back` is the original `course`; it should come from the text, through json.loads(text).")
    if back != parsed:
        fail("`back` should be json.loads(text).")
    if not isinstance(changed, str):
        fail(f"`changed` is {changed!r}; it should be the name of the key, a str such as 'title'.")
    if isinstance(course, dict) and isinstance(back, dict) and changed in course and changed != "topics":
        fail(
            f"course[{changed!r}] and back[{changed!r}] are equal ({course[changed]!r} both times): that value "
            "survived the trip. Compare back[key] == course[key] for every key: which one differs, and why?"
        )
    if changed != "topics":
        fail(f"`changed` is {changed!r}. Compare back[key] == course[key] for every key: which one differs, and why?")


@exercise(
    "02.1",
    "a round trip through JSON",
    needs=("text", "back", "changed"),
    points=1,
    hints=(
        'Look at notebooks/02_json.ipynb, section 1 "JSON values and Python types": the table of types, and the '
        "round trip that does not give back what went in.",
        "json.dumps writes Python data as JSON text (a str); json.loads reads JSON text back into Python data. "
        "JSON has fewer kinds of value than Python, so one value of `course` comes back as another type: compare "
        "course[key] with back[key] for each key.",
        "JSON has only one kind of array: a tuple is written as an array and read back as a list, and "
        "('http', 'json') != ['http', 'json']. `changed` is the name of that key, a string.",
    ),
)
def _02_1(ns: dict[str, Any]) -> str:
    course = ns.get("course")
    text, back, changed = ns["text"], ns["back"], ns["changed"]
    if not isinstance(text, str):
        fail(f"`text` should be a str made by json.dumps, not a {type(text).__name__}.")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        if course is not None and text == str(course):
            fail(
                "`text` is Python's own way of writing the dict, str(course), not JSON: JSON needs double quotes, "
                "true/false and null. Make it with json.dumps(course)."
            )
        fail(f"`text` is not valid JSON ({exc}); make it with json.dumps(course).")
    if course is not None and parsed != json.loads(json.dumps(course)):
        fail("`text` does not hold the `course` dict: use json.dumps(course).")
    _back_and_changed(course, parsed, back, changed)
    return "a tuple comes back as a list: JSON has only one kind of array."


def _same(a: Any, b: Any) -> bool:
    """``a == b``, where two NaN floats count as the same."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(type(a) is type(b) and a == b)


def _when_is_iso(value: Any, when: datetime) -> None:
    if isinstance(value, datetime):
        fail("'when' is still a datetime, which JSON cannot hold: turn it into text with its .isoformat() method.")
    if value == str(when):
        fail(
            f"'when' is {value!r}, what str() writes: ISO 8601 puts a T between the date and the time. Use the "
            "datetime's .isoformat() method."
        )
    if value != when.isoformat():
        fail(f"'when' should be the ISO 8601 string event['when'].isoformat(), got {value!r}.")


def _image_is_base64(value: Any, data: bytes) -> None:
    encoded = base64.b64encode(data)
    if value == encoded:
        fail("'image' is base64, but still bytes: base64.b64encode returns bytes. Add .decode('ascii') to make a str.")
    if isinstance(value, bytes):
        fail("'image' is still bytes, which JSON cannot hold: encode it as base64 text with base64.b64encode.")
    if value == str(data):
        fail("'image' is str(bytes), Python's b'...' form, not base64: use base64.b64encode(data).decode('ascii').")
    if not isinstance(value, str):
        fail(f"'image' should be a base64 string, got {type(value).__name__}.")
    try:
        decoded = base64.b64decode(value, validate=True)
    except ValueError:
        fail("'image' is not valid base64: use base64.b64encode(data).decode('ascii').")
    if decoded != data:
        fail("'image' does not decode back to the original bytes.")


def _score_is_none(value: Any) -> None:
    if isinstance(value, float) and math.isnan(value):
        fail(
            "'score' is still NaN. NaN is not equal to anything, itself included, so value == float('nan') is "
            "never true: test it with math.isnan(value) (for floats only), and put None instead."
        )
    if value is not None:
        fail(f"'score' is NaN in event; JSON has no NaN: map it to None (null). Got {value!r}.")


def _other_event() -> dict[str, Any]:
    return {
        "name": "second",
        "created": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "thumbnail": b"\x00\xff\x10",
        "loss": float("nan"),
        "count": 3,
        "ratio": 0.5,
        "ok": True,
        "tags": ["a", "b"],
        "nothing": None,
    }


def _works_for_any_keys(to_json_safe: Any) -> None:
    other = _other_event()
    expected = {
        **other,
        "created": other["created"].isoformat(),
        "thumbnail": base64.b64encode(other["thumbnail"]).decode("ascii"),
        "loss": None,
    }
    try:
        got = to_json_safe(other)
    except Exception as error:
        fail(
            raised(
                f"to_json_safe(d) for a dict d with other keys ({', '.join(other)})",
                error,
                "It works for `event`, but not for other data: decide by each value's type (isinstance), never "
                "by the key's name.",
            )
        )
    if not _same(got, expected):
        fail(
            f"to_json_safe works for `event`, but not for a dict with other keys: it made {got!r} of {other!r}. "
            "Decide by each value's type (isinstance), never by the key's name."
        )


@exercise(
    "02.2",
    "making data JSON-safe",
    needs=("to_json_safe", "event"),
    points=2,
    hints=(
        'Look at notebooks/02_json.ipynb, section 5 "What JSON cannot hold": bytes (5.1), NaN (5.2) and dates '
        "(5.3), with what to send instead of each, and the to_json function at the end of section 5.",
        "Build a new dict: go through the items of the one you get, and copy each value, converted when its type "
        "needs it. Test the type with isinstance: a datetime becomes its ISO 8601 text, bytes become base64 "
        "text, a float that is NaN becomes None; everything else is copied unchanged.",
        "The conversions: value.isoformat(); base64.b64encode(value).decode('ascii'); and for NaN, "
        "isinstance(value, float) and math.isnan(value) (NaN == NaN is False, so == cannot find it).",
    ),
)
def _02_2(ns: dict[str, Any]) -> str:
    event = ns["event"]
    original = copy.deepcopy(event)
    safe = ns["to_json_safe"](event)
    if not isinstance(safe, dict):
        kind = "JSON text" if isinstance(safe, str) else f"a {type(safe).__name__}"
        fail(f"to_json_safe returned {kind}; it should return a dict (json.dumps comes later, outside it).")
    if safe is event or not _same(event, original):
        fail("to_json_safe changed `event` itself: build a new dict (start from {}) and leave `event` as it is.")
    _when_is_iso(safe.get("when"), original["when"])
    _image_is_base64(safe.get("image"), original["image"])
    _score_is_none(safe.get("score", "missing"))
    if set(safe) != set(original) or safe.get("label") != original.get("label"):
        fail("Values that are already JSON-safe (like 'label') should stay as they are, under the same keys.")
    try:
        json.dumps(safe, allow_nan=False)
    except (TypeError, ValueError) as exc:
        fail(f"json.dumps(to_json_safe(event), allow_nan=False) still fails: {exc}")
    _works_for_any_keys(ns["to_json_safe"])
    return "dates as ISO strings, bytes as base64, NaN as null: any JSON parser can read it now."


@exercise(
    "02.3",
    "sending a JSON body",
    needs=("negative_response",),
    points=1,
    hints=(
        'Look at notebooks/02_json.ipynb, section 4 "Sending JSON: json= versus data=": which argument of '
        "requests.post sends a dict as a JSON body, and what the server answers to the other one.",
        "Send a POST to /predict/text on `base_url`. Its body is a JSON object with one key, text, whose value "
        "is your sentence. Pass the dict with json=, which writes it as JSON and sets the Content-Type header. "
        "Then try sentences until the model's label is negative.",
        'The key call: requests.post(f"{base_url}/predict/text", json={"text": "a sad sentence"}, timeout=10).',
    ),
)
def _02_3(ns: dict[str, Any]) -> str:
    response = require_response(ns["negative_response"], "negative_response", "requests.post(...)")
    if response.request.method != "POST" or not response.url.endswith("/predict/text"):
        fail(f"Send a POST to /predict/text; your request was {response.request.method} {response.url}.")
    if response.status_code == 422:
        sent_type = response.request.headers.get("Content-Type", "")
        if "application/json" not in sent_type:
            fail(
                "The server answered 422: send the body with json={'text': ...} (not data=), "
                f"so it is JSON. The server said: {error_detail(response)}"
            )
        fail(
            "The server answered 422: your body is JSON, but not the object POST /predict/text expects, "
            "{'text': 'your sentence'} (a dict whose key is text, with a sentence that is not empty). "
            f"The server said: {error_detail(response)}"
        )
    if response.status_code != 200:
        fail(f"Expected 200, got {response.status_code}.")
    sent = json.loads(response.request.body)
    label = response.json()["label"]
    if label != "negative":
        fail(f"The model read {sent.get('text')!r} as {label}: write a sentence it finds negative.")
    return f"{sent['text']!r} is negative ({response.json()['score']:.0%} sure)."


def _validation_error_expected(model: Any, data: Any, why: str, at: tuple[str | int, ...] | None = None) -> None:
    """Fail unless the pydantic ``model`` refuses ``data``; ``why`` says what is wrong with it. With ``at``, an
    error must be found at that location (a field's own rule, not only a check of the whole model)."""
    from pydantic import ValidationError

    try:
        model.model_validate(data)
    except ValidationError as exc:
        if at is None or any(tuple(error["loc"]) == at for error in exc.errors()):
            return
        place = ".".join(map(str, at))
        fail(
            f"{model.__name__} refused a document where {why}, but only through a check of the whole model, not "
            f"at the field {place}: give that field a rule of its own.\n{exc}"
        )
    fail(f"{model.__name__} accepted a document where {why}; it should raise ValidationError.")


def _accepts(model: Any, data: Any, what: str, advice: str) -> Any:
    """``model.model_validate(data)``, or fail saying that a valid ``what`` was refused, and ``advice``."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fail(f"{model.__name__} refuses {what}. {advice}\n{exc}")


def _is_model(value: Any, name: str) -> None:
    from pydantic import BaseModel

    if not (isinstance(value, type) and issubclass(value, BaseModel)):
        fail(f"{name} should be a class that inherits from pydantic.BaseModel: class {name}(BaseModel).")


@exercise(
    "02.4",
    "a pydantic model for the people in space",
    needs=("PeopleInSpace", "Astronaut"),
    points=2,
    hints=(
        'Look at notebooks/02_json.ipynb, section 6 "Validating with pydantic": a model is a class with one '
        "typed attribute per field, and a field can hold a list of another model.",
        "Astronaut has two str fields. PeopleInSpace has message (str), number (int) and people (a list of "
        "Astronaut). A rule on one field goes in Field(...): ge means greater than or equal. A rule that "
        'compares two fields goes in a method decorated with @model_validator(mode="after"), which raises '
        "ValueError when the document is wrong and returns self when it is right.",
        "The key lines: number: int = Field(ge=0) (or Annotated[int, Field(ge=0)]); and in the validator, "
        "if self.number != len(self.people): raise ValueError(...), then return self.",
    ),
)
def _02_4(ns: dict[str, Any]) -> str:
    import requests

    model, person = ns["PeopleInSpace"], ns["Astronaut"]
    _is_model(person, "Astronaut")
    _is_model(model, "PeopleInSpace")
    document = requests.get(f"{base_url(ns, 'base_url')}/astros.json", timeout=10).json()
    parsed = _accepts(model, document, "the real /astros.json document", "Compare your fields with the document.")
    if parsed is None:
        fail(
            'PeopleInSpace.model_validate(document) returned None: a model_validator(mode="after") must end '
            "with `return self`."
        )
    if not all(isinstance(p, person) for p in parsed.people):
        fail("`people` should be a list[Astronaut], so each person is an Astronaut object.")
    _accepts(
        model,
        {"message": "success", "number": 0, "people": []},
        "a document with number 0 and no people",
        "Nobody in space is allowed: use ge=0 (greater than or equal), not gt=0.",
    )
    _validation_error_expected(model, {k: v for k, v in document.items() if k != "people"}, "'people' is missing")
    _validation_error_expected(model, {**document, "number": -1}, "number is -1 (use Field(ge=0))", ("number",))
    _validation_error_expected(
        model,
        {**document, "number": 1, "people": [{"name": "Ada"}]},
        "a person has no craft (Astronaut needs craft: str)",
        ("people", 0, "craft"),
    )
    _validation_error_expected(
        model,
        {**document, "number": document["number"] + 1},
        "number does not match the length of people (add a model_validator)",
    )
    return "it accepts the real document and refuses the broken ones."


def _accepts_pixels(model: Any) -> None:
    def image(first: float) -> list[list[float]]:
        return [[first] + [0.0] * 7] + [[0.0] * 8 for _ in range(7)]

    _accepts(
        model,
        {"images": [image(7.5)]},
        "a pixel of 7.5",
        "A pixel is a number from 0 to 16, whole or not: use float, not int.",
    )
    _accepts(
        model,
        {"images": [image(16)]},
        "a pixel of 16",
        "16 is allowed: le=16 (less than or equal), not lt=16 or le=15.",
    )
    _accepts(
        model,
        {"images": [image(0)]},
        "a pixel of 0",
        "0 is allowed: ge=0 (greater than or equal), not gt=0.",
    )
    _accepts(model, {"images": [image(0.0), image(3)]}, "a valid batch of two 8x8 images", "Compare with the rules.")


@exercise(
    "02.5",
    "validating a batch of pixels",
    needs=("PixelBatch",),
    points=3,
    hints=(
        'Look at notebooks/02_json.ipynb, sections 5.2 "NaN and infinity" and 6 "Validating with pydantic": '
        "Field(...) puts rules on a value; typing.Annotated attaches those rules to a type.",
        "Build the type from the inside out: a pixel is a float from 0 to 16 that is not NaN or infinity; a row "
        "is a list of exactly 8 pixels; an image is a list of exactly 8 rows; `images` is a list of at least one "
        "image. Give each level a name (Pixel = Annotated[...]) and use it in the next one.",
        "The rules: Field(ge=0, le=16, allow_inf_nan=False) on a float; Field(min_length=8, max_length=8) on a "
        "row list and on an image list; Field(min_length=1) on images. For example "
        "Row = Annotated[list[Pixel], Field(min_length=8, max_length=8)].",
    ),
)
def _02_5(ns: dict[str, Any]) -> str:
    model = ns["PixelBatch"]
    _is_model(model, "PixelBatch")
    _accepts_pixels(model)
    row = [0] * 8
    _validation_error_expected(model, {"images": []}, "the batch is empty (use Field(min_length=1) on images)")
    _validation_error_expected(model, {"images": [[row] * 7]}, "an image has 7 rows (min_length=8)")
    _validation_error_expected(model, {"images": [[row] * 9]}, "an image has 9 rows (max_length=8)")
    _validation_error_expected(model, {"images": [[[0] * 7] * 8]}, "a row has 7 values (min_length=8)")
    _validation_error_expected(model, {"images": [[[0] * 9] * 8]}, "a row has 9 values (max_length=8)")
    _validation_error_expected(model, {"images": [[[17] + [0] * 7] + [row] * 7]}, "a value is 17 (the range is 0..16)")
    _validation_error_expected(model, {"images": [[[-1] + [0] * 7] + [row] * 7]}, "a value is negative")
    for value, name in ((math.nan, "NaN"), (math.inf, "infinity")):
        _validation_error_expected(
            model, {"images": [[[value] + [0] * 7] + [row] * 7]}, f"a value is {name} (use allow_inf_nan=False)"
        )
    return "shape, range and NaN are all checked before any model sees the data."
