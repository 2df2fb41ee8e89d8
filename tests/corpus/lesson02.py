"""Lesson 02, JSON: answers students write for the exercises of solutions/02_json.ipynb."""

from __future__ import annotations

from corpus import correct, mistake

# Each case starts from a copy of the namespace after the setup cell (the server, `base_url`); the cells before
# the exercise make `course` and `event` again, so a case that changes them leaves the next one untouched.
# pydantic looks up the names in a model's annotations (`people: list[Astronaut]`) in the module named by the
# class's __module__. IPython makes the notebook's namespace the module __main__; the cases run with exec, so make
# this namespace a module too (the test's compile() also inherits its `from __future__ import annotations`, which
# turns every annotation into a string that must be looked up).
RESET = """
import sys


class _Worksheet:
    pass


_worksheet = _Worksheet()
_worksheet.__dict__ = globals()
__name__ = "worksheet_02"
sys.modules[__name__] = _worksheet
"""

SOLUTION_02_2_TAIL = """
        elif isinstance(value, float) and math.isnan(value):
            value = None
        safe[key] = value
    return safe
"""

CASES = [
    # 02.1 a round trip through JSON
    mistake(
        "02.1",
        "forgets json.loads",
        """
text = json.dumps(course)
back = text
changed = "topics"
""",
        "still JSON text",
        "json.loads(text)",
    ),
    mistake(
        "02.1",
        "compares with the original instead of the text",
        """
text = json.dumps(course)
back = course
changed = "topics"
""",
        "the original `course`",
        "json.loads(text)",
    ),
    mistake(
        "02.1",
        "a list of the changed keys",
        """
text = json.dumps(course)
back = json.loads(text)
changed = [key for key in course if course[key] != back[key]]
""",
        "['topics']",
        "name of the key",
    ),
    mistake(
        "02.1",
        "thinks None does not survive",
        """
text = json.dumps(course)
back = json.loads(text)
changed = "rating"
""",
        "course['rating'] and back['rating'] are equal",
        "survived the trip",
    ),
    mistake(
        "02.1",
        "the value instead of the key",
        """
text = json.dumps(course)
back = json.loads(text)
changed = course["topics"]
""",
        "('http', 'json')",
        "name of the key",
    ),
    correct(
        "02.1",
        "indented JSON and a loop",
        """
text = json.dumps(course, indent=2)
back = json.loads(text)
for key in course:
    if back[key] != course[key]:
        changed = key
""",
    ),
    # 02.2 making data JSON-safe
    mistake(
        "02.2",
        "changes the dict it was given",
        """
def to_json_safe(data):
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
        elif isinstance(value, bytes):
            data[key] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, float) and math.isnan(value):
            data[key] = None
    return data
""",
        "changed `event` itself",
        "new dict",
    ),
    mistake(
        "02.2",
        "str() for the date",
        """
def to_json_safe(data):
    safe = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            value = str(value)
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")"""
        + SOLUTION_02_2_TAIL,
        "what str() writes",
        ".isoformat()",
    ),
    mistake(
        "02.2",
        "forgets .decode('ascii') after b64encode",
        """
def to_json_safe(data):
    safe = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = base64.b64encode(value)"""
        + SOLUTION_02_2_TAIL,
        "still bytes",
        ".decode('ascii')",
    ),
    mistake(
        "02.2",
        "decodes the image bytes as text",
        """
def to_json_safe(data):
    safe = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = value.decode("utf-8")"""
        + SOLUTION_02_2_TAIL,
        "UnicodeDecodeError",
        "base64",
    ),
    mistake(
        "02.2",
        "looks for NaN with ==",
        """
def to_json_safe(data):
    safe = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        elif value == float("nan"):
            value = None
        safe[key] = value
    return safe
""",
        "still NaN",
        "math.isnan(value)",
    ),
    mistake(
        "02.2",
        "math.isnan on every value",
        """
def to_json_safe(data):
    safe = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        elif math.isnan(value):
            value = None
        safe[key] = value
    return safe
""",
        "TypeError",
        "isinstance(value, float)",
    ),
    mistake(
        "02.2",
        "works only for the keys of event",
        """
def to_json_safe(data):
    safe = dict(data)
    safe["when"] = data["when"].isoformat()
    safe["image"] = base64.b64encode(data["image"]).decode("ascii")
    safe["score"] = None
    return safe
""",
        "raised KeyError",
        "never by the key's name",
    ),
    mistake(
        "02.2",
        "returns JSON text",
        """
def to_json_safe(data):
    safe = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        elif isinstance(value, float) and math.isnan(value):
            value = None
        safe[key] = value
    return json.dumps(safe)
""",
        "returned JSON text",
        "should return a dict",
    ),
    correct(
        "02.2",
        "a helper for one value and a dict comprehension",
        """
def convert(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and value != value:  # only NaN is not equal to itself
        return None
    return value


def to_json_safe(data: dict) -> dict:
    return {key: convert(value) for key, value in data.items()}
""",
    ),
    # 02.3 sending a JSON body
    mistake(
        "02.3",
        "data= instead of json=",
        'negative_response = requests.post(f"{base_url}/predict/text", data={"text": "This is awful"}, timeout=10)',
        "422",
        "json=",
    ),
    mistake(
        "02.3",
        "the wrong key in the body",
        'negative_response = requests.post(f"{base_url}/predict/text", json={"sentence": "This is awful"}, timeout=10)',
        "your body is JSON",
        "key is text",
    ),
    mistake(
        "02.3",
        "the sentence alone as the body",
        'negative_response = requests.post(f"{base_url}/predict/text", json="This is awful", timeout=10)',
        "not the object POST /predict/text expects",
        "{'text': 'your sentence'}",
    ),
    mistake(
        "02.3",
        "a positive sentence",
        'negative_response = requests.post(f"{base_url}/predict/text", json={"text": "I love this"}, timeout=10)',
        "as positive",
        "finds negative",
    ),
    mistake(
        "02.3",
        "GET with a query string",
        'negative_response = requests.get(f"{base_url}/predict/text", params={"text": "This is awful"}, timeout=10)',
        "Send a POST",
        "your request was GET",
    ),
    mistake(
        "02.3",
        "stores the prediction, not the Response",
        """
negative_response = requests.post(f"{base_url}/predict/text", json={"text": "This is awful"}, timeout=10).json()
""",
        "decoded body",
        "not the Response",
    ),
    correct(
        "02.3",
        "the body serialised by hand, with its header",
        """
negative_response = requests.post(
    base_url + "/predict/text",
    data=json.dumps({"text": "What a waste of time"}),
    headers={"Content-Type": "application/json"},
    timeout=10,
)
""",
    ),
    # 02.4 a pydantic model for the people in space
    mistake(
        "02.4",
        "a model_validator but no rule on number",
        """
from pydantic import BaseModel, model_validator


class Astronaut(BaseModel):
    name: str
    craft: str


class PeopleInSpace(BaseModel):
    message: str
    number: int
    people: list[Astronaut]

    @model_validator(mode="after")
    def number_matches_people(self):
        if self.number != len(self.people):
            raise ValueError("number does not match people")
        return self
""",
        "not at the field number",
        "Field(ge=0)",
    ),
    mistake(
        "02.4",
        "no model_validator",
        """
from pydantic import BaseModel, Field


class Astronaut(BaseModel):
    name: str
    craft: str


class PeopleInSpace(BaseModel):
    message: str
    number: int = Field(ge=0)
    people: list[Astronaut]
""",
        "number does not match the length of people",
        "model_validator",
    ),
    mistake(
        "02.4",
        "the validator forgets return self",
        """
from pydantic import BaseModel, Field, model_validator


class Astronaut(BaseModel):
    name: str
    craft: str


class PeopleInSpace(BaseModel):
    message: str
    number: int = Field(ge=0)
    people: list[Astronaut]

    @model_validator(mode="after")
    def number_matches_people(self):
        if self.number != len(self.people):
            raise ValueError("number does not match people")
""",
        "returned None",
        "return self",
    ),
    mistake(
        "02.4",
        "gt=0 instead of ge=0",
        """
from pydantic import BaseModel, Field, model_validator


class Astronaut(BaseModel):
    name: str
    craft: str


class PeopleInSpace(BaseModel):
    message: str
    number: int = Field(gt=0)
    people: list[Astronaut]

    @model_validator(mode="after")
    def number_matches_people(self):
        if self.number != len(self.people):
            raise ValueError("number does not match people")
        return self
""",
        "number 0",
        "not gt=0",
    ),
    mistake(
        "02.4",
        "people as a list of dicts",
        """
from pydantic import BaseModel, Field, model_validator


class Astronaut(BaseModel):
    name: str
    craft: str


class PeopleInSpace(BaseModel):
    message: str
    number: int = Field(ge=0)
    people: list[dict]

    @model_validator(mode="after")
    def number_matches_people(self):
        if self.number != len(self.people):
            raise ValueError("number does not match people")
        return self
""",
        "list[Astronaut]",
        "Astronaut object",
    ),
    mistake(
        "02.4",
        "forgets BaseModel",
        """
from pydantic import BaseModel


class Astronaut(BaseModel):
    name: str
    craft: str


class PeopleInSpace:
    message: str
    number: int
    people: list[Astronaut]
""",
        "inherits from pydantic.BaseModel",
        "class PeopleInSpace(BaseModel)",
    ),
    mistake(
        "02.4",
        "an Astronaut without craft",
        """
from pydantic import BaseModel, Field, model_validator


class Astronaut(BaseModel):
    name: str


class PeopleInSpace(BaseModel):
    message: str
    number: int = Field(ge=0)
    people: list[Astronaut]

    @model_validator(mode="after")
    def number_matches_people(self):
        if self.number != len(self.people):
            raise ValueError("number does not match people")
        return self
""",
        "a person has no craft",
        "should raise ValidationError",
    ),
    correct(
        "02.4",
        "Annotated number and a validator that checks the counts",
        """
from typing import Annotated

from pydantic import BaseModel, Field, model_validator


class Astronaut(BaseModel):
    name: str
    craft: str


class PeopleInSpace(BaseModel):
    message: str
    number: Annotated[int, Field(ge=0)]
    people: list[Astronaut]

    @model_validator(mode="after")
    def check_number(self) -> "PeopleInSpace":
        counted = len(self.people)
        if counted != self.number:
            raise ValueError(f"number says {self.number}, people has {counted}")
        return self
""",
    ),
    correct(
        "02.4",
        "pydantic's NonNegativeInt",
        """
from pydantic import BaseModel, NonNegativeInt, model_validator


class Astronaut(BaseModel):
    name: str
    craft: str


class PeopleInSpace(BaseModel):
    message: str
    number: NonNegativeInt
    people: list[Astronaut]

    @model_validator(mode="after")
    def number_matches_people(self):
        if self.number != len(self.people):
            raise ValueError("number does not match people")
        return self
""",
    ),
    # 02.5 validating a batch of pixels
    mistake(
        "02.5",
        "types without rules",
        """
from pydantic import BaseModel


class PixelBatch(BaseModel):
    images: list[list[list[float]]]
""",
        "the batch is empty",
        "min_length=1",
    ),
    mistake(
        "02.5",
        "no length rules on an image",
        """
from typing import Annotated

from pydantic import BaseModel, Field

Pixel = Annotated[float, Field(ge=0, le=16, allow_inf_nan=False)]
Row = Annotated[list[Pixel], Field(min_length=8, max_length=8)]


class PixelBatch(BaseModel):
    images: Annotated[list[list[Row]], Field(min_length=1)]
""",
        "an image has 7 rows",
        "min_length=8",
    ),
    mistake(
        "02.5",
        "whole-number pixels",
        """
from typing import Annotated

from pydantic import BaseModel, Field

Pixel = Annotated[int, Field(ge=0, le=16)]
Row = Annotated[list[Pixel], Field(min_length=8, max_length=8)]
Image = Annotated[list[Row], Field(min_length=8, max_length=8)]


class PixelBatch(BaseModel):
    images: Annotated[list[Image], Field(min_length=1)]
""",
        "a pixel of 7.5",
        "use float, not int",
    ),
    mistake(
        "02.5",
        "lt=16 leaves 16 out",
        """
from typing import Annotated

from pydantic import BaseModel, Field

Pixel = Annotated[float, Field(ge=0, lt=16, allow_inf_nan=False)]
Row = Annotated[list[Pixel], Field(min_length=8, max_length=8)]
Image = Annotated[list[Row], Field(min_length=8, max_length=8)]


class PixelBatch(BaseModel):
    images: Annotated[list[Image], Field(min_length=1)]
""",
        "16",
        "le=16",
    ),
    mistake(
        "02.5",
        "rows with a minimum length only",
        """
from typing import Annotated

from pydantic import BaseModel, Field

Pixel = Annotated[float, Field(ge=0, le=16, allow_inf_nan=False)]
Row = Annotated[list[Pixel], Field(min_length=8)]
Image = Annotated[list[Row], Field(min_length=8, max_length=8)]


class PixelBatch(BaseModel):
    images: Annotated[list[Image], Field(min_length=1)]
""",
        "a row has 9 values",
        "max_length=8",
    ),
    mistake(
        "02.5",
        "an empty batch allowed",
        """
from typing import Annotated

from pydantic import BaseModel, Field

Pixel = Annotated[float, Field(ge=0, le=16, allow_inf_nan=False)]
Row = Annotated[list[Pixel], Field(min_length=8, max_length=8)]
Image = Annotated[list[Row], Field(min_length=8, max_length=8)]


class PixelBatch(BaseModel):
    images: list[Image]
""",
        "the batch is empty",
        "Field(min_length=1) on images",
    ),
    correct(
        "02.5",
        "conlist and confloat",
        """
from pydantic import BaseModel, confloat, conlist


Row = conlist(confloat(ge=0, le=16, allow_inf_nan=False), min_length=8, max_length=8)


class PixelBatch(BaseModel):
    images: conlist(conlist(Row, min_length=8, max_length=8), min_length=1)
""",
    ),
]
