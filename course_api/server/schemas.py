"""Request and response models: what each endpoint takes and gives, documented in ``/openapi.json``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError

# strict: a number, not true/false or "3" (pydantic's lax mode would turn those into 1.0 and 3.0)
PixelValue = Annotated[float, Field(ge=0, le=16, allow_inf_nan=False, strict=True)]
PixelRow = Annotated[list[PixelValue], Field(min_length=8, max_length=8)]
PixelImage = Annotated[list[PixelRow], Field(min_length=8, max_length=8)]


class HealthData(BaseModel):
    device: str = Field(description="The torch device the models run on, e.g. 'cpu' or 'cuda:0'.")
    models: list[str] = Field(description="The models the server has loaded.")
    version: str = Field(description="The course_api package version.")


class Health(BaseModel):
    """The health check: a message, the status code, and some data."""

    model_config = ConfigDict(populate_by_name=True)
    message: str = Field(examples=["OK"])
    status_code: int = Field(alias="status-code", examples=[200])
    data: HealthData


class Item(BaseModel):
    item_id: int = Field(examples=[5])
    q: str | None = Field(default=None, examples=["somequery"])


class StatusEcho(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    status_code: int = Field(alias="status-code", examples=[404])
    phrase: str = Field(examples=["Not Found"])
    description: str = Field(examples=["Nothing matches the given URI"])
    status_class: str = Field(alias="class", examples=["4xx client error"])


class Astronaut(BaseModel):
    name: str
    craft: str


class Astros(BaseModel):
    """Who is in space: the shape of the public open-notify ``astros.json`` document."""

    message: str = Field(examples=["success"])
    number: int = Field(examples=[10])
    people: list[Astronaut]


# At least one character that str.strip() keeps, spelled out: JSON Schema's \\s is not Python's whitespace.
NOT_BLANK = "[^\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"


class TextIn(BaseModel):
    text: str = Field(
        min_length=1,
        description="The sentence to classify: not empty, not only whitespace, at most `max_text_chars` characters "
        "(5000 by default; the limit this server uses is in the schema's maxLength).",
        examples=["I love this course"],
        json_schema_extra={"pattern": NOT_BLANK},
    )


class TextPrediction(BaseModel):
    label: str = Field(description="'negative' or 'positive'.", examples=["positive"])
    score: float = Field(ge=0, le=1, description="Probability of the predicted label.")
    probabilities: dict[str, float] = Field(
        description="Probability of each label.", examples=[{"negative": 0.021, "positive": 0.979}]
    )
    device: str


class DigitPrediction(BaseModel):
    digit: int = Field(ge=0, le=9, examples=[3])
    score: float = Field(ge=0, le=1, description="Probability of the predicted digit.")
    probabilities: list[float] = Field(min_length=10, max_length=10, description="Probability of each digit 0-9.")


class ImagePrediction(DigitPrediction):
    pixels: list[list[float]] = Field(description="The 8x8 input (0..16) the model saw after preprocessing.")
    width: int = Field(description="Width of the uploaded image in pixels.")
    height: int = Field(description="Height of the uploaded image in pixels.")
    device: str


class PixelsIn(BaseModel):
    images: list[PixelImage] = Field(
        min_length=1,
        description="A batch of 8x8 images, each a list of 8 rows of 8 numbers from 0 (background) to 16 (ink), "
        "as in sklearn's load_digits.",
    )

    @field_validator("images", mode="wrap")
    @classmethod
    def _at_most_a_few_errors(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A batch of garbage has one error per value (a megabyte of it, a quarter of a million): listing them
        all would cost the server hundreds of megabytes. Past a few, the answer names the first one and the count."""
        try:
            return handler(value)
        except ValidationError as exc:
            count = exc.error_count()
            if count <= MAX_LISTED_ERRORS or not isinstance(value, list):
                raise
            first = _first_error(value)
        raise PydanticCustomError(
            "too_many_errors",
            "{count} invalid values, too many to list; the first is at images.{where}: {msg}. "
            "Each image is 8 rows of 8 numbers from 0 to 16",
            {"count": count, **first},
        )


MAX_LISTED_ERRORS = 20
_ONE_IMAGE: TypeAdapter[Any] = TypeAdapter(PixelImage)


def _first_error(images: list[Any]) -> dict[str, str]:
    """Where the first invalid value of a batch is, and what is wrong with it (one image validated at a time)."""
    for index, image in enumerate(images):
        try:
            _ONE_IMAGE.validate_python(image)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            return {"where": ".".join(str(part) for part in (index, *error["loc"])), "msg": error["msg"]}
    return {"where": "?", "msg": "invalid"}


class PixelsPrediction(BaseModel):
    predictions: list[DigitPrediction]
    device: str


