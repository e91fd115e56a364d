"""The WebSocket feed of one gateway process with 100, 1,000 and 5,000 subscribed sockets.

Each size gets a fresh gateway (so freed memory from a bigger run does not hide a smaller one's
cost) and as many finished tasks as sockets, one task per socket. Events are written to the
tasks' Redis streams exactly as the workers write them (shared/event_stream.py: entry id
"{seq}-0", the same fields), so what is measured is the gateway's fan-out alone:

- events per second delivered: every stream gets an event per round, with at most two rounds
  unanswered (so no socket's queue can fill up);
- delivery latency: events spread evenly at half that rate; XADD to the client's receipt;
- memory per socket: the gateway's RSS growth over its baseline / sockets (psutil);
- Redis connections: the gateway's TCP connections to Redis, and CLIENT LIST's count.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import resource
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import psutil
from redis.asyncio import Redis

from bench.cpu import CpuMeter
from bench.stack import BenchStack, Service, poll_until
from bench.stats import per_second, percentiles_ms
from shared.event_stream import TASK_STREAM_MAXLEN, stream_fields
from shared.events import TaskEvent, event_id
from shared.redis_keys import RedisKeys

PREFIX = "jarvis-bench-feed:"
CONNECT_CONCURRENCY = 100
CONNECT_WITHIN = 240.0  # seconds; the sockets connected by then are measured
PIPELINE_CHUNK = 1000
FDS_PER_SOCKET = 2  # the client's end and the gateway's end, both on this machine
PROGRESS_TEXT = "Searching the knowledge base for PostgreSQL advisory locks (step 1 of 2)"


def raise_open_files(sockets: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard one if needed; the sockets it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sockets * FDS_PER_SOCKET + 1000
    if soft < wanted and (hard == resource.RLIM_INFINITY or soft < hard):
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return max(0, (soft - 1000) // FDS_PER_SOCKET)


@dataclass(eq=False)
class FeedSocket:
    ws: aiohttp.ClientWebSocketResponse
    task_id: uuid.UUID
    reader: asyncio.Task[None] | None = None


@dataclass
class Receipts:
    count: int = 0
    last_at: float = 0.0
    latencies: list[float] = field(default_factory=list)
    timing: bool = False


async def _read(sock: FeedSocket, receipts: Receipts) -> None:
    async for message in sock.ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            continue
        body = json.loads(message.data)
        if body.get("type") != "event":
            continue
        receipts.count += 1
        receipts.last_at = time.perf_counter()
        if receipts.timing:
            receipts.latencies.append(time.time() - body["event"]["data"]["t"])


async def _open_socket(
    session: aiohttp.ClientSession, task_id: uuid.UUID, receipts: Receipts
) -> FeedSocket:
    ws = await session.ws_connect("/v1/ws", autoping=True)
    await ws.send_str(json.dumps({"type": "subscribe", "task_id": str(task_id), "after_seq": 0}))
    while True:
        message = await ws.receive(timeout=60)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"socket closed while subscribing: {message.type.name}")
        if json.loads(message.data).get("type") == "subscribed":
            break
    sock = FeedSocket(ws, task_id)
    sock.reader = asyncio.create_task(_read(sock, receipts))
    return sock


class Producer:
    """Writes events to the tasks' streams as the workers do, seq by seq."""

    def __init__(self, redis: Redis, keys: RedisKeys, chat_id: uuid.UUID, tasks: list[uuid.UUID]):
        self.redis = redis
        self.keys = keys
        self.chat_id = chat_id
        self.tasks = tasks
        self.seq = dict.fromkeys(tasks, 0)
        self.sent = 0

    def _fields(self, task_id: uuid.UUID) -> tuple[str, dict[str, str], str]:
        self.seq[task_id] += 1
        seq = self.seq[task_id]
        event = TaskEvent(
            id=event_id(task_id, seq),
            task_id=task_id,
            chat_id=self.chat_id,
            seq=seq,
            type="progress",
            ts=datetime.now(UTC),
            attempt=1,
            data={"message": PROGRESS_TEXT, "step": 0, "t": time.time()},
        )
        return self.keys.task_stream(task_id), stream_fields(event), f"{seq}-0"

    async def send(self, tasks: list[uuid.UUID]) -> None:
        for start in range(0, len(tasks), PIPELINE_CHUNK):
            pipe = self.redis.pipeline(transaction=False)
            for task_id in tasks[start : start + PIPELINE_CHUNK]:
                key, fields, entry_id = self._fields(task_id)
                pipe.xadd(key, fields, id=entry_id, maxlen=TASK_STREAM_MAXLEN)
            await pipe.execute()
        self.sent += len(tasks)


async def _delivered_rate(
    producer: Producer, receipts: Receipts, *, seconds: float
) -> tuple[float, int]:
    """Rounds of one event per stream, at most two rounds unanswered, for `seconds`."""
    tasks = producer.tasks
    start_count = receipts.count
    started = time.perf_counter()
    deadline = started + seconds
    rounds = 0
    while time.perf_counter() < deadline:
        while receipts.count - start_count < (rounds - 2) * len(tasks):
            if time.perf_counter() > deadline + 10:
                break
            await asyncio.sleep(0.001)
        await producer.send(tasks)
        rounds += 1
    expected = start_count + rounds * len(tasks)
    with contextlib.suppress(Exception):
        await poll_until(
            lambda: _true(receipts.count >= expected), within=30, interval=0.005, what="events"
        )
    delivered = receipts.count - start_count
    return per_second(delivered, receipts.last_at - started), delivered


async def _true(value: bool) -> bool:
    return value


