"""Server-sent events for one task (services/gateway/routes/stream.py), in-process against real
PostgreSQL and Redis: the frame format, Last-Event-ID, the end after the final event, ownership."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from services.gateway.routes import stream as stream_module
from shared.tasks import StopReason, TaskStatus
from tests.fixtures.feed import Feed, make_chat, make_task, make_user, running_feed

WITHIN = 15.0


@pytest.fixture
async def feed(database_url: str, redis_url: str) -> AsyncIterator[Feed]:
    async with running_feed(database_url, redis_url) as feed:
        yield feed


async def owned_task(feed: Feed, name: str = "alice") -> tuple[str, uuid.UUID]:
    """A user's token and a queued task of theirs."""
    user_id, token = await make_user(feed.pool, name)
    chat_id = await make_chat(feed.pool, user_id)
    return token, await make_task(feed.pool, chat_id, user_id)


async def record(feed: Feed, task_id: uuid.UUID, count: int) -> None:
    recorder = feed.recorder(task_id)
    for n in range(count):
        await recorder.record("progress", {"message": f"n{n}"})


async def finish(feed: Feed, task_id: uuid.UUID) -> None:
    assert await feed.recorder(task_id).finish(TaskStatus.SUCCEEDED, StopReason.COMPLETED)


def open_stream(
    feed: Feed, task_id: uuid.UUID, token: str, **headers: str
) -> aiohttp.client._RequestContextManager:
    return feed.session.get(
        feed.url(f"/v1/tasks/{task_id}/stream"),
        headers={"Authorization": f"Bearer {token}", **headers},
    )


async def next_frame(response: aiohttp.ClientResponse) -> dict[str, str] | None:
    """The next frame's fields (comments skipped); None at the end of the response."""
    fields: dict[str, str] = {}
    while True:
        line = await response.content.readline()
        if not line:
            assert not fields, f"the response ended inside a frame: {fields}"
            return None
        text = line.decode().rstrip("\n")
        if text == "":
            if fields:
                return fields
            continue
        if text.startswith(":"):
            continue
        name, _, value = text.partition(": ")
        assert name not in fields, f"{name} twice in one frame"
        fields[name] = value


async def all_frames(response: aiohttp.ClientResponse) -> list[dict[str, str]]:
    """Every frame until the server ends the response (which it must do in time)."""
    frames = []
    async with asyncio.timeout(WITHIN):
        while (frame := await next_frame(response)) is not None:
            frames.append(frame)
    return frames


def check_frames(frames: list[dict[str, str]], task_id: uuid.UUID) -> list[dict[str, Any]]:
    """Each frame is `id: <task_id>:<seq>`, `event: <type>`, `data: <envelope>`; the envelopes."""
    events = []
    for frame in frames:
        assert set(frame) == {"id", "event", "data"}, frame
        event = json.loads(frame["data"])
        assert frame["id"] == f"{task_id}:{event['seq']}" == event["id"]
        assert frame["event"] == event["type"]
        assert event["task_id"] == str(task_id)
        events.append(event)
    return events


async def test_a_finished_task_streams_its_events_and_ends(feed: Feed) -> None:
    token, task_id = await owned_task(feed)
    await feed.recorder(task_id).record("task.created", {})
    await record(feed, task_id, 3)
    await finish(feed, task_id)

    async with open_stream(feed, task_id, token) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        events = check_frames(await all_frames(response), task_id)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert [e["type"] for e in events] == ["task.created", *["progress"] * 3, "task.succeeded"]
    assert events[-1]["data"]["stop_reason"] == "completed"


async def test_live_events_then_the_end_after_the_final_one(feed: Feed) -> None:
    token, task_id = await owned_task(feed)
    await record(feed, task_id, 2)
    async with open_stream(feed, task_id, token) as response:
        assert response.status == 200
        first = [await next_frame(response) for _ in range(2)]
        assert [e["seq"] for e in check_frames(first, task_id)] == [1, 2]  # type: ignore[arg-type]
        await record(feed, task_id, 3)
        await finish(feed, task_id)
        rest = check_frames(await all_frames(response), task_id)
    assert [e["seq"] for e in rest] == [3, 4, 5, 6]
    assert rest[-1]["type"] == "task.succeeded"


