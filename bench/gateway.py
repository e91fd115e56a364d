"""The gateway alone: POST /v1/chats/{id}/messages at 50 concurrent clients, no workers.

Each client posts to a chat of its own (posts to one chat serialise on its row lock), over a
kept-alive connection, as fast as the answers come. Every accepted message is a real task: the
transaction, the task.created and task.queued events, and the arq job on a queue no worker reads.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import psutil
from redis.asyncio import Redis

from bench.counters import per_unit, read_counters
from bench.cpu import CpuMeter
from bench.stack import BenchStack
from bench.stats import per_second, percentiles_ms

PREFIX = "jarvis-bench-gateway:"
CLIENTS = 50


async def measure_gateway(stack: BenchStack, *, quick: bool) -> dict[str, Any]:
    seconds = 1.5 if quick else 10.0
    gateway, base_url = await stack.start_gateway(PREFIX)
    chats = await stack.make_chats(CLIENTS)
    redis = Redis.from_url(stack.redis_url)
    latencies: list[float] = []
    errors = 0
    meter = CpuMeter(
        lambda: {
            "gateway": [psutil.Process(gateway.pid)],
            "postgres": stack.postgres_processes(),
            "redis": [p] if (p := stack.redis_process()) else [],
            "bench_client": [psutil.Process()],
        }
    )
    try:
        async with aiohttp.ClientSession(
            base_url,
            headers={"Authorization": f"Bearer {stack.token}"},
            connector=aiohttp.TCPConnector(limit=CLIENTS),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as session:

            async def post(chat_id: str) -> int:
                async with session.post(
                    f"/v1/chats/{chat_id}/messages", json={"content": "Research Redis streams"}
                ) as response:
                    await response.read()
                    return response.status

            # Warm up every connection and code path first.
            await asyncio.gather(*(post(chat) for chat in chats))
            deadline = time.perf_counter() + seconds

            async def client(chat_id: str) -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    sent = time.perf_counter()
                    status = await post(chat_id)
                    if status == 202:
                        latencies.append(time.perf_counter() - sent)
                    else:
                        errors += 1

            before = await read_counters(stack.pool, redis)
            meter.start()
            started = time.perf_counter()
            await asyncio.gather(*(client(chat) for chat in chats))
            elapsed = time.perf_counter() - started
            cpu = meter.stop()
            work = (await read_counters(stack.pool, redis)).since(before)
    finally:
        await stack.stop([gateway])
        await stack.delete_chats(chats)
        await redis.aclose()
    accepted = len(latencies)
    return {
        "posts_per_s": per_second(accepted, elapsed),
        "accepted": accepted,
        "errors": errors,
        "clients": CLIENTS,
        "latency_ms": percentiles_ms(latencies),
        "cpu_ms_per_post": {
            role: round(value / accepted * 1e3, 3) if accepted else None
            for role, value in cpu.items()
        },
        "cpu_utilisation": {role: round(value / elapsed, 2) for role, value in cpu.items()},
        "server_work_per_post": per_unit(work, accepted),
    }
