"""Requests per token per minute (services/gateway/rate_limit.py)."""

from __future__ import annotations

import time

from services.gateway.rate_limit import WINDOW
from shared.auth import issue_token
from tests.fixtures.api import Api, ApiFactory, Caller, Reply, assert_error

LIMIT = 3


async def burst(api: Api, count: int) -> tuple[Caller, list[Reply]]:
    """A new user's first `count` requests, all inside one counting window: the count starts
    again each minute, so a burst that straddles one is sent again by another new user."""
    for attempt in range(3):
        who = await api.user(f"burst-{attempt}")
        window = int(time.time() // WINDOW)
        replies = [await api.request("GET", "/v1/me", who) for _ in range(count)]
        if int(time.time() // WINDOW) == window:
            return who, replies
    raise AssertionError("every burst straddled a minute")


async def test_the_request_over_the_limit_is_429_with_retry_after(make_api: ApiFactory) -> None:
    api = await make_api(rate_limit=LIMIT)
    _, replies = await burst(api, LIMIT + 1)
    assert [r.status for r in replies[:LIMIT]] == [200] * LIMIT
    refused = replies[LIMIT]
    error = assert_error(refused, 429, "rate_limited")
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW + 1
    assert error["details"] == {"retry_after": retry_after}


async def test_the_count_is_per_token(make_api: ApiFactory) -> None:
    api = await make_api(rate_limit=LIMIT)
    bob = await api.user("bob")
    who, replies = await burst(api, LIMIT + 1)
    assert replies[-1].status == 429
    # Another user, and another token of the same user, each have an allowance of their own.
    assert (await api.request("GET", "/v1/me", bob)).status == 200
    second = Caller(who.id, who.name, await issue_token(api.pool, who.name))
    assert (await api.request("GET", "/v1/me", second)).status == 200
