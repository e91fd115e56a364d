"""What every search result goes through: cleaning, caps, de-duplication, untrusted marking."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from services.executor.tools.search import (
    MAX_SNIPPET_CHARS,
    MAX_TITLE_CHARS,
    UNTRUSTED_NOTICE,
    SearchError,
    clean_text,
    normalise,
    web_search,
)
from shared.agents.types import SearchResult

HIDDEN = (
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width characters
    "\u202e\u2066\u2069\u200e"  # bidi controls
    "\U000e0001\U000e0069\U000e0067\U000e006e\U000e007f"  # tag characters ("ign")
    "\ufe0f\U000e0100"  # variation selectors
    "\x00\x07\x1b[31m"  # control characters (and what an escape sequence leaves)
)


def test_clean_text_strips_invisible_and_control_characters():
    text = f"Safe{HIDDEN}text\nover\tlines\u2028here"
    assert clean_text(text, 100) == "Safe[31mtext over lines here"


def test_clean_text_caps_length():
    assert clean_text("word " * 100, 20) == "word word word word…"
    assert len(clean_text("x" * 1000, 50)) == 50


def test_normalise_caps_cleans_and_deduplicates():
    results = [
        SearchResult(title="T" * 1000, url="https://a.example/1", snippet="s" * 5000),
        SearchResult(title="dup", url="https://a.example/1", snippet="duplicate url"),
        SearchResult(title="\u200b", url="https://a.example/2", snippet="no visible title"),
        SearchResult(
            title="ok", url="https://a.example/3", snippet=f"x{HIDDEN}y", published="2026"
        ),
        SearchResult(title="over", url="https://a.example/4", snippet="over the cap"),
    ]
    kept = normalise(results, max_results=2)
    assert [r.url for r in kept] == ["https://a.example/1", "https://a.example/3"]
    assert len(kept[0].title) == MAX_TITLE_CHARS
    assert len(kept[0].snippet) == MAX_SNIPPET_CHARS
    assert kept[1].snippet == "x[31my"
    assert kept[1].published == "2026"


class ListProvider:
    name = "list"

    def __init__(self, results: list[SearchResult], hang: bool = False) -> None:
        self.results = results
        self.hang = hang
        self.calls: list[tuple[str, str, int, UUID | None]] = []

    async def search(self, query, *, freshness, limit, user_id):
        self.calls.append((query, freshness, limit, user_id))
        if self.hang:
            await asyncio.Event().wait()
        return self.results

    async def aclose(self) -> None:
        pass


async def test_web_search_marks_results_untrusted_and_passes_context():
    user = UUID(int=7)
    provider = ListProvider([SearchResult(title="A", url="https://a", snippet="s")] * 3)
    payload = await web_search(
        provider, f" q{HIDDEN} ", "py", user_id=user, max_results=4, seconds=5
    )
    assert payload["untrusted"] is True
    assert payload["notice"] == UNTRUSTED_NOTICE
    assert payload["query"] == "q[31m"
    assert len(payload["results"]) == 1  # the duplicates are dropped
    assert provider.calls == [("q[31m", "py", 4, user)]


async def test_web_search_replaces_an_unknown_freshness_with_the_default():
    provider = ListProvider([])
    await web_search(provider, "q", "last century", user_id=None, max_results=3, seconds=5)
    assert provider.calls[0][1] == "pw"


async def test_web_search_refuses_an_empty_query():
    with pytest.raises(SearchError, match="empty"):
        await web_search(ListProvider([]), "\u200b ", user_id=None, max_results=3, seconds=5)


async def test_web_search_turns_a_hanging_provider_into_a_search_error():
    with pytest.raises(SearchError, match=r"timed out after 0\.1 s"):
        await web_search(ListProvider([], hang=True), "q", user_id=None, max_results=3, seconds=0.1)
