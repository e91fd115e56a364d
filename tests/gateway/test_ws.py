"""The WebSocket feed (services/gateway/routes/ws.py and hub.py), in-process against real
PostgreSQL and Redis: order and exactly-once delivery, catch-up, resume, slow clients, the
handshake's checks and the protocol's errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from services.gateway import hub as hub_module
from services.gateway.tickets import TICKET_SECONDS
from shared.tasks import StopReason, TaskStatus
from tests.fixtures.feed import (
    WITHIN,
    Feed,
    Socket,
    make_chat,
    make_task,
    make_user,
    running_feed,
)
from tests.fixtures.polling import async_wait_for


@pytest.fixture
async def feed(database_url: str, redis_url: str) -> AsyncIterator[Feed]:
    async with running_feed(database_url, redis_url) as feed:
        yield feed


async def owner(feed: Feed, name: str = "alice") -> tuple[uuid.UUID, str, uuid.UUID, uuid.UUID]:
    """A user with a token, a chat and a queued task in it."""
    user_id, token = await make_user(feed.pool, name)
    chat_id = await make_chat(feed.pool, user_id)
    task_id = await make_task(feed.pool, chat_id, user_id)
    return user_id, token, chat_id, task_id


async def record_progress(feed: Feed, task_id: uuid.UUID, count: int, **data: Any) -> list[int]:
    """`count` progress events; their seqs. A `message` without a `note` (mark_progress's
    ordinal) has no dedupe key: each is a new fact."""
    recorder = feed.recorder(task_id)
    seqs = []
    for n in range(count):
        event = await recorder.record("progress", {"message": f"n{n}", **data})
        seqs.append(event.seq)
    return seqs


def seqs_of(events: list[dict[str, Any]], task_id: uuid.UUID) -> list[int]:
    assert all(e["task_id"] == str(task_id) for e in events), events
    assert all(e["id"] == f"{task_id}:{e['seq']}" for e in events), events
    return [e["seq"] for e in events]


async def handshake(feed: Feed, query: str = "", **headers: str) -> tuple[int, dict[str, Any]]:
    """A WebSocket upgrade request read as plain HTTP: a refusal's status and JSON body."""
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    async with feed.session.get(feed.url("/v1/ws" + query), headers=upgrade | headers) as response:
        return response.status, await response.json()


# --- delivery --------------------------------------------------------------------------------


async def test_task_events_once_in_order_from_history_then_live(feed: Feed) -> None:
    _, token, _, task_id = await owner(feed)
    recorder = feed.recorder(task_id)
    await recorder.record("task.created", {})
    await recorder.record("task.started", {})
    await record_progress(feed, task_id, 3)  # seq 3..5, before anyone listens

    socket = await feed.connect(token)
    assert await socket.subscribe(task_id=str(task_id)) == {
        "type": "subscribed",
        "task_id": str(task_id),
    }
    history = await socket.events(5)
    assert seqs_of(history, task_id) == [1, 2, 3, 4, 5]
    assert [e["type"] for e in history[:2]] == ["task.created", "task.started"]

    await record_progress(feed, task_id, 3)
    assert await recorder.finish(TaskStatus.SUCCEEDED, StopReason.COMPLETED)
    live = await socket.events(4)
    assert seqs_of(live, task_id) == [6, 7, 8, 9]
    assert live[-1]["type"] == "task.succeeded"
    assert live[-1]["data"]["stop_reason"] == "completed"
    await socket.quiet()


async def test_events_recorded_while_subscribing_arrive_once(feed: Feed) -> None:
    """History and stream overlap while a writer is busy: still each seq once, in order."""
    _, token, _, task_id = await owner(feed)
    total = 150
    writer = asyncio.create_task(record_progress(feed, task_id, total))
    try:

        async def some_recorded() -> bool:
            return bool(
                await feed.pool.fetchval("SELECT last_seq FROM tasks WHERE id = $1", task_id)
            )

        await async_wait_for(some_recorded, within=10, what="the first events")
        socket = await feed.connect(token)
        await socket.subscribe(task_id=str(task_id))
        events = await socket.events(total)
    finally:
        await writer
    assert seqs_of(events, task_id) == list(range(1, total + 1))
    # One more, live: nothing from the overlap was left to come before it.
    await record_progress(feed, task_id, 1)
    assert seqs_of(await socket.events(1), task_id) == [total + 1]
    await socket.quiet()


