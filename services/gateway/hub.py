"""The live event feed of one gateway process: many sockets, few Redis connections.

Readers: each reader task owns one Redis connection and blocks in one XREAD over up to
STREAMS_PER_READER streams, so a gateway with thousands of sockets uses a handful of
connections. A private "wake" stream is part of every XREAD: adding a subscription writes to it,
so a reader blocked in XREAD returns at once and includes the new stream.

Subscribers: each socket (or SSE response) is a Subscriber with a bounded queue and one writer
task. The writer sends each task's events in seq order, exactly once: it drops what it has
already sent, and fills any gap (a trimmed stream, a missed XADD, a late join) from PostgreSQL.
A subscriber whose queue fills up is too slow and is dropped rather than allowed to grow memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.exceptions import RedisError

from shared.event_log import read_events_after
from shared.event_stream import event_from_fields
from shared.events import TaskEvent
from shared.logging import get_logger
from shared.redis_keys import RedisKeys

log = get_logger(__name__)

STREAMS_PER_READER = 1000
BLOCK_MS = 5000
READ_COUNT = 500
QUEUE_SIZE = 1000
CATCH_UP_PAGE = 500
CONTROL_WAIT_SECONDS = 5.0


class SlowConsumer(Exception):
    """The subscriber did not keep up; it is closed."""


@dataclass(frozen=True)
class CatchUp:
    """Send the task's events after `after_seq` from PostgreSQL."""

    task_id: uuid.UUID
    after_seq: int


@dataclass(frozen=True)
class Notice:
    """A control message (an acknowledgement, an error) sent in turn with the events."""

    body: dict[str, Any]


Item = TaskEvent | CatchUp | Notice
# Sends one event (TaskEvent) or control message (dict) to the client.
Send = Callable[[TaskEvent | dict[str, Any]], Awaitable[None]]


@dataclass(eq=False)
class Subscriber:
    send: Send
    on_slow: Callable[[], Awaitable[None]]
    pool: asyncpg.Pool
    # Ends the socket or response when the gateway stops, so the client reconnects at once.
    on_shutdown: Callable[[], Awaitable[None]] | None = None
    queue: asyncio.Queue[Item] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    sent: dict[uuid.UUID, int] = field(default_factory=dict)  # task id -> last seq sent
    streams: set[str] = field(default_factory=set)
    writer: asyncio.Task[None] | None = None
    closed: bool = False

    def resume_after(self, task_id: uuid.UUID, after_seq: int) -> None:
        """The client has the task's events up to `after_seq`. Call it before subscribing: a live
        event may arrive before the catch-up, and the gap it opens is filled from here, not from 0.
        """
        self.sent[task_id] = max(self.sent.get(task_id, 0), after_seq)

    def offer(self, item: Item) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.closed = True
            asyncio.get_running_loop().create_task(self.on_slow())

    async def run(self) -> None:
        while True:
            item = await self.queue.get()
            if isinstance(item, Notice):
                await self.send(item.body)
                continue
            if isinstance(item, CatchUp):
                after = max(item.after_seq, self.sent.get(item.task_id, 0))
                await self._send_after(item.task_id, after)
                continue
            last = self.sent.get(item.task_id, 0)
            if item.seq <= last:
                continue  # already sent (catch-up and stream overlap, or a second stream)
            if item.seq > last + 1:
                await self._send_after(item.task_id, last, up_to=item.seq - 1)
            await self._send(item)

    async def _send(self, event: TaskEvent) -> None:
        await self.send(event)
        self.sent[event.task_id] = event.seq

    async def _send_after(self, task_id: uuid.UUID, after: int, up_to: int | None = None) -> None:
        while True:
            page = await read_events_after(self.pool, task_id, after, CATCH_UP_PAGE)
            for event in page:
                if up_to is not None and event.seq > up_to:
                    return
                await self._send(event)
                after = event.seq
            if len(page) < CATCH_UP_PAGE:
                return


@dataclass
class _Reader:
    client: Redis
    streams: dict[str, str] = field(default_factory=dict)  # stream key -> last id read
    task: asyncio.Task[None] | None = None


