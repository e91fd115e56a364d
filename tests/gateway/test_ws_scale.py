"""1,000 WebSockets on one in-process gateway: every socket gets every event of its task, and the
feed reads Redis over a handful of connections, not one per socket (services/gateway/hub.py).

Prints the Redis connections used and the memory per socket (RSS growth over the sockets, client
and server ends together, as both live in this process)."""

from __future__ import annotations

import asyncio
import resource
import uuid
from typing import Any

import psutil
from aiohttp import WSCloseCode

from shared.tasks import StopReason, TaskStatus
from tests.fixtures.feed import Feed, Socket, make_chat, make_task, make_user, running_feed
from tests.fixtures.polling import async_wait_for

SOCKETS = 1000
TASKS = 50
HISTORY = 2  # events of each task before the sockets subscribe
LIVE = 10  # events of each task while they listen, the last one final
CONNECTING_AT_ONCE = 100  # below the listen backlog, so no SYN is dropped and retried


def allow_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        ceiling = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


async def named_connections(feed: Feed, name: str) -> list[dict[str, Any]]:
    """Redis's own view: the connections that carry the hub's client name."""
    clients = await feed.redis.client_list()
    return [c for c in clients if c.get("name") == name]


async def test_a_thousand_sockets_share_a_few_redis_connections(
    database_url: str, redis_url: str
) -> None:
    allow_open_files(2 * SOCKETS + 500)  # both ends of every socket are in this process
    async with running_feed(database_url, redis_url) as feed:
        user_id, token = await make_user(feed.pool, "alice")
        chats = [await make_chat(feed.pool, user_id) for _ in range(TASKS // 10)]
        tasks = [await make_task(feed.pool, chats[n % len(chats)], user_id) for n in range(TASKS)]
        for task_id in tasks:
            recorder = feed.recorder(task_id)
            await recorder.record("task.created", {})
            await recorder.record("task.started", {})

        process = psutil.Process()
        rss_before = process.memory_info().rss
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

        async def open_socket(n: int) -> tuple[Socket, uuid.UUID]:
            task_id = tasks[n % TASKS]
            async with gate:
                socket = await feed.connect(token)
                await socket.subscribe(task_id=str(task_id))
            return socket, task_id

        async with asyncio.timeout(60):
            sockets = await asyncio.gather(*(open_socket(n) for n in range(SOCKETS)))
            history = await asyncio.gather(*(s.events(HISTORY) for s, _ in sockets))
        assert all([e["seq"] for e in h] == [1, 2] for h in history)
        rss_after = process.memory_info().rss

        hub = feed.hub
        assert sum(len(members) for members in hub.subscribers.values()) == SOCKETS
        assert len(hub.subscribers) == TASKS

        async def read_to_the_end(socket: Socket, task_id: uuid.UUID) -> list[int]:
            events = await socket.events(LIVE, within=45)
            assert all(e["task_id"] == str(task_id) for e in events)
            assert events[-1]["type"] == "task.succeeded"
            return [e["seq"] for e in events]

        async def run_task(task_id: uuid.UUID) -> None:
            recorder = feed.recorder(task_id)
            for n in range(LIVE - 1):
                await recorder.record("progress", {"message": f"step {n}"})
            assert await recorder.finish(TaskStatus.SUCCEEDED, StopReason.COMPLETED)

        loop = asyncio.get_running_loop()
        started = loop.time()
        readers = [asyncio.create_task(read_to_the_end(s, t)) for s, t in sockets]
        async with asyncio.timeout(60):
            await asyncio.gather(*(run_task(task_id) for task_id in tasks))
            received = await asyncio.gather(*readers)
        delivery_seconds = loop.time() - started
        expected = list(range(HISTORY + 1, HISTORY + LIVE + 1))
        assert all(seqs == expected for seqs in received)

        # Redis connections: one per reader (up to STREAMS_PER_READER streams each) and one for
        # control, whatever the number of sockets; Redis itself agrees.
        in_redis = await named_connections(feed, hub.client_name)
        print(
            f"\n{SOCKETS} sockets on {TASKS} tasks: {hub.connections()} feed connections to Redis"
            f" ({len(in_redis)} named {hub.client_name!r} in CLIENT LIST),"
            f" {len(hub.readers)} reader(s);"
            f" {(rss_after - rss_before) / SOCKETS / 1024:.1f} KiB RSS per socket (both ends);"
            f" {SOCKETS * LIVE} live messages delivered in {delivery_seconds:.2f} s"
        )
        assert len(hub.readers) == 1
        assert hub.connections() == 2
        assert 1 <= len(in_redis) <= hub.connections()
        # A generous sanity bound: a socket is tens of KiB, not megabytes.
        assert (rss_after - rss_before) / SOCKETS < 1024 * 1024

        # Stopping the gateway ends every socket and closes the feed's connections.
        await feed.stop()
        ended = await asyncio.gather(*(socket.close_code() for socket, _ in sockets))
        assert set(ended) == {WSCloseCode.GOING_AWAY}

        async def none_left() -> bool:
            return not await named_connections(feed, hub.client_name)

        await async_wait_for(none_left, within=10, what="the feed's Redis connections to close")
