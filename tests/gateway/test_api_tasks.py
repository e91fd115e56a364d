"""Tasks over HTTP: get, list per chat, events, cancel (services/gateway/routes/tasks.py).

No worker runs, so a posted task stays queued, and cancelling it ends it at once.
"""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.api import Api, assert_error

TASK_FIELDS = {
    "id",
    "chat_id",
    "status",
    "phase",
    "stop_reason",
    "plan",
    "result",
    "error",
    "usage",
    "model",
    "attempt",
    "last_seq",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "links",
}


async def test_get_a_queued_task(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    task_id = (await api.post_message(alice, chat["id"], "Plan a trip"))["task_id"]
    reply = await api.request("GET", f"/v1/tasks/{task_id}", alice)
    assert reply.status == 200
    task = reply.body
    assert set(task) == TASK_FIELDS
    assert task["id"] == task_id
    assert task["chat_id"] == chat["id"]
    assert task["status"] == "queued"
    assert task["stop_reason"] is None
    assert task["plan"] is None
    assert task["finished_at"] is None
    assert task["last_seq"] >= 1
    assert task["links"] == {
        "task": f"/v1/tasks/{task_id}",
        "events": f"/v1/tasks/{task_id}/events",
        "cancel": f"/v1/tasks/{task_id}/cancel",
    }


@pytest.mark.parametrize("task_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
async def test_an_unknown_task_is_404(api: Api, task_id: str) -> None:
    alice = await api.user("alice")
    for method, suffix in (
        ("GET", ""),
        ("GET", "/events"),
        ("POST", "/cancel"),
        ("GET", "/stream"),
    ):
        reply = await api.request(method, f"/v1/tasks/{task_id}{suffix}", alice)
        assert_error(reply, 404, "not_found")


async def test_list_a_chats_tasks_with_a_status_filter(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    other_chat = await api.create_chat(alice)
    tasks = [(await api.post_message(alice, chat["id"], f"t{n}"))["task_id"] for n in range(3)]
    await api.post_message(alice, other_chat["id"])
    assert (await api.request("POST", f"/v1/tasks/{tasks[1]}/cancel", alice)).status == 200
    path = f"/v1/chats/{chat['id']}/tasks"

    everything = await api.request("GET", path, alice)
    assert everything.status == 200
    assert [t["id"] for t in everything.body["tasks"]] == tasks[::-1]  # newest first
    assert everything.body["next_cursor"] is None
    assert set(everything.body["tasks"][0]) == TASK_FIELDS

    cancelled = await api.request("GET", path, alice, params={"status": "cancelled"})
    assert [t["id"] for t in cancelled.body["tasks"]] == [tasks[1]]
    queued = await api.request("GET", path, alice, params={"status": "queued"})
    assert [t["id"] for t in queued.body["tasks"]] == [tasks[2], tasks[0]]
    running = await api.request("GET", path, alice, params={"status": "running"})
    assert running.body == {"tasks": [], "next_cursor": None}

    pages = await api.pages(alice, path, "tasks", limit=2)
    assert [[t["id"] for t in page] for page in pages] == [tasks[:0:-1], tasks[:1]]


@pytest.mark.parametrize("status", ["done", "QUEUED", ""])
async def test_an_unknown_status_filter_is_422(api: Api, status: str) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    reply = await api.request(
        "GET", f"/v1/chats/{chat['id']}/tasks", alice, params={"status": status}
    )
    error = assert_error(reply, 422, "validation_failed")
    assert error["details"][0]["field"] == "status"


async def test_events_after_a_sequence_number(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    task_id = (await api.post_message(alice, chat["id"], "Plan a trip"))["task_id"]
    path = f"/v1/tasks/{task_id}/events"

    reply = await api.request("GET", path, alice)
    assert reply.status == 200
    events = reply.body["events"]
    assert [e["type"] for e in events] == ["task.created", "task.queued"]
    assert [e["seq"] for e in events] == [1, 2]
    assert reply.body["next_after_seq"] == 2
    first = events[0]
    assert set(first) == {"id", "task_id", "chat_id", "seq", "type", "ts", "attempt", "data"}
    assert first["id"] == f"{task_id}:1"
    assert first["chat_id"] == chat["id"]
    assert first["data"]["content"] == "Plan a trip"

    after_one = await api.request("GET", path, alice, params={"after_seq": "1"})
    assert [e["seq"] for e in after_one.body["events"]] == [2]
    limited = await api.request("GET", path, alice, params={"limit": "1"})
    assert [e["seq"] for e in limited.body["events"]] == [1]
    assert limited.body["next_after_seq"] == 1
    # Nothing after the last: the same seq comes back, to poll again with.
    past = await api.request("GET", path, alice, params={"after_seq": "2"})
    assert past.body == {"events": [], "next_after_seq": 2}


@pytest.mark.parametrize(
    "params",
    [
        {"after_seq": "-1"},
        {"after_seq": "two"},
        {"after_seq": "1.5"},
        {"after_seq": str(2**62 + 1)},
        {"limit": "0"},
        {"limit": "1001"},
    ],
)
async def test_bad_event_parameters_are_422(api: Api, params: dict[str, str]) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    task_id = (await api.post_message(alice, chat["id"]))["task_id"]
    reply = await api.request("GET", f"/v1/tasks/{task_id}/events", alice, params=params)
    error = assert_error(reply, 422, "validation_failed")
    assert error["details"][0]["field"] == next(iter(params))


async def test_cancel_a_queued_task_twice(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    task_id = (await api.post_message(alice, chat["id"]))["task_id"]
    path = f"/v1/tasks/{task_id}/cancel"

    first = await api.request("POST", path, alice)
    assert first.status == 200
    assert set(first.body) == TASK_FIELDS
    assert first.body["status"] == "cancelled"
    assert first.body["stop_reason"] == "user_cancelled"
    assert first.body["finished_at"] is not None
    events = (await api.request("GET", f"/v1/tasks/{task_id}/events", alice)).body["events"]
    assert [e["type"] for e in events][-2:] == ["task.cancel_requested", "task.cancelled"]

    # Again: harmless, and nothing new is recorded.
    second = await api.request("POST", path, alice)
    assert second.status == 200
    assert second.body == first.body
    again = (await api.request("GET", f"/v1/tasks/{task_id}/events", alice)).body["events"]
    assert again == events