async def test_last_event_id_resumes_after_that_seq(feed: Feed) -> None:
    token, task_id = await owned_task(feed)
    await record(feed, task_id, 5)
    await finish(feed, task_id)
    async with open_stream(feed, task_id, token, **{"Last-Event-ID": f"{task_id}:3"}) as response:
        events = check_frames(await all_frames(response), task_id)
    assert [e["seq"] for e in events] == [4, 5, 6]
    # ?after_seq= does the same for clients that cannot set the header.
    async with feed.session.get(
        feed.url(f"/v1/tasks/{task_id}/stream?after_seq=5"),
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        events = check_frames(await all_frames(response), task_id)
    assert [e["seq"] for e in events] == [6]


async def test_resuming_after_the_final_event_tells_the_client_to_stop(feed: Feed) -> None:
    """An EventSource reconnects whenever a response ends, with the final event's id: the answer
    is 204, which is how SSE says "stop reconnecting", not a response that never ends."""
    token, task_id = await owned_task(feed)
    await record(feed, task_id, 2)
    await finish(feed, task_id)
    async with (
        asyncio.timeout(WITHIN),
        open_stream(feed, task_id, token, **{"Last-Event-ID": f"{task_id}:3"}) as response,
    ):
        assert response.status == 204
        assert await response.read() == b""


async def test_a_task_with_events_missing_from_redis_streams_from_postgres(feed: Feed) -> None:
    token, task_id = await owned_task(feed)
    await record(feed, task_id, 3)
    await feed.redis.delete(feed.keys.task_stream(task_id))
    async with open_stream(feed, task_id, token, **{"Last-Event-ID": f"{task_id}:1"}) as response:
        first = [await next_frame(response) for _ in range(2)]
        assert [e["seq"] for e in check_frames(first, task_id)] == [2, 3]  # type: ignore[arg-type]
        # A lost XADD, then one that arrives: the gap is filled in order.
        await feed.recorder(task_id, streamed=False).record("progress", {"message": "lost"})
        await finish(feed, task_id)
        rest = check_frames(await all_frames(response), task_id)
    assert [e["seq"] for e in rest] == [4, 5]
    assert rest[0]["data"] == {"message": "lost"}


async def test_keep_alive_comments_while_nothing_happens(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "KEEPALIVE_SECONDS", 0.05)
    token, task_id = await owned_task(feed)
    async with open_stream(feed, task_id, token) as response:
        async with asyncio.timeout(WITHIN):
            assert await response.content.readline() == b": keep-alive\n"
        await finish(feed, task_id)
        events = check_frames(await all_frames(response), task_id)
    assert [e["type"] for e in events] == ["task.succeeded"]


async def test_the_stream_ends_when_the_gateway_stops(feed: Feed) -> None:
    token, task_id = await owned_task(feed)
    await record(feed, task_id, 1)
    async with open_stream(feed, task_id, token) as response:
        assert (await next_frame(response) or {}).get("id") == f"{task_id}:1"
        async with asyncio.timeout(10):
            await feed.stop()
        assert await all_frames(response) == []


async def test_another_users_task_is_not_found(feed: Feed) -> None:
    _, their_task = await owned_task(feed, "bob")
    await record(feed, their_task, 1)
    _, token = await make_user(feed.pool, "alice")
    for task_id in (their_task, uuid.uuid4()):
        async with open_stream(feed, task_id, token) as response:
            assert response.status == 404
            assert response.headers["Content-Type"].startswith("application/json")
            assert (await response.json())["error"]["code"] == "not_found"


async def test_no_token_is_unauthorized_and_a_bad_last_event_id_is_refused(feed: Feed) -> None:
    token, task_id = await owned_task(feed)
    async with feed.session.get(feed.url(f"/v1/tasks/{task_id}/stream")) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    async with open_stream(feed, task_id, token, **{"Last-Event-ID": "nonsense"}) as response:
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "validation_failed"
