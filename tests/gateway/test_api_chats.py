"""Chats and their messages over HTTP (services/gateway/routes/chats.py, submission.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from arq.constants import abort_jobs_ss

from services.gateway.keys import KEYS, REDIS
from shared.event_stream import event_from_fields
from shared.redis_keys import execute_job_id, plan_job_id
from tests.fixtures.api import Api, assert_error


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_create_a_chat_with_a_title(api: Api) -> None:
    alice = await api.user("alice")
    reply = await api.request("POST", "/v1/chats", alice, json={"title": "  Trip to Lisbon "})
    assert reply.status == 201
    chat = reply.body
    assert set(chat) == {"id", "title", "created_at", "updated_at"}
    uuid.UUID(chat["id"])
    assert chat["title"] == "Trip to Lisbon"
    assert stamp(chat["created_at"]) == stamp(chat["updated_at"])


@pytest.mark.parametrize("body", [None, b"", b"  \n", b"{}"])
async def test_create_a_chat_without_a_body(api: Api, body: bytes | None) -> None:
    alice = await api.user("alice")
    headers = {"Content-Type": "application/json"} if body else {}
    reply = await api.request("POST", "/v1/chats", alice, data=body, headers=headers)
    assert reply.status == 201, reply.text
    assert reply.body["title"] == ""


async def test_list_chats_page_by_page(api: Api) -> None:
    alice = await api.user("alice")
    created = [(await api.create_chat(alice, f"chat {n}"))["id"] for n in range(25)]
    pages = await api.pages(alice, "/v1/chats", "chats", limit=10)
    assert [len(page) for page in pages] == [10, 10, 5]
    listed = [chat["id"] for page in pages for chat in page]
    assert len(set(listed)) == len(listed) == 25  # no duplicates
    assert set(listed) == set(created)  # none missing
    # Newest first.
    stamps = [(stamp(chat["created_at"]), chat["id"]) for page in pages for chat in page]
    assert stamps == sorted(stamps, reverse=True)


async def test_an_empty_list_has_no_cursor(api: Api) -> None:
    alice = await api.user("alice")
    reply = await api.request("GET", "/v1/chats", alice)
    assert reply.body == {"chats": [], "next_cursor": None}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"cursor": "12~nope"},
        {"cursor": ""},
    ],
)
async def test_bad_paging_parameters_are_422(api: Api, params: dict[str, str]) -> None:
    alice = await api.user("alice")
    error = assert_error(
        await api.request("GET", "/v1/chats", alice, params=params), 422, "validation_failed"
    )
    assert error["details"][0]["field"] == next(iter(params))


async def test_get_rename_and_get_again(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice, "old")
    path = f"/v1/chats/{chat['id']}"
    assert (await api.request("GET", path, alice)).body == chat

    renamed = await api.request("PATCH", path, alice, json={"title": " new "})
    assert renamed.status == 200
    assert renamed.body["id"] == chat["id"]
    assert renamed.body["title"] == "new"
    assert renamed.body["created_at"] == chat["created_at"]
    assert stamp(renamed.body["updated_at"]) > stamp(chat["updated_at"])
    assert (await api.request("GET", path, alice)).body == renamed.body


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "title"), ({"title": 7}, "title"), ({"title": "x", "colour": "red"}, "colour")],
)
async def test_rename_needs_a_title_string(api: Api, body: dict[str, Any], field: str) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    reply = await api.request("PATCH", f"/v1/chats/{chat['id']}", alice, json=body)
    error = assert_error(reply, 422, "validation_failed")
    assert [d["field"] for d in error["details"]] == [field]


async def final_events_streamed(api: Api, task_id: uuid.UUID) -> list[str]:
    """The types of the final events on the task's live stream (what a socket would get)."""
    app = api.client.app
    entries = await app[REDIS].xrange(app[KEYS].task_stream(task_id))
    types = [event_from_fields(fields).type for _, fields in entries]
    return [t for t in types if t in ("task.succeeded", "task.failed", "task.cancelled")]


async def test_deleting_a_chat_cancels_its_unfinished_tasks(api: Api) -> None:
    """Queued and running tasks both end cancelled, their jobs aborted, and whoever follows
    them live is told so before their rows go; a finished task is left as it was."""
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    queued, running, done = [
        uuid.UUID((await api.post_message(alice, chat["id"], text))["task_id"])
        for text in ("one", "two", "three")
    ]
    # No worker runs here: make one task look picked up by the executor, one long finished.
    await api.pool.execute(
        "UPDATE tasks SET status = 'running', phase = 'executing' WHERE id = $1", running
    )
    await api.pool.execute(
        "UPDATE tasks SET status = 'succeeded', stop_reason = 'completed', finished_at = now()"
        " WHERE id = $1",
        done,
    )

    assert (await api.request("DELETE", f"/v1/chats/{chat['id']}", alice)).status == 204

    assert await final_events_streamed(api, queued) == ["task.cancelled"]
    assert await final_events_streamed(api, running) == ["task.cancelled"]
    assert await final_events_streamed(api, done) == []
    aborted = {
        member.decode() for member in await api.client.app[REDIS].zrange(abort_jobs_ss, 0, -1)
    }
    assert {plan_job_id(queued), execute_job_id(running)} <= aborted
    assert plan_job_id(done) not in aborted
    assert await api.pool.fetchval("SELECT count(*) FROM tasks") == 0


