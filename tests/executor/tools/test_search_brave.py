"""The Brave provider against a local fake speaking Brave's JSON, including failures."""

from __future__ import annotations

import pytest

from services.executor.tools.brave import BraveSearch
from services.executor.tools.search import SearchError, web_search


@pytest.fixture
async def brave(fake_search):
    provider = BraveSearch("test-key", timeout=0.5, endpoint=fake_search.brave_endpoint)
    yield provider
    await provider.aclose()


async def test_brave_results_are_normalised(brave, fake_search):
    payload = await web_search(
        brave, "jarvis budgets", "pm", user_id=None, max_results=5, seconds=5
    )
    request = fake_search.requests[-1]
    assert request["query"]["q"] == "jarvis budgets"
    assert request["query"]["freshness"] == "pm"
    assert request["query"]["count"] == "5"
    assert request["headers"]["X-Subscription-Token"] == "test-key"
    assert payload["results"] == [
        {
            "title": "Jarvis budgets",
            "url": "https://example.com/budgets",
            "snippet": "Every task has budgets & limits.",
            "published": "2026-11-30T10:00:00",
        },
        {
            "title": "Redis streams",
            "url": "https://example.com/streams",
            "snippet": "Events travel through streams.",
            "published": "3 days ago",
        },
    ]


async def test_brave_without_web_results_is_empty(brave, fake_search):
    fake_search.mode = "empty"
    assert await brave.search("nothing", freshness="pw", limit=5, user_id=None) == []


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("http500", "Brave Search answered HTTP 500"),
        ("http429", "rate limit"),
        ("http401", "refused the request"),
        ("bad_json", "invalid JSON"),
        ("hang", r"timed out after 0\.5 s"),
    ],
)
async def test_brave_failures_are_search_errors(brave, fake_search, mode, message):
    fake_search.mode = mode
    with pytest.raises(SearchError, match=message):
        await brave.search("q", freshness="pw", limit=5, user_id=None)


async def test_brave_unreachable_is_a_search_error():
    provider = BraveSearch("k", timeout=1, endpoint="http://127.0.0.1:9/res/v1/web/search")
    try:
        with pytest.raises(SearchError, match="could not be reached"):
            await provider.search("q", freshness="pw", limit=5, user_id=None)
    finally:
        await provider.aclose()