async def test_two_sockets_on_one_task_both_get_everything(feed: Feed) -> None:
    _, token, _, task_id = await owner(feed)
    first, second = await feed.connect(token), await feed.connect(token)
    await first.subscribe(task_id=str(task_id))
    await record_progress(feed, task_id, 2)
    await second.subscribe(task_id=str(task_id))
    await record_progress(feed, task_id, 2)
    assert seqs_of(await first.events(4), task_id) == [1, 2, 3, 4]
    assert seqs_of(await second.events(4), task_id) == [1, 2, 3, 4]
    await first.quiet()
    await second.quiet()


async def test_chat_subscription_gets_tasks_created_after_it(feed: Feed) -> None:
    user_id, token, chat_id, running = await owner(feed)
    await record_progress(feed, running, 2)  # unfinished: caught up on subscribe
    finished = await make_task(feed.pool, chat_id, user_id)
    await record_progress(feed, finished, 1)
    assert await feed.recorder(finished).finish(TaskStatus.SUCCEEDED, StopReason.COMPLETED)

    socket = await feed.connect(token)
    assert await socket.subscribe(chat_id=str(chat_id)) == {
        "type": "subscribed",
        "chat_id": str(chat_id),
    }
    assert seqs_of(await socket.events(2), running) == [1, 2]

    new_task = await make_task(feed.pool, chat_id, user_id)
    await feed.recorder(new_task).record("task.created", {})
    await record_progress(feed, new_task, 2)
    await record_progress(feed, running, 1)
    assert await feed.recorder(new_task).finish(TaskStatus.SUCCEEDED, StopReason.COMPLETED)
    events = await socket.events(5)
    by_task: dict[str, list[int]] = {}
    for event in events:
        assert event["chat_id"] == str(chat_id)
        by_task.setdefault(event["task_id"], []).append(event["seq"])
    # The finished task's history is not replayed; the new task's events all come, in order.
    assert by_task == {str(new_task): [1, 2, 3, 4], str(running): [3]}
    await socket.quiet()


async def test_chat_subscription_resumes_with_since(feed: Feed) -> None:
    _, token, chat_id, task_id = await owner(feed)
    await record_progress(feed, task_id, 5)
    socket = await feed.connect(token)
    await socket.subscribe(chat_id=str(chat_id), since={str(task_id): 3})
    assert seqs_of(await socket.events(2), task_id) == [4, 5]
    await record_progress(feed, task_id, 1)
    assert seqs_of(await socket.events(1), task_id) == [6]
    await socket.quiet()


@pytest.mark.parametrize("attempt", range(3))
async def test_resume_while_events_keep_coming_sends_nothing_twice(
    feed: Feed, attempt: int
) -> None:
    """Live events that reach the socket before its catch-up do not replay what the client had."""
    _, token, chat_id, task_id = await owner(feed)
    await record_progress(feed, task_id, 20)
    more = 60
    writer = asyncio.create_task(record_progress(feed, task_id, more))
    try:
        by_chat = await feed.connect(token)
        await by_chat.subscribe(chat_id=str(chat_id), since={str(task_id): 20})
        by_task = await feed.connect(token)
        await by_task.subscribe(task_id=str(task_id), after_seq=20)
        chat_events = await by_chat.events(more)
        task_events = await by_task.events(more)
    finally:
        await writer
    assert seqs_of(chat_events, task_id) == list(range(21, 21 + more))
    assert seqs_of(task_events, task_id) == list(range(21, 21 + more))
    await by_chat.quiet()
    await by_task.quiet()


# --- resume ----------------------------------------------------------------------------------