async def test_delete_a_chat_with_its_messages_tasks_and_events(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    kept = await api.create_chat(alice, "kept")
    submission = await api.post_message(alice, chat["id"])
    await api.post_message(alice, kept["id"])
    chat_id, task_id = uuid.UUID(chat["id"]), uuid.UUID(submission["task_id"])
    assert await api.pool.fetchval("SELECT count(*) FROM task_events WHERE task_id = $1", task_id)

    reply = await api.request("DELETE", f"/v1/chats/{chat['id']}", alice)
    assert reply.status == 204
    assert reply.text == ""
    assert_error(await api.request("GET", f"/v1/chats/{chat['id']}", alice), 404, "not_found")
    assert_error(await api.request("DELETE", f"/v1/chats/{chat['id']}", alice), 404, "not_found")
    assert_error(await api.request("GET", f"/v1/tasks/{task_id}", alice), 404, "not_found")
    for query in (
        "SELECT count(*) FROM messages WHERE chat_id = $1",
        "SELECT count(*) FROM tasks WHERE chat_id = $1",
    ):
        assert await api.pool.fetchval(query, chat_id) == 0
    assert (
        await api.pool.fetchval("SELECT count(*) FROM task_events WHERE task_id = $1", task_id) == 0
    )
    # The other chat is untouched.
    assert (await api.request("GET", f"/v1/chats/{kept['id']}", alice)).status == 200
    assert len((await api.request("GET", "/v1/chats", alice)).body["chats"]) == 1


async def test_post_a_message(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    reply = await api.request(
        "POST", f"/v1/chats/{chat['id']}/messages", alice, json={"content": "Plan my week"}
    )
    assert reply.status == 202
    body = reply.body
    task_id = body["task_id"]
    assert body == {
        "task_id": task_id,
        "message_id": body["message_id"],
        "chat_id": chat["id"],
        "status": "queued",
        "links": {
            "task": f"/v1/tasks/{task_id}",
            "events": f"/v1/tasks/{task_id}/events",
            "cancel": f"/v1/tasks/{task_id}/cancel",
        },
    }
    row = await api.pool.fetchrow(
        "SELECT m.content, m.role, t.status FROM messages m JOIN tasks t ON t.id = m.task_id"
        " WHERE m.id = $1",
        uuid.UUID(body["message_id"]),
    )
    assert dict(row) == {"content": "Plan my week", "role": "user", "status": "queued"}
    task = await api.request("GET", body["links"]["task"], alice)
    assert task.body["status"] == "queued"


async def test_an_idempotency_key_replays_the_first_response(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    first = await api.post_message(alice, chat["id"], "Book a table", key="key-1")
    again = await api.post_message(alice, chat["id"], "Book a table", key="key-1")
    assert again == first
    chat_id = uuid.UUID(chat["id"])
    counts = (
        "SELECT (SELECT count(*) FROM tasks WHERE chat_id = $1),"
        " (SELECT count(*) FROM messages WHERE chat_id = $1)"
    )
    assert tuple(await api.pool.fetchrow(counts, chat_id)) == (1, 1)

    # The same key with another body is refused, and creates nothing either.
    reply = await api.request(
        "POST",
        f"/v1/chats/{chat['id']}/messages",
        alice,
        json={"content": "Book two tables"},
        headers={"Idempotency-Key": "key-1"},
    )
    error = assert_error(reply, 422, "idempotency_key_reused")
    assert error["details"][0]["field"] == "Idempotency-Key"
    assert tuple(await api.pool.fetchrow(counts, chat_id)) == (1, 1)

    # Another key is another task.
    other = await api.post_message(alice, chat["id"], "Book a table", key="key-2")
    assert other["task_id"] != first["task_id"]


async def test_an_idempotency_key_is_one_to_255_characters(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    reply = await api.request(
        "POST",
        f"/v1/chats/{chat['id']}/messages",
        alice,
        json={"content": "hi"},
        headers={"Idempotency-Key": "k" * 256},
    )
    assert_error(reply, 400, "bad_request")
    await api.post_message(alice, chat["id"], "hi", key="k" * 255)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": " \n\t\u3000"}, "content"),
        ({"content": "a\x00b"}, "content"),
        ({"content": 42}, "content"),
        ({"content": ["hi"]}, "content"),
        ({"content": "x" * 100_001}, "content"),
        ({"content": "hi", "priority": 1}, "priority"),
    ],
)
async def test_a_bad_message_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    reply = await api.request("POST", f"/v1/chats/{chat['id']}/messages", alice, json=body)
    error = assert_error(reply, 422, "validation_failed")
    assert [d["field"] for d in error["details"]] == [field]
    assert await api.pool.fetchval("SELECT count(*) FROM tasks") == 0


async def test_list_messages_page_by_page_oldest_first(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    posted = [(await api.post_message(alice, chat["id"], f"m{n}"))["message_id"] for n in range(7)]
    pages = await api.pages(alice, f"/v1/chats/{chat['id']}/messages", "messages", 3)
    assert [len(page) for page in pages] == [3, 3, 1]
    messages = [m for page in pages for m in page]
    assert [m["id"] for m in messages] == posted  # oldest first, none missing or repeated
    assert [m["content"] for m in messages] == [f"m{n}" for n in range(7)]
    assert {m["role"] for m in messages} == {"user"}
    assert {m["chat_id"] for m in messages} == {chat["id"]}
    assert set(messages[0]) == {"id", "chat_id", "task_id", "role", "content", "created_at"}


async def test_messages_of_an_unknown_chat_are_404(api: Api) -> None:
    alice = await api.user("alice")
    path = f"/v1/chats/{uuid.uuid4()}/messages"
    assert_error(await api.request("GET", path, alice), 404, "not_found")
    reply = await api.request("POST", path, alice, json={"content": "hi"})
    assert_error(reply, 404, "not_found")
