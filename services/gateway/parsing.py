"""Reading requests: JSON bodies into pydantic models, ids from paths, numbers from queries.
Anything malformed becomes a clear 400/404/422, never a 500."""

from __future__ import annotations

import json
import re
import uuid
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from shared.errors import BadRequest, NotFound, ValidationFailed

M = TypeVar("M", bound=BaseModel)

# Whitespace as str.isspace() (and so str.strip()) knows it, spelled out: `\s` means slightly
# different things to Python, to JSON Schema (ECMA-262) and to Rust regex.
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_HAS_NUL = r"\x00"
_BLANK = rf"^[{_SPACE}]*$"
# What check_text refuses, as JSON Schema for the OpenAPI document: text PostgreSQL can store has
# no NUL; text that must say something is not blank. Said with `not` rather than one pattern
# anchored over the whole text, which generators (schemathesis) cannot fill at these lengths.
NO_NUL_SCHEMA = {"not": {"pattern": _HAS_NUL}}
NOT_BLANK_SCHEMA = {"not": {"anyOf": [{"pattern": _HAS_NUL}, {"pattern": _BLANK}]}}
_BLANK_TEXT = re.compile(_BLANK)


def check_text(value: str, *, blank_ok: bool = False) -> str:
    """Refuse a NUL, and unless `blank_ok` blank text, as NO_NUL_SCHEMA / NOT_BLANK_SCHEMA say."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not blank_ok and _BLANK_TEXT.search(value):
        raise ValueError("must not be blank")
    return value


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
        except RecursionError:  # the decoder recurses once per level of nesting
            raise BadRequest("malformed JSON body: nested too deeply") from None
    if not isinstance(data, dict):
        details = [{"field": "body", "message": "not an object"}]
        raise ValidationFailed("the body must be a JSON object", details=details)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        details = validation_details(error)
        fields = ", ".join(d["field"] for d in details)
        raise ValidationFailed(f"invalid field(s): {fields}", details=details) from None


def header_text(request: web.Request, name: str) -> str | None:
    """A header's value, refused (400) if its bytes were not UTF-8 or hold a NUL. aiohttp reads
    such bytes as surrogate escapes, which no encoder (asyncpg, hashlib input) accepts."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        raise BadRequest(f"the {name} header must be UTF-8 text") from None
    if "\x00" in value:
        raise BadRequest(f"the {name} header must not contain NUL characters")
    return value


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