class Hub:
    def __init__(self, redis_url: str, keys: RedisKeys, pool: asyncpg.Pool) -> None:
        self.redis_url = redis_url
        self.keys = keys
        self.pool = pool
        self.subscribers: dict[str, set[Subscriber]] = {}
        self.readers: list[_Reader] = []
        self.live: set[Subscriber] = set()  # every subscriber with a writer, until removed
        self.wake_key = keys.wake_stream(uuid.uuid4())
        # CLIENT LIST shows the feed's connections under this name (no spaces allowed in it).
        self.client_name = re.sub(r"[^!-~]", "_", f"{keys.prefix}gateway-feed")
        # One connection for wakes and tail lookups: under a burst of subscriptions an unbounded
        # pool would open one per concurrent call. Callers wait their turn (a few ms at most).
        self._control = Redis.from_pool(
            BlockingConnectionPool.from_url(
                redis_url,
                max_connections=1,
                timeout=CONTROL_WAIT_SECONDS,
                socket_connect_timeout=2,
                client_name=self.client_name,
            )
        )
        self._stopping = False

    # --- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, subscriber: Subscriber, stream: str, start_id: str) -> None:
        """Deliver the stream's entries after `start_id` to the subscriber from now on."""
        subscriber.streams.add(stream)
        members = self.subscribers.setdefault(stream, set())
        members.add(subscriber)
        if len(members) == 1:
            reader = self._reader_with_room()
            reader.streams[stream] = start_id
            await self._wake()

    async def unsubscribe(self, subscriber: Subscriber, stream: str) -> None:
        subscriber.streams.discard(stream)
        members = self.subscribers.get(stream)
        if members is None:
            return
        members.discard(subscriber)
        if not members:
            del self.subscribers[stream]
            for reader in self.readers:
                reader.streams.pop(stream, None)

    async def remove(self, subscriber: Subscriber) -> None:
        self.live.discard(subscriber)
        for stream in list(subscriber.streams):
            await self.unsubscribe(subscriber, stream)
        subscriber.closed = True
        if subscriber.writer:
            subscriber.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await subscriber.writer

    def start_writer(self, subscriber: Subscriber) -> None:
        self.live.add(subscriber)
        subscriber.writer = asyncio.get_running_loop().create_task(self._write(subscriber))

    async def shut_down_subscribers(self, within: float) -> None:
        """The gateway is stopping: end every socket and stream now. Left open, they would hold
        the shutdown until its timeout and then drop without a close frame."""
        ending = [
            asyncio.get_running_loop().create_task(subscriber.on_shutdown())
            for subscriber in list(self.live)
            if subscriber.on_shutdown is not None
        ]
        if not ending:
            return
        _, late = await asyncio.wait(ending, timeout=within)
        for task in late:  # a client that does not read cannot take a close frame
            task.cancel()

    async def _write(self, subscriber: Subscriber) -> None:
        try:
            await subscriber.run()
        except (ConnectionError, RuntimeError, asyncpg.PostgresError, OSError) as error:
            # The socket went away mid-send, or the database did: the connection ends.
            log.info("subscriber stopped", error=str(error))
            subscriber.closed = True
            with contextlib.suppress(Exception):
                await subscriber.on_slow()

    async def stream_tail_id(self, stream: str) -> str:
        """The id of a stream's newest entry ("0-0" if none): where a new reader starts."""
        try:
            newest = await self._control.xrevrange(stream, count=1)
        except (RedisError, OSError):
            return "0-0"
        return newest[0][0].decode() if newest else "0-0"

    # --- readers ---------------------------------------------------------------------------

    def _reader_with_room(self) -> _Reader:
        for reader in self.readers:
            if len(reader.streams) < STREAMS_PER_READER:
                return reader
        pool = ConnectionPool.from_url(
            self.redis_url,
            max_connections=1,
            socket_connect_timeout=2,
            client_name=self.client_name,
        )
        reader = _Reader(Redis.from_pool(pool))  # from_pool: closing the client closes the pool
        reader.task = asyncio.get_running_loop().create_task(self._read(reader))
        self.readers.append(reader)
        return reader

    async def _wake(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._control.xadd(self.wake_key, {"w": "1"}, maxlen=10, approximate=False)

    def connections(self) -> int:
        """Redis connections the feed uses: one per reader, plus the control connection."""
        return len(self.readers) + 1

    async def _read(self, reader: _Reader) -> None:
        wake_id = "0-0"  # the wake stream is this hub's own and starts empty
        while not self._stopping:
            if not reader.streams:
                await asyncio.sleep(0.05)
                continue
            streams: dict[str, str] = {self.wake_key: wake_id, **reader.streams}
            try:
                replies = await reader.client.xread(streams, count=READ_COUNT, block=BLOCK_MS)
            except (RedisError, OSError) as error:
                log.warning("stream read failed; retrying", error=str(error))
                await asyncio.sleep(1.0)
                continue
            for key_bytes, entries in replies or []:
                key = key_bytes.decode()
                if key == self.wake_key:
                    wake_id = entries[-1][0].decode()
                    continue
                if key not in reader.streams:
                    continue  # unsubscribed while we read
                reader.streams[key] = entries[-1][0].decode()
                self._dispatch(key, entries)

    def _dispatch(self, key: str, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        members = self.subscribers.get(key)
        if not members:
            return
        for _, fields in entries:
            try:
                event = event_from_fields(fields)
            except ValueError:
                continue
            for subscriber in list(members):
                subscriber.offer(event)

    async def close(self) -> None:
        self._stopping = True
        for reader in self.readers:
            if reader.task:
                reader.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader.task
            await reader.client.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self._control.delete(self.wake_key)
        await self._control.aclose()
