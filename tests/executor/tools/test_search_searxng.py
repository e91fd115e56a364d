"""The SearXNG provider against a local fake speaking its JSON API, including failures."""

from __future__ import annotations

import pytest

from services.executor.tools.search import SearchError, web_search
from services.executor.tools.searxng import SearxngSearch


@pytest.fixture
async def searxng(fake_search):
    provider = SearxngSearch(fake_search.base_url + "/", timeout=0.5)
    yield provider
    await provider.aclose()


async def test_searxng_results_are_normalised(searxng, fake_search):
    payload = await web_search(searxng, "one", "pd", user_id=None, max_results=5, seconds=5)
    query = fake_search.requests[-1]["query"]
    assert query == {"q": "one", "format": "json", "pageno": "1", "time_range": "day"}
    assert payload["results"] == [
        {
            "title": "SearXNG result one",
            "url": "https://example.org/one",
            "snippet": "The first result.",
            "published": "2026-12-01T08:00:00",
        },
        {
            "title": "SearXNG result two",
            "url": "https://example.org/two",
            "snippet": "The second.",
            "published": None,
        },
    ]


async def test_searxng_respects_the_result_cap(searxng):
    payload = await web_search(searxng, "one", user_id=None, max_results=1, seconds=5)
    assert [r["url"] for r in payload["results"]] == ["https://example.org/one"]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("http403", "refused the request \\(HTTP 403\\)"),
        ("http502", "SearXNG answered HTTP 502"),
        ("bad_json", "invalid JSON"),
        ("hang", "SearXNG timed out"),
    ],
)
async def test_searxng_failures_are_search_errors(searxng, fake_search, mode, message):
    fake_search.mode = mode
    with pytest.raises(SearchError, match=message):
        await searxng.search("q", freshness="pw", limit=5, user_id=None)
