"""web_search retries a transient failure (timeout, 429, 5xx, no connection) a bounded number of
times with backoff and jitter, telling its caller before each retry; other failures at once."""

from __future__ import annotations

import pytest

from services.executor.tools.brave import BraveSearch
from services.executor.tools.search import (
    SEARCH_BACKOFF_BASE,
    SEARCH_RETRIES,
    SearchError,
    web_search,
)


@pytest.fixture
async def brave(fake_search):
    provider = BraveSearch("test-key", timeout=5, endpoint=fake_search.brave_endpoint)
    yield provider
    await provider.aclose()


class Retries:
    def __init__(self) -> None:
        self.seen: list[tuple[int, float, str]] = []

    async def __call__(self, attempt: int, delay: float, error: SearchError) -> None:
        self.seen.append((attempt, delay, str(error)))


async def search(provider, on_retry, seconds: float = 5) -> dict:
    return await web_search(
        provider, "jarvis", "pw", user_id=None, max_results=5, seconds=seconds, on_retry=on_retry
    )


@pytest.mark.parametrize("status", [503, 500, 429])
async def test_a_transient_failure_is_retried_with_backoff(brave, fake_search, status):
    fake_search.fail_times, fake_search.fail_status = 2, status
    retries = Retries()
    payload = await search(brave, retries)
    assert len(payload["results"]) == 2
    assert len(fake_search.requests) == 3
    assert [attempt for attempt, _, _ in retries.seen] == [2, 3]
    for attempt, delay, reason in retries.seen:
        nominal = SEARCH_BACKOFF_BASE * 2 ** (attempt - 2)
        assert 0.5 * nominal <= delay <= 1.5 * nominal, (attempt, delay)
        assert str(status) in reason


async def test_retries_are_bounded(brave, fake_search):
    fake_search.fail_times = 100
    retries = Retries()
    with pytest.raises(SearchError, match="HTTP 503"):
        await search(brave, retries)
    assert len(fake_search.requests) == SEARCH_RETRIES + 1
    assert len(retries.seen) == SEARCH_RETRIES


async def test_a_refusal_is_not_retried(brave, fake_search):
    fake_search.fail_times, fake_search.fail_status = 1, 401
    retries = Retries()
    with pytest.raises(SearchError, match="refused"):
        await search(brave, retries)
    assert len(fake_search.requests) == 1
    assert retries.seen == []


async def test_a_timeout_is_retried(brave, fake_search):
    fake_search.mode = "hang"
    retries = Retries()
    with pytest.raises(SearchError, match="timed out"):
        await search(brave, retries, seconds=0.2)
    assert len(fake_search.requests) == SEARCH_RETRIES + 1
    assert [attempt for attempt, _, _ in retries.seen] == [2, 3]
