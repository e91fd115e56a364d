"""web_search with the Brave Search API (BRAVE_API_KEY); freshness pd/pw/pm/py is passed through."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import aiohttp

from services.executor.tools.http_json import HttpClient, strip_html
from services.executor.tools.search import SearchError
from shared.agents.types import SearchResult

BRAVE_ENDPOINT = "https://api.search.brave.com/res/v1/web/search"


class BraveSearch:
    name = "brave"

    def __init__(
        self,
        api_key: str,
        *,
        timeout: float = 10.0,
        endpoint: str = BRAVE_ENDPOINT,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._api_key = api_key
        self.endpoint = endpoint
        self._http = HttpClient(session, timeout)

    async def search(
        self, query: str, *, freshness: str, limit: int, user_id: UUID | None
    ) -> list[SearchResult]:
        data = await self._http.get_json(
            "Brave Search",
            self.endpoint,
            params={
                "q": query,
                "count": str(min(limit, 20)),
                "freshness": freshness,
                "text_decorations": "false",
            },
            headers={"X-Subscription-Token": self._api_key},
        )
        return parse_brave(data)

    async def aclose(self) -> None:
        await self._http.aclose()


def parse_brave(data: Any) -> list[SearchResult]:
    """Results of a Brave web search response: {"web": {"results": [{title, url, ...}]}}."""
    if not isinstance(data, dict):
        raise SearchError("Brave Search answered with an unexpected document")
    web = data.get("web") or {}
    items = web.get("results") if isinstance(web, dict) else None
    if not isinstance(items, list):
        return []  # Brave omits `web` when nothing matched
    results = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            continue
        published = item.get("page_age") or item.get("age")
        results.append(
            SearchResult(
                title=strip_html(item.get("title")) or item["url"],
                url=item["url"],
                snippet=strip_html(item.get("description")),
                published=published if isinstance(published, str) else None,
            )
        )
    return results
