"""Cursor pagination: a cursor names the last item of a page as "<created_at µs>~<id>".

Its format is published in the OpenAPI document (CURSOR_PATTERN), so any cursor that matches
the pattern is one we can read.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from aiohttp import web

from shared.errors import ValidationFailed

CURSOR_PATTERN = r"^[0-9]{1,16}~[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(created_at: datetime, item_id: uuid.UUID) -> str:
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}~{item_id}"


def decode_cursor(request: web.Request) -> tuple[datetime, uuid.UUID] | None:
    token = request.query.get("cursor")
    if token is None:
        return None
    micros, _, item = token.partition("~")
    try:
        return _EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(item)
    except (ValueError, OverflowError):
        raise ValidationFailed(
            "cursor must be a next_cursor this API gave out", details=[{"field": "cursor"}]
        ) from None
