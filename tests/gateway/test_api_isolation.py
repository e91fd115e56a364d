"""One user's resources are invisible to another: 404 on every route, never 403 and never data,
and nothing of theirs changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.api import Api, Caller, assert_error


@dataclass(frozen=True)
class Owned:
    chat: str
    task: str
    document: str
    idempotency_key: str


async def alices_things(api: Api, alice: Caller) -> Owned:
    chat = await api.create_chat(alice, "Alice's secret plans")
    task = await api.post_message(alice, chat["id"], "Alice's secret message", key="alice-key")
    await api.post_message(alice, chat["id"], "Another secret")
    document = await api.add_document(alice, "Alice's diary", "Dear diary", source="diary.md")
    return Owned(chat["id"], task["task_id"], document["id"], "alice-key")


async def snapshot(api: Api, alice: Caller) -> dict[str, Any]:
    """All of Alice's rows, every column."""
    queries = {
        "chats": "SELECT * FROM chats WHERE user_id = $1 ORDER BY id",
        "messages": "SELECT m.* FROM messages m JOIN chats c ON c.id = m.chat_id"
        " WHERE c.user_id = $1 ORDER BY m.id",
        "tasks": "SELECT * FROM tasks WHERE user_id = $1 ORDER BY id",
        "events": "SELECT e.* FROM task_events e JOIN tasks t ON t.id = e.task_id"
        " WHERE t.user_id = $1 ORDER BY e.task_id, e.seq",
        "documents": "SELECT id, title, body, source, created_at FROM documents"
        " WHERE user_id = $1 ORDER BY id",
    }
    return {
        name: [dict(r) for r in await api.pool.fetch(q, alice.id)] for name, q in queries.items()
    }


def shows_alices_data(text: str) -> bool:
    return any(mark in text for mark in ("Alice", "secret", "Dear diary"))


# (method, path template, JSON body, headers): every route that takes one of Alice's ids.
ATTEMPTS = [
    ("GET", "/v1/chats/{chat}", None, None),
    ("PATCH", "/v1/chats/{chat}", {"title": "mine now"}, None),
    ("DELETE", "/v1/chats/{chat}", None, None),
    ("GET", "/v1/chats/{chat}/messages", None, None),
    ("POST", "/v1/chats/{chat}/messages", {"content": "hijack"}, None),
    # Alice's key with Alice's body: neither a replay of her task nor a 422 about her key.
    ("POST", "/v1/chats/{chat}/messages", {"content": "Alice's secret message"}, "alice-key"),
    ("POST", "/v1/chats/{chat}/messages", {"content": "other"}, "alice-key"),
    ("GET", "/v1/chats/{chat}/tasks", None, None),
    ("GET", "/v1/tasks/{task}", None, None),
    ("GET", "/v1/tasks/{task}/events", None, None),
    ("GET", "/v1/tasks/{task}/stream", None, None),
    ("POST", "/v1/tasks/{task}/cancel", None, None),
    ("GET", "/v1/documents/{document}", None, None),
    ("DELETE", "/v1/documents/{document}", None, None),
]


@pytest.mark.parametrize(
    ("method", "template", "body", "key"),
    ATTEMPTS,
    ids=[f"{m} {t}{' key' if k else ''}" for m, t, _, k in ATTEMPTS],
)
async def test_another_users_resource_is_not_found(
    api: Api, method: str, template: str, body: dict[str, Any] | None, key: str | None
) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    owned = await alices_things(api, alice)
    before = await snapshot(api, alice)
    path = template.format(chat=owned.chat, task=owned.task, document=owned.document)
    headers = {"Idempotency-Key": key} if key else None

    reply = await api.request(method, path, bob, json=body, headers=headers)
    error = assert_error(reply, 404, "not_found")
    assert error["details"] is None
    assert not shows_alices_data(reply.text)

    assert await snapshot(api, alice) == before
    # Bob made nothing either.
    assert await api.pool.fetchval("SELECT count(*) FROM tasks WHERE user_id = $1", bob.id) == 0


async def test_lists_show_only_ones_own(api: Api) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    owned = await alices_things(api, alice)
    bobs_chat = await api.create_chat(bob, "Bob's")
    bobs_document = await api.add_document(bob, "Bob's notes", source="diary.md")

    chats = (await api.request("GET", "/v1/chats", bob)).body["chats"]
    assert [c["id"] for c in chats] == [bobs_chat["id"]]
    documents = (await api.request("GET", "/v1/documents", bob)).body["documents"]
    # The same source is a document of each user's own.
    assert [d["id"] for d in documents] == [bobs_document["id"]]
    assert bobs_document["id"] != owned.document
    for reply in (
        await api.request("GET", "/v1/chats", bob),
        await api.request("GET", "/v1/documents", bob),
    ):
        assert not shows_alices_data(reply.text)

    # And Alice still has all of hers, unchanged.
    got = await api.request("GET", f"/v1/documents/{owned.document}", alice)
    assert got.body["title"] == "Alice's diary" and got.body["body"] == "Dear diary"
    mine = (await api.request("GET", "/v1/chats", alice)).body["chats"]
    assert [c["id"] for c in mine] == [owned.chat]