@pytest.mark.parametrize("resume_with", ["last_event_id", "after_seq"])
async def test_resume_after_a_dropped_connection(feed: Feed, resume_with: str) -> None:
    _, token, _, task_id = await owner(feed)
    await record_progress(feed, task_id, 3)
    socket = await feed.connect(token)
    await socket.subscribe(task_id=str(task_id))
    seen = await socket.events(3)
    await record_progress(feed, task_id, 2)
    seen += await socket.events(2)
    await socket.ws.close()

    await record_progress(feed, task_id, 4)  # while nobody listens
    last = seen[-1]
    resume = {"last_event_id": last["id"]} if resume_with == "last_event_id" else {}
    if resume_with == "after_seq":
        resume = {"after_seq": last["seq"]}
    again = await feed.connect(token)
    await again.subscribe(task_id=str(task_id), **resume)
    assert seqs_of(await again.events(4), task_id) == [6, 7, 8, 9]
    await record_progress(feed, task_id, 1)
    assert seqs_of(await again.events(1), task_id) == [10]
    await again.quiet()


async def test_resume_when_redis_no_longer_has_the_events(feed: Feed) -> None:
    _, token, chat_id, task_id = await owner(feed)
    await record_progress(feed, task_id, 10)
    await feed.redis.xtrim(feed.keys.task_stream(task_id), maxlen=0, approximate=False)
    await feed.redis.delete(feed.keys.chat_stream(chat_id))
    assert await feed.redis.xlen(feed.keys.task_stream(task_id)) == 0

    socket = await feed.connect(token)
    await socket.subscribe(task_id=str(task_id), last_event_id=f"{task_id}:3")
    assert seqs_of(await socket.events(7), task_id) == list(range(4, 11))
    await socket.quiet()


async def test_an_event_missing_from_the_stream_is_filled_from_postgres(feed: Feed) -> None:
    _, token, _, task_id = await owner(feed)
    socket = await feed.connect(token)
    await socket.subscribe(task_id=str(task_id))
    await record_progress(feed, task_id, 1)
    assert seqs_of(await socket.events(1), task_id) == [1]
    # The XADD of seq 2 is lost (Redis was down for a moment); seq 3 reaches the stream.
    await feed.recorder(task_id, streamed=False).record("progress", {"message": "lost"})
    await record_progress(feed, task_id, 1)
    events = await socket.events(2)
    assert seqs_of(events, task_id) == [2, 3]
    assert events[0]["data"] == {"message": "lost"}
    await socket.quiet()


async def test_resume_after_the_gateway_restarts(feed: Feed) -> None:
    _, token, _, task_id = await owner(feed)
    await record_progress(feed, task_id, 3)
    socket = await feed.connect(token)
    await socket.subscribe(task_id=str(task_id))
    last = (await socket.events(3))[-1]

    # Stopping ends open sockets with "going away" at once, rather than holding the shutdown
    # until its timeout and then dropping them without a close frame.
    async with asyncio.timeout(10):
        await feed.stop()
    assert await socket.close_code() == aiohttp.WSCloseCode.GOING_AWAY
    await record_progress(feed, task_id, 3)
    await feed.start()

    again = await feed.connect(token)
    await again.subscribe(task_id=str(task_id), last_event_id=last["id"])
    assert seqs_of(await again.events(3), task_id) == [4, 5, 6]
    await record_progress(feed, task_id, 1)
    assert seqs_of(await again.events(1), task_id) == [7]
    await again.quiet()


async def test_a_stopped_gateway_leaves_no_feed_connections_open(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "BLOCK_MS", 50)
    _, token, _, task_id = await owner(feed)
    socket = await feed.connect(token)
    await socket.subscribe(task_id=str(task_id))
    await socket.send(type="unsubscribe", task_id=str(task_id))
    await socket.reply("unsubscribed")
    (reader,) = feed.hub.readers

    async def reader_idle() -> bool:
        # No stream left to read: its connection rests in its pool, no command in flight.
        return not reader.client.connection_pool._in_use_connections  # type: ignore[attr-defined]

    await async_wait_for(reader_idle, within=5, what="the reader to go idle")
    name = feed.hub.client_name

    async def named() -> int:
        return sum(c.get("name") == name for c in await feed.redis.client_list())

    assert await named() == feed.hub.connections() == 2
    await feed.stop()

    async def none_left() -> bool:
        return await named() == 0

    await async_wait_for(none_left, within=10, what="the feed's Redis connections to close")


