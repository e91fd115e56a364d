"""Cursor pagination: a cursor is an opaque token holding the last item's (created_at, id)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from aiohttp import web

from shared.errors import ValidationFailed


def encode_cursor(created_at: datetime, item_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(request: web.Request) -> tuple[datetime, uuid.UUID] | None:
    token = request.query.get("cursor")
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, _, item = raw.partition("|")
        return datetime.fromisoformat(created), uuid.UUID(item)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            "cursor is not one this API gave out", details=[{"field": "cursor"}]
        ) from None
