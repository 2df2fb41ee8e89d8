"""Text generation, streamed as it is written: ``POST /generate`` (server-sent events) and ``POST /generate/jsonl``
(JSON Lines), the same text and the same items in two formats.

Two paths rather than one that reads ``Accept``: each is a FastAPI path operation that ``yield``\\ s, and FastAPI
encodes what it yields, as server-sent events with ``response_class=EventSourceResponse``, as JSON Lines without.
The request is checked by dependencies (the API key, :mod:`course_api.server.keys`, then :func:`checked_request`),
and dependencies run before the answer starts: a mistake is a 4xx with problem details, as on every route. Once
the status line is sent, it is 200.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.sse import EventSourceResponse, ServerSentEvent

from course_api.server.batching import BatcherClosed, QueueFull
from course_api.server.dependencies import Config, Models
from course_api.server.inference import Predictor
from course_api.server.keys import KEY_ERRORS, KeyRequired
from course_api.server.problems import APIProblem, error_responses
from course_api.server.routes.predictions import JSON_ERRORS
from course_api.server.schemas import (
    DEFAULT_NEW_TOKENS,
    GeneratedToken,
    GenerateIn,
    GenerationDone,
    GenerationItem,
)

# Every route here needs an API key when the server has keys configured (course_api.server.keys): a 401/403
# before anything else of the request is checked, and before the stream starts.
router = APIRouter(tags=["generation"], dependencies=[KeyRequired])

GENERATE_ERRORS: dict[int | str, str] = {
    **JSON_ERRORS,
    **KEY_ERRORS,
    422: "Invalid JSON, no `prompt`, an empty prompt or one longer than {max_prompt_chars} characters "
    "(`max_prompt_chars`), a `max_tokens` below 1 or above {max_new_tokens} (`max_new_tokens`), a `temperature` "
    "outside 0 to 2, or a `seed` outside 0 to 2**32 - 1.",
    503: "{queue_limit} streams are already running (`queue_limit`), or the server is shutting down: try again "
    "after `Retry-After` seconds.",
}


async def checked_request(body: GenerateIn, models: Models, config: Config) -> GenerateIn:
    """The request with ``max_tokens`` settled, or a 4xx/503 problem: checked before the answer starts."""
    if len(body.prompt) > config.max_prompt_chars:
        detail = f"The prompt has {len(body.prompt)} characters; the limit is {config.max_prompt_chars}: send less."
        raise APIProblem("validation-error", detail, loc=("body", "prompt"), error_type="string_too_long")
    limit = config.max_new_tokens
    if "max_tokens" not in body.model_fields_set:
        body = body.model_copy(update={"max_tokens": min(DEFAULT_NEW_TOKENS, limit)})
    elif body.max_tokens > limit:
        detail = f"max_tokens is {body.max_tokens}; this server writes at most {limit} characters per request."
        raise APIProblem("validation-error", detail, loc=("body", "max_tokens"), error_type="less_than_equal")
    if models.text.closed:
        raise BatcherClosed("The server is shutting down and starts no more streams.")
    if models.text.stats.streams >= config.queue_limit:
        raise QueueFull("text", config.queue_limit)
    return body


Checked = Annotated[GenerateIn, Depends(checked_request)]


async def generation_items(
    body: GenerateIn, models: Predictor
) -> AsyncGenerator[GeneratedToken | GenerationDone, None]:
    """A :class:`GeneratedToken` per character as it is written, then one :class:`GenerationDone`."""
    written: list[str] = []
    chars = models.text.stream(body.prompt, body.max_tokens, temperature=body.temperature, seed=body.seed)
    async with aclosing(chars):  # the streamer's count is right at once when the client goes away
        async for char in chars:
            yield GeneratedToken(index=len(written), text=char)
            written.append(char)
    yield GenerationDone(
        text="".join(written),
        prompt_tokens=len(body.prompt),
        tokens=len(written),
        finish_reason="length" if len(written) == body.max_tokens else "shutdown",
        device=str(models.device),
    )


# What each event of POST /generate holds, for /openapi.json (FastAPI's own item schema says only "a string").
SSE_ITEM_SCHEMA: dict[str, Any] = {
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["token", "done"]},
        "data": {
            "contentMediaType": "application/json",
            "contentSchema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/GeneratedToken"},
                    {"$ref": "#/components/schemas/GenerationDone"},
                ]
            },
        },
    },
}


@router.post(
    "/generate",
    response_class=EventSourceResponse,
    summary="Write text, streamed as server-sent events",
    response_description="`text/event-stream`: an `event: token` per character, then one `event: done`.",
    responses=error_responses(GENERATE_ERRORS),
    openapi_extra={"responses": {"200": {"content": {"text/event-stream": {"itemSchema": SSE_ITEM_SCHEMA}}}}},
)
async def generate_events(body: Checked, models: Models) -> AsyncIterator[ServerSentEvent]:
    """A small character-level model continues `prompt`, and each character is sent the moment it is written.

    The answer is a stream of server-sent events (`text/event-stream`, what a browser's `EventSource` reads):

    - `event: token` with `data: {"type": "token", "index": 0, "text": "T"}` for each character;
    - then one `event: done` with `data: {"type": "done", "text": ..., "prompt_tokens": ..., "tokens": ...,
      "finish_reason": "length", "device": ...}`: the whole text and the counts.

    The same stream as JSON Lines (one JSON object per line, `application/jsonl`): `POST /generate/jsonl`.
    A token is one character. Every mistake is a 4xx with problem details before the stream starts. The same
    request (prompt, `max_tokens`, `temperature`, `seed`) gives the same text. A client that closes the
    connection stops the generation: no work goes on for it (`GET /model` counts the characters written).
    """
    async with aclosing(generation_items(body, models)) as items:
        async for item in items:
            yield ServerSentEvent(event=item.type, data=item)


@router.post(
    "/generate/jsonl",
    summary="Write text, streamed as JSON Lines",
    response_description="`application/jsonl`: a `token` object per character, then one `done` object.",
    responses=error_responses(GENERATE_ERRORS),
)
async def generate_lines(body: Checked, models: Models) -> AsyncIterator[GenerationItem]:
    """The stream of `POST /generate` as JSON Lines (`application/jsonl`): one JSON object per line, a
    `{"type": "token", "index": 0, "text": "T"}` for each character, then one `{"type": "done", ...}` with the
    whole text and the counts. Read it line by line (requests: `stream=True` and `iter_lines()`).
    """
    async with aclosing(generation_items(body, models)) as items:
        async for item in items:
            yield item
