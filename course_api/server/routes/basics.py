"""Routes for practising HTTP: the health check, an item, any status code, and the people in space."""

from __future__ import annotations

from functools import lru_cache
from http import HTTPStatus
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from course_api.server import VERSION, problems
from course_api.server.dependencies import Models
from course_api.server.problems import APIProblem, error_responses
from course_api.server.schemas import Astros, Health, HealthData, Item, StatusEcho

router = APIRouter(tags=["basics"])

NO_BODY_STATUSES = (204, 205, 304)  # answers with these statuses must not carry a body
STATUS_CLASSES = {2: "2xx success", 3: "3xx redirection", 4: "4xx client error", 5: "5xx server error"}


@lru_cache(maxsize=1)
def astros_document() -> dict[str, Any]:
    """The offline "people in space" document that ships in ``course_api/data/astros.json``."""
    text = (resources.files("course_api") / "data" / "astros.json").read_text(encoding="utf-8")
    return Astros.model_validate_json(text).model_dump()


@router.get("/", response_model=Health, summary="Health check")
async def root(models: Models) -> dict[str, Any]:
    """The health check: `OK`, the status code, and the device and models in `data`."""
    return {
        "message": HTTPStatus.OK.phrase,
        "status-code": HTTPStatus.OK,
        "data": HealthData(device=str(models.device), models=sorted(models.service.cards), version=VERSION),
    }


@router.get(
    "/items/{item_id}",
    response_model=Item,
    summary="Read an item",
    responses=error_responses({422: "`item_id` is not a whole number, or `q` is longer than 200 characters."}),
)
async def read_item(
    item_id: Annotated[int, Path(description="Any whole number; `/items/foo` is a 422.")],
    q: Annotated[str | None, Query(max_length=200, description="An optional query string.")] = None,
) -> Item:
    return Item(item_id=item_id, q=q)


STATUS_RESPONSES: dict[int | str, dict[str, Any]] = {
    "2XX": {"model": StatusEcho, "description": "The 2xx you asked for, described."},
    "3XX": {"model": StatusEcho, "description": "The 3xx you asked for, described (no `Location`: nothing to follow)."},
    **{c: {"description": f"{HTTPStatus(c).phrase} (no body)"} for c in NO_BODY_STATUSES},
    **error_responses(
        {
            "4XX": "The 4xx you asked for, as problem details with the status described in extension members "
            "(`status-code`, `phrase`, `description`, `class`); a 422 with `errors` for a code that HTTP does "
            "not define.",
            "5XX": "The 5xx you asked for, on purpose (the only route that answers 5xx when nothing is wrong), "
            "as problem details like the 4xx ones.",
        }
    ),
}
StatusCode = Annotated[
    int,
    Path(
        ge=200,
        le=599,
        description="An HTTP status code from 200 to 599 that HTTP defines (another number is a 422).",
        json_schema_extra={"enum": [s.value for s in HTTPStatus if 200 <= s.value <= 599]},
    ),
]


@router.get(
    "/status/{code}", response_model=StatusEcho, summary="Answer with any status code", responses=STATUS_RESPONSES
)
async def status_echo(code: StatusCode, request: Request) -> Response:
    """Answers with the status code you ask for, so you can see every class of status happen.

    4xx and 5xx answers are problem details, like every error of this server. 5xx answers here are on
    purpose: a real server gives a 5xx only when *it* fails, never because of what a client sent.
    """
    try:
        status = HTTPStatus(code)
    except ValueError:
        raise APIProblem(
            "validation-error",
            f"{code} is not a registered HTTP status code; try 200, 404, 418 or 503.",
            loc=("path", "code"),
            error_type="status_unknown",
        ) from None
    if code in NO_BODY_STATUSES:
        return Response(status_code=code)
    body: dict[str, Any] = {"status-code": code, "phrase": status.phrase, "description": status.description}
    body["class"] = STATUS_CLASSES[code // 100]
    headers = {"Retry-After": "1"} if code in (429, 503) else None
    if code < 400:
        return JSONResponse(status_code=code, content=body, headers=headers)
    about = f": {status.description.rstrip('.')}" if status.description else ""
    detail = f"You asked for {code} {status.phrase}{about}. This route answers with any status on purpose."
    return problems.problem(request, code, detail, headers=headers, **body)


@router.get("/astros.json", response_model=Astros, summary="People in space (offline copy)")
async def astros() -> dict[str, Any]:
    """A snapshot in the shape of the public open-notify `astros.json`, served from the package."""
    return astros_document()
