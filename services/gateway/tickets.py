"""Short-lived, single-use tickets that let a browser open a WebSocket: browsers cannot set an
Authorization header on a WebSocket, and a token must never travel in a query string."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from redis.asyncio import Redis

from shared.redis_keys import RedisKeys

TICKET_SECONDS = 60


def _key(keys: RedisKeys, ticket: str) -> str:
    return keys.ws_ticket(hashlib.sha256(ticket.encode()).hexdigest())


async def issue_ticket(redis: Redis, keys: RedisKeys, user_id: uuid.UUID) -> str:
    ticket = secrets.token_urlsafe(32)
    await redis.set(_key(keys, ticket), str(user_id), ex=TICKET_SECONDS)
    return ticket


async def redeem_ticket(redis: Redis, keys: RedisKeys, ticket: str) -> uuid.UUID | None:
    """The ticket's user, once; None for an unknown, used or expired ticket."""
    value = await redis.getdel(_key(keys, ticket))
    return uuid.UUID(value.decode()) if value else None