# --- slow clients ----------------------------------------------------------------------------


async def test_a_slow_client_is_closed_and_others_carry_on(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small queue, and reads small enough that a client that keeps up never fills it.
    monkeypatch.setattr(hub_module, "QUEUE_SIZE", 32)
    monkeypatch.setattr(hub_module, "READ_COUNT", 4)
    _, token, _, task_id = await owner(feed)
    stream = feed.keys.task_stream(task_id)

    slow = await feed.connect(token)
    await slow.subscribe(task_id=str(task_id))
    (slow_subscriber,) = feed.hub.subscribers[stream]

    fast = await feed.connect(token)
    await fast.subscribe(task_id=str(task_id))
    fast_events: list[dict[str, Any]] = []

    async def keep_reading() -> None:
        while True:
            fast_events.extend(await fast.events(1))

    reading = asyncio.create_task(keep_reading())
    # Large events until the slow client's socket buffers and queue are full.
    recorder = feed.recorder(task_id)
    blob = "x" * 60_000
    recorded = 0
    while not slow_subscriber.closed:
        assert recorded < 3000, "the slow client was never dropped"
        assert not reading.done(), reading
        await recorder.record("progress", {"message": blob})
        recorded += 1

    # The slow client finds what was sent before the close, in order, then the code 4008.
    messages, code = await slow.until_closed()
    assert code == 4008
    received = [message["event"]["seq"] for message in messages]
    assert received == list(range(1, len(received) + 1))
    assert len(received) < recorded

    async def fast_caught_up() -> bool:
        assert not reading.done(), reading
        return len(fast_events) >= recorded

    await async_wait_for(fast_caught_up, within=30, what="the fast client to read everything")
    reading.cancel()
    assert seqs_of(fast_events, task_id) == list(range(1, recorded + 1))

    async def slow_one_removed() -> bool:
        return slow_subscriber not in feed.hub.live

    await async_wait_for(slow_one_removed, what="the slow subscriber to be removed")
    assert slow_subscriber not in feed.hub.subscribers.get(stream, set())

    # The gateway is healthy: a new socket gets the whole history and live events.
    async with feed.session.get(feed.url("/healthz")) as health:
        assert health.status == 200
    late = await feed.connect(token)
    await late.subscribe(task_id=str(task_id), after_seq=recorded - 2)
    await record_progress(feed, task_id, 1)
    assert seqs_of(await late.events(3), task_id) == [recorded - 1, recorded, recorded + 1]
    await late.quiet()


# --- the handshake ---------------------------------------------------------------------------


async def test_no_credentials_is_refused_with_401(feed: Feed) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await feed.connect()
    assert refused.value.status == 401
    status, body = await handshake(feed)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


async def test_a_bad_token_is_refused_with_401(feed: Feed) -> None:
    await make_user(feed.pool, "alice")
    status, body = await handshake(feed, Authorization="Bearer jv_not-a-token")
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


async def test_a_ticket_opens_one_socket_once(feed: Feed) -> None:
    _, token, _, task_id = await owner(feed)
    async with feed.session.post(
        feed.url("/v1/ws-tickets"), headers={"Authorization": f"Bearer {token}"}
    ) as issued:
        assert issued.status == 201
        ticket = (await issued.json())["ticket"]

    socket = await feed.connect(query=f"?ticket={ticket}")
    await record_progress(feed, task_id, 1)
    await socket.subscribe(task_id=str(task_id))  # authenticated as the task's owner
    assert seqs_of(await socket.events(1), task_id) == [1]

    status, body = await handshake(feed, f"?ticket={ticket}")
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert "ticket" in body["error"]["message"]


async def test_a_ticket_expires_after_its_lifetime(feed: Feed) -> None:
    _, token = await make_user(feed.pool, "alice")
    async with feed.session.post(
        feed.url("/v1/ws-tickets"), headers={"Authorization": f"Bearer {token}"}
    ) as issued:
        assert issued.status == 201
        body = await issued.json()
    assert body["expires_in"] == TICKET_SECONDS
    # Redis holds it (by its hash) for exactly its lifetime; no test waits a minute for that
    # to pass, so the lifetime is cut short in Redis instead.
    key = feed.keys.ws_ticket(hashlib.sha256(body["ticket"].encode()).hexdigest())
    assert 0 < await feed.redis.ttl(key) <= TICKET_SECONDS
    assert await feed.redis.pexpire(key, 1)

    async def gone() -> bool:
        return not await feed.redis.exists(key)

    await async_wait_for(gone, within=5, what="the ticket to expire")
    status, refused = await handshake(feed, f"?ticket={body['ticket']}")
    assert status == 401
    assert refused["error"]["code"] == "unauthorized"
    assert "expired" in refused["error"]["message"]


async def test_a_bad_ticket_is_refused_with_401(feed: Feed) -> None:
    status, body = await handshake(feed, "?ticket=made-up")
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await feed.connect(query="?ticket=made-up")
    assert refused.value.status == 401


async def test_a_foreign_origin_is_refused_with_403(feed: Feed) -> None:
    _, token = await make_user(feed.pool, "alice")
    auth = {"Authorization": f"Bearer {token}"}
    status, body = await handshake(feed, **auth, Origin="https://evil.example")
    assert status == 403
    assert body["error"]["code"] == "forbidden"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await feed.connect(token, headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    # The gateway's own origin is fine.
    own = str(feed.url("/")).rstrip("/")
    socket = await feed.connect(token, headers={"Origin": own})
    await socket.quiet()


async def test_an_allowed_origin_is_accepted(database_url: str, redis_url: str) -> None:
    async with running_feed(database_url, redis_url, allowed_origins="https://app.example") as feed:
        _, token = await make_user(feed.pool, "alice")
        socket = await feed.connect(token, headers={"Origin": "https://app.example"})
        await socket.quiet()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await feed.connect(token, headers={"Origin": "https://other.example"})
        assert refused.value.status == 403


# --- the protocol ----------------------------------------------------------------------------


async def test_ping_gets_pong(feed: Feed) -> None:
    _, token = await make_user(feed.pool, "alice")
    socket = await feed.connect(token)
    await socket.send(type="ping")
    assert await socket.next() == {"type": "pong"}


async def test_an_oversized_frame_closes_with_1009(feed: Feed) -> None:
    _, token = await make_user(feed.pool, "alice")
    socket = await feed.connect(token)
    await socket.ws.send_str('{"type":"ping","pad":"' + "x" * (64 * 1024) + '"}')
    assert await socket.close_code() == 1009


async def expect_error(socket: Socket, code: str) -> dict[str, Any]:
    message = await socket.next()
    assert message["type"] == "error", message
    assert message["error"]["code"] == code, message
    return message["error"]


async def test_bad_messages_get_an_error_and_the_socket_stays_open(feed: Feed) -> None:
    _, token, _, task_id = await owner(feed)
    socket = await feed.connect(token)
    await socket.ws.send_str("{not json")
    await expect_error(socket, "validation_failed")
    await socket.ws.send_str('["a", "list"]')
    await expect_error(socket, "validation_failed")
    await socket.send(type="dance")
    await expect_error(socket, "validation_failed")
    await socket.send(type="subscribe", task_id="not-a-uuid")
    await expect_error(socket, "validation_failed")
    await socket.send(type="subscribe", task_id=str(task_id), after_seq=-1)
    await expect_error(socket, "validation_failed")
    await socket.send(type="subscribe", task_id=str(task_id), last_event_id="nonsense")
    await expect_error(socket, "validation_failed")
    await socket.ws.send_bytes(b'{"type":"ping"}')
    await expect_error(socket, "validation_failed")
    await socket.quiet()
    # Still a working socket.
    await record_progress(feed, task_id, 1)
    await socket.subscribe(task_id=str(task_id))
    assert seqs_of(await socket.events(1), task_id) == [1]


async def test_deeply_nested_json_gets_an_error(feed: Feed) -> None:
    _, token = await make_user(feed.pool, "alice")
    socket = await feed.connect(token)
    await socket.ws.send_str("[" * 50_000)  # under the frame limit, past Python's recursion limit
    await expect_error(socket, "validation_failed")
    await socket.quiet()


@pytest.mark.parametrize(
    "resume",
    [{"after_seq": 2**63}, {"last_event_id": f"{uuid.UUID(int=0)}:{2**64}"}],
    ids=["after_seq", "last_event_id"],
)
async def test_an_out_of_range_seq_gets_an_error(feed: Feed, resume: dict[str, Any]) -> None:
    _, token, _, task_id = await owner(feed)
    socket = await feed.connect(token)
    await socket.send(type="subscribe", task_id=str(task_id), **resume)
    await expect_error(socket, "validation_failed")
    await socket.quiet()
    await record_progress(feed, task_id, 1)
    await socket.subscribe(task_id=str(task_id))
    assert seqs_of(await socket.events(1), task_id) == [1]


async def test_an_out_of_range_since_is_ignored_not_fatal(feed: Feed) -> None:
    _, token, chat_id, task_id = await owner(feed)
    await record_progress(feed, task_id, 2)
    socket = await feed.connect(token)
    await socket.subscribe(chat_id=str(chat_id), since={str(task_id): 2**63})
    # The bad resume point counts as none: the unfinished task is caught up from its start.
    assert seqs_of(await socket.events(2), task_id) == [1, 2]
    await socket.quiet()


async def test_another_users_task_or_chat_is_not_found(feed: Feed) -> None:
    _, _, their_chat, their_task = await owner(feed, "bob")
    await record_progress(feed, their_task, 2)
    _, token = await make_user(feed.pool, "alice")
    socket = await feed.connect(token)
    await socket.send(type="subscribe", task_id=str(their_task))
    await expect_error(socket, "not_found")
    await socket.send(type="subscribe", chat_id=str(their_chat))
    await expect_error(socket, "not_found")
    await socket.send(type="subscribe", task_id=str(uuid.uuid4()))
    await expect_error(socket, "not_found")
    await record_progress(feed, their_task, 1)
    await socket.quiet()
    assert feed.keys.task_stream(their_task) not in feed.hub.subscribers


async def test_unsubscribe_stops_delivery(feed: Feed) -> None:
    user_id, token, chat_id, task_id = await owner(feed)
    other_task = await make_task(feed.pool, chat_id, user_id)
    socket = await feed.connect(token)
    await socket.subscribe(task_id=str(task_id))
    await socket.subscribe(task_id=str(other_task))
    await record_progress(feed, task_id, 1)
    assert seqs_of(await socket.events(1), task_id) == [1]

    await socket.send(type="unsubscribe", task_id=str(task_id))
    assert await socket.reply("unsubscribed") == {"type": "unsubscribed", "task_id": str(task_id)}
    assert not socket.early
    await record_progress(feed, task_id, 2)
    # An event of a task still followed, recorded after those: had the unsubscribed task's
    # events been delivered, they would have come first.
    await record_progress(feed, other_task, 1)
    assert seqs_of(await socket.events(1), other_task) == [1]
    await socket.quiet()
    assert feed.keys.task_stream(task_id) not in feed.hub.subscribers

    # Subscribing again resumes where the socket left off.
    await socket.subscribe(task_id=str(task_id), after_seq=1)
    assert seqs_of(await socket.events(2), task_id) == [2, 3]
    await socket.quiet()


async def test_the_gateway_pings_every_heartbeat_and_drops_a_silent_client(
    database_url: str, redis_url: str
) -> None:
    async with running_feed(database_url, redis_url, ws_heartbeat=0.2) as feed:
        _, token, _, _ = await owner(feed)
        headers = {"Authorization": f"Bearer {token}"}
        # autoping off: this client sees the pings and, answering none, is a dead peer.
        ws = await feed.session.ws_connect(feed.url("/v1/ws"), headers=headers, autoping=False)
        try:
            first = await ws.receive(timeout=WITHIN)
            assert first.type == aiohttp.WSMsgType.PING
            # No pong: the gateway gives up on the socket after its heartbeat's wait.
            while (message := await ws.receive(timeout=WITHIN)).type == aiohttp.WSMsgType.PING:
                pass
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
        finally:
            await ws.close()