class BatchingInfo(BaseModel):
    """What one model's micro-batcher is set to and has done since the server started."""

    enabled: bool = Field(description="False: every request runs alone (per-request inference).")
    max_rows: int = Field(description="Most input rows in one forward pass (setting `microbatch_max_rows`).")
    max_wait_ms: float = Field(description="Longest a request waits for others to join its batch (only under load).")
    queue_limit: int = Field(description="Most requests waiting at once; one more gets 503 with Retry-After.")
    queued: int = Field(description="Requests waiting or running right now.")
    requests: int = Field(description="Requests accepted so far.")
    batches: int = Field(description="Forward passes run so far.")
    mean_batch_size: float = Field(description="Inputs per forward pass, on average.")
    largest_batch: int
    rejected: int = Field(description="Requests refused with 503 because the queue was full.")


class GenerationInfo(BaseModel):
    """What the text streamer has done since the server started."""

    streams: int = Field(description="Streams running right now.")
    requests: int = Field(description="Streams started so far.")
    tokens: int = Field(
        description="Characters written so far, over every stream. It stops growing when no stream runs: "
        "a client that goes away stops its stream."
    )
    completed: int = Field(description="Streams that wrote all their `max_tokens` characters.")
    stopped: int = Field(description="Streams that ended early: the client went away, or the server is stopping.")


class ModelInfo(BaseModel):
    device: str
    device_reason: str
    load_seconds: float
    models: dict[str, dict[str, Any]] = Field(
        description="Each model's card: its classes, architecture, data, accuracy and how it was trained.",
        examples=[
            {
                "digits": {"classes": [str(d) for d in range(10)], "name": "digits-cnn", "test_accuracy": 1.0},
                "sentiment": {"classes": ["negative", "positive"], "name": "sentiment-bag-of-words"},
            }
        ],
    )
    batching: dict[str, BatchingInfo] = Field(
        description="The micro-batcher of each model.",
        examples=[
            {
                name: {
                    "enabled": True,
                    "max_rows": 64,
                    "max_wait_ms": 2.0,
                    "queue_limit": 512,
                    "queued": 0,
                    "requests": 120,
                    "batches": 45,
                    "mean_batch_size": 2.67,
                    "largest_batch": 9,
                    "rejected": 0,
                }
                for name in ("digits", "sentiment")
            }
        ],
    )
    generation: GenerationInfo = Field(
        description="The text streamer of POST /generate.",
        examples=[{"streams": 1, "requests": 12, "tokens": 1180, "completed": 11, "stopped": 0}],
    )


# ------------------------------------------------------------------------------------------- generation
DEFAULT_NEW_TOKENS = 100  # characters /generate writes when the request does not say (or the limit, if lower)


def _whole(value: Any) -> Any:
    """JSON Schema's integers include ``3.0``: read it as 3 (strict mode still refuses ``"3"``, ``true`` and 3.5)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole), Field(strict=True)]


class GenerateIn(BaseModel):
    prompt: str = Field(
        min_length=1,
        description="The text to continue: not empty, at most `max_prompt_chars` characters (1000 by default; the "
        "limit this server uses is in the schema's maxLength). A character the model does not know is read as a space.",
        examples=["The dataset "],
    )
    max_tokens: WholeNumber = Field(
        DEFAULT_NEW_TOKENS,
        ge=1,
        description="How many characters to write (one token is one character): 1 to `max_new_tokens` (500 by default; "
        "the limit this server uses is in the schema's maximum). Without it: 100, or that limit if it is lower.",
        examples=[100],
    )
    temperature: float = Field(
        0.8,
        ge=0,
        le=2,
        allow_inf_nan=False,
        strict=True,
        description="0: always the likeliest next character; higher: more varied, less likely text.",
    )
    seed: WholeNumber = Field(
        0, ge=0, le=2**32 - 1, description="Seed of the random draws: the same request, the same text."
    )


class GeneratedToken(BaseModel):
    """One character of the text, sent as soon as it is written."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # `type` is always there
    type: Literal["token"] = "token"
    index: int = Field(ge=0, description="Its place in the written text, from 0.", examples=[0])
    text: str = Field(description="The character.", examples=["T"])


class GenerationDone(BaseModel):
    """The last item of every stream: the whole text and the counts."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    type: Literal["done"] = "done"
    text: str = Field(description="Every character written, in order; the prompt is not repeated.")
    prompt_tokens: int = Field(description="Characters of the prompt the model read.")
    tokens: int = Field(description="Characters written.")
    finish_reason: Literal["length", "shutdown"] = Field(
        description="'length': `max_tokens` characters were written; 'shutdown': the server is stopping."
    )
    device: str


GenerationItem = Annotated[GeneratedToken | GenerationDone, Field(discriminator="type")]
