from __future__ import annotations

import uuid

from shared.agents.types import SearchResult


class StaticSearch:
    """A search provider with fixed results per query word; records every call."""

    name = "static"

    def __init__(self, results: dict[str, list[SearchResult]] | None = None, fail: bool = False):
        self.results = results or {}
        self.fail = fail
        self.calls: list[dict] = []

    async def search(self, query, *, freshness, limit, user_id):
        from services.executor.tools.search import SearchError

        self.calls.append({"query": query, "freshness": freshness, "user_id": user_id})
        if self.fail:
            raise SearchError("static search is down")
        return [r for word, found in self.results.items() if word in query.lower() for r in found]

    async def aclose(self) -> None:
        pass


def ids() -> dict[str, uuid.UUID]:
    return {"task_id": uuid.uuid4(), "chat_id": uuid.uuid4(), "user_id": uuid.uuid4()}
