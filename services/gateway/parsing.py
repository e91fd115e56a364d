"""Reading requests: JSON bodies into pydantic models, ids from paths, numbers from queries.
Anything malformed becomes a clear 400/404/422, never a 500."""

from __future__ import annotations

import json
import uuid
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from shared.errors import BadRequest, NotFound, ValidationFailed

M = TypeVar("M", bound=BaseModel)


def validation_details(error: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in item["loc"]) or "body", "message": item["msg"]}
        for item in error.errors()
    ]


async def read_json(request: web.Request, model: type[M], *, empty_ok: bool = False) -> M:
    raw = await request.read()
    if not raw.strip():
        if not empty_ok:
            raise BadRequest("a JSON body is required")
        data: object = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest(f"malformed JSON body: {error}") from None
    if not isinstance(data, dict):
        details = [{"field": "body", "message": "not an object"}]
        raise ValidationFailed("the body must be a JSON object", details=details)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        details = validation_details(error)
        fields = ", ".join(d["field"] for d in details)
        raise ValidationFailed(f"invalid field(s): {fields}", details=details) from None


def path_id(request: web.Request, name: str, what: str) -> uuid.UUID:
    """A UUID from the path; anything else is an unknown id (404)."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(f"no {what} {request.match_info[name]!r}") from None


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValidationFailed(
            f"query parameter {name} must be an integer from {low} to {high}",
            details=[{"field": name, "message": f"expected an integer from {low} to {high}"}],
        )
    return value
