"""Requests per token per minute (JARVIS_RATE_LIMIT; 0 turns it off): a fixed one-minute window
counted in Redis, so every gateway process shares the count. Over the limit: 429 with
Retry-After. If Redis cannot count, requests pass: being reachable matters more."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError

from services.gateway.keys import KEYS, REDIS, SETTINGS, TOKEN_ID
from shared.errors import RateLimited

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WINDOW = 60


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app[SETTINGS].rate_limit
    # Per token, not per user: each of a user's clients (a script, the web page) has its own
    # token and its own allowance. Requests without one (public paths) are not counted.
    token_id = request.get(TOKEN_ID)
    if not limit or token_id is None:
        return await handler(request)
    now = time.time()
    window = int(now // WINDOW)
    key = request.app[KEYS].rate_limit(token_id, window)
    try:
        pipe = request.app[REDIS].pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, WINDOW + 5)
        count, _ = await pipe.execute()
    except (RedisError, OSError):
        return await handler(request)
    if count > limit:
        retry_after = max(1, int((window + 1) * WINDOW - now) + 1)
        raise RateLimited(f"more than {limit} requests a minute", retry_after=retry_after)
    return await handler(request)
