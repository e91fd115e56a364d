"""web_search with a SearXNG instance's JSON API (JARVIS_SEARXNG_URL; `json` must be enabled in
the instance's `search.formats`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import aiohttp

from services.executor.tools.http_json import HttpClient, strip_html
from services.executor.tools.search import SearchError
from shared.agents.types import SearchResult

TIME_RANGES = {"pd": "day", "pw": "week", "pm": "month", "py": "year"}


class SearxngSearch:
    name = "searxng"

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.endpoint = base_url.rstrip("/") + "/search"
        self._http = HttpClient(session, timeout)

    async def search(
        self, query: str, *, freshness: str, limit: int, user_id: UUID | None
    ) -> list[SearchResult]:
        params = {"q": query, "format": "json", "pageno": "1"}
        if freshness in TIME_RANGES:
            params["time_range"] = TIME_RANGES[freshness]
        data = await self._http.get_json("SearXNG", self.endpoint, params=params, headers={})
        return parse_searxng(data)[:limit]

    async def aclose(self) -> None:
        await self._http.aclose()


def parse_searxng(data: Any) -> list[SearchResult]:
    """Results of a SearXNG JSON response: {"results": [{title, url, content, publishedDate}]}."""
    if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
        raise SearchError("SearXNG answered with an unexpected document")
    results = []
    for item in data.get("results", []):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            continue
        published = item.get("publishedDate")
        results.append(
            SearchResult(
                title=strip_html(item.get("title")) or item["url"],
                url=item["url"],
                snippet=strip_html(item.get("content")),
                published=published if isinstance(published, str) else None,
            )
        )
    return results