async def _latency(
    producer: Producer, receipts: Receipts, *, rate: float, seconds: float
) -> list[float]:
    """Events spread evenly over the streams at `rate` per second; their delivery latencies."""
    receipts.latencies = []
    receipts.timing = True
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    cycle = itertools.cycle(producer.tasks)
    started = time.perf_counter()
    expected = receipts.count
    ticks = 0
    while time.perf_counter() < started + seconds:
        await producer.send([next(cycle) for _ in range(per_tick)])
        expected += per_tick
        ticks += 1
        await asyncio.sleep(max(0.0, started + ticks * tick - time.perf_counter()))
    with contextlib.suppress(Exception):
        await poll_until(
            lambda: _true(receipts.count >= expected), within=30, interval=0.005, what="events"
        )
    receipts.timing = False
    return receipts.latencies


def _redis_connections(gateway: Service, redis_port: int) -> int:
    connections = psutil.Process(gateway.pid).net_connections(kind="tcp")
    return sum(
        1
        for c in connections
        if c.raddr and c.raddr.port == redis_port and c.status == "ESTABLISHED"
    )


async def measure_size(stack: BenchStack, sockets: int, *, seconds: float) -> dict[str, Any]:
    keys = RedisKeys(PREFIX)
    chat_id = uuid.UUID((await stack.make_chats(1))[0])
    rows = await stack.pool.fetch(
        "INSERT INTO tasks (chat_id, user_id, status, phase, stop_reason, finished_at)"
        " SELECT $1, $2, 'succeeded', 'executing', 'completed', now()"
        " FROM generate_series(1, $3) RETURNING id",
        chat_id,
        stack.user_id,
        sockets + 1,
    )
    tasks = [row["id"] for row in rows]
    warm_task, tasks = tasks[0], tasks[1:]
    gateway, base_url = await stack.start_gateway(PREFIX)
    process = psutil.Process(gateway.pid)
    redis = Redis.from_url(stack.redis_url)
    receipts = Receipts()
    opened: list[FeedSocket] = []
    session = aiohttp.ClientSession(
        base_url,
        headers={"Authorization": f"Bearer {stack.token}"},
        connector=aiohttp.TCPConnector(limit=0),
    )
    try:
        # One socket through every code path first; the baseline is taken after it.
        warm = await _open_socket(session, warm_task, receipts)
        await Producer(redis, keys, chat_id, [warm_task]).send([warm_task])
        await poll_until(lambda: _true(receipts.count >= 1), within=10, interval=0.01, what="warm")
        await warm.ws.close()
        rss_base = process.memory_info().rss
        clients_before = len(await redis.client_list())

        semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)
        connect_started = time.perf_counter()
        connect_deadline = connect_started + CONNECT_WITHIN

        async def connect(task_id: uuid.UUID) -> None:
            async with semaphore:
                if time.perf_counter() < connect_deadline:
                    opened.append(await _open_socket(session, task_id, receipts))

        await asyncio.gather(*(connect(task_id) for task_id in tasks))
        connect_seconds = time.perf_counter() - connect_started
        rss_subscribed = process.memory_info().rss
        tasks = [sock.task_id for sock in opened]

        producer = Producer(redis, keys, chat_id, tasks)
        meter = CpuMeter(
            lambda: {
                "gateway": [process],
                "redis": [p] if (p := stack.redis_process()) else [],
                "bench_client": [psutil.Process()],
            }
        )
        meter.start()
        rate_started = time.perf_counter()
        rate, delivered = await _delivered_rate(producer, receipts, seconds=seconds)
        cpu = meter.stop()
        rate_elapsed = time.perf_counter() - rate_started
        latencies = await _latency(
            producer, receipts, rate=max(10.0, rate / 2), seconds=max(1.0, seconds / 2)
        )
        rss_after = process.memory_info().rss
        gateway_redis = _redis_connections(gateway, stack.redis.port)
        clients_during = len(await redis.client_list())
    finally:
        for sock in opened:
            if sock.reader:
                sock.reader.cancel()
        await asyncio.gather(*(s.reader for s in opened if s.reader), return_exceptions=True)
        await session.close()
        await redis.aclose()
        await stack.stop([gateway])
        await stack.delete_chats([str(chat_id)])
    connected = max(1, len(opened))
    return {
        "sockets": sockets,
        "connected": len(opened),
        "connect_s": round(connect_seconds, 2),
        "subscribes_per_s": per_second(len(opened), connect_seconds),
        "events_per_s": rate,
        "events_delivered": delivered,
        "latency_rate_per_s": round(max(10.0, rate / 2), 1),
        "delivery_latency_ms": percentiles_ms(latencies),
        "rss_base_mb": round(rss_base / 2**20, 1),
        "kb_per_socket_subscribed": round((rss_subscribed - rss_base) / connected / 1024, 1),
        "kb_per_socket": round((rss_after - rss_base) / connected / 1024, 1),
        "gateway_redis_connections": gateway_redis,
        "redis_clients_added": clients_during - clients_before,
        "cpu_utilisation": {role: round(v / rate_elapsed, 2) for role, v in cpu.items()},
    }


async def measure_feed(stack: BenchStack, *, quick: bool) -> dict[str, Any]:
    sizes = (100,) if quick else (100, 1000, 5000)
    allowed = raise_open_files(max(sizes))
    results: dict[str, Any] = {"sizes": []}
    for sockets in sizes:
        if sockets > allowed:
            results["sizes"].append({"sockets": sockets, "skipped": "RLIMIT_NOFILE too low"})
            continue
        results["sizes"].append(await measure_size(stack, sockets, seconds=2.0 if quick else 5.0))
    return results
