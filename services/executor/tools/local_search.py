"""web_search over the local knowledge base: PostgreSQL full-text search on `documents`.

All words must match first (websearch_to_tsquery: quotes, `or` and `-word` work as on the web);
when nothing matches, any word may match, ranked so that documents matching more words and
matching in the title come first. A user sees the shared documents and their own. Documents
have no publication date, so `freshness` does not apply here.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from uuid import UUID

import asyncpg

from services.executor.tools.search import SearchError
from shared.agents.types import SearchResult

# ts_rank normalisation 1: divide by 1 + log(length), so a long document matching a word once
# does not outrank a short one about that word.
_SEARCH_SQL = """
WITH q AS (SELECT websearch_to_tsquery('english', $1) AS query),
hits AS (
    SELECT d.id, d.title, d.body, d.source, ts_rank(d.search, q.query, 1) AS rank
    FROM documents d, q
    WHERE numnode(q.query) > 0
      AND d.search @@ q.query
      AND (d.user_id IS NULL OR d.user_id = $2)
    ORDER BY rank DESC, d.created_at DESC, d.id
    LIMIT $3
)
SELECT hits.id, hits.title, hits.source, hits.rank,
       ts_headline('english', hits.body, q.query,
                   'MaxFragments=2, MaxWords=35, MinWords=12, StartSel="", StopSel="",
                    FragmentDelimiter=" … "') AS snippet
FROM hits, q
ORDER BY hits.rank DESC
"""


def document_url(document_id: UUID, source: str | None) -> str:
    """A link for a document: its web address, its file as a file:// URI, or its id."""
    if not source:
        return f"jarvis:documents/{document_id}"
    if re.match(r"^[a-z][a-z0-9+.-]*://", source, re.I):
        return source
    path, hash_sign, fragment = source.partition("#")
    if PurePosixPath(path).is_absolute():
        return PurePosixPath(path).as_uri() + hash_sign + fragment
    return f"jarvis:documents/{document_id}"


def any_word_query(query: str) -> str:
    """The websearch query matching any of the words (`a or b or c`)."""
    return " or ".join(re.findall(r"\w+", query))


class LocalSearch:
    name = "local"

    def __init__(self, pool: asyncpg.Pool, *, timeout: float = 10.0) -> None:
        self.pool = pool
        self.timeout = timeout

    async def search(
        self, query: str, *, freshness: str, limit: int, user_id: UUID | None
    ) -> list[SearchResult]:
        try:
            rows = await self._query(query, user_id, limit)
            if not rows and (relaxed := any_word_query(query)):
                rows = await self._query(relaxed, user_id, limit)
        except (asyncpg.PostgresError, OSError) as error:
            raise SearchError(f"local search failed: {type(error).__name__}") from error
        return [
            SearchResult(
                title=row["title"],
                url=document_url(row["id"], row["source"]),
                snippet=row["snippet"] or "",
            )
            for row in rows
        ]

    async def _query(self, query: str, user_id: UUID | None, limit: int) -> list[asyncpg.Record]:
        return await self.pool.fetch(_SEARCH_SQL, query, user_id, limit, timeout=self.timeout)

    async def aclose(self) -> None:
        """The pool belongs to the caller."""
