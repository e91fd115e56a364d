"""What the pipeline is built from, measured on the same servers in the same run:
Redis XADD+XREAD round trips, arq jobs through one worker and two-hop chains through two, and
single-row INSERT+COMMIT through asyncpg.

arq throughput: the jobs are enqueued deferred, then released at once (their queue scores set to
now in one ZADD), so the time measured is the workers' alone, from release until the queues are
empty (a job leaves its queue when it finishes; job A enqueues B before it finishes).
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, Any

import asyncpg
from arq import ArqRedis, create_pool
from redis.asyncio import Redis

from bench.stack import PROJECT_ROOT, BenchStack, poll_until
from bench.stats import per_second, percentiles_ms
from shared.embedded import die_with_parent
from shared.jobs import POLL_DELAY, job_deserializer, job_serializer, redis_settings

ENQUEUE_CONCURRENCY = 100
DRAIN_POLL = 0.002


async def redis_round_trips(redis_url: str, *, seconds: float, max_count: int) -> dict[str, Any]:
    """One writer XADDs, one reader blocked in XREAD on another connection receives it; the
    next XADD waits for that. Round trips per second and their latency."""
    writer = Redis.from_url(redis_url)
    reader = Redis.from_url(redis_url)
    stream = f"bench:rt:{uuid.uuid4().hex}"
    received = asyncio.Event()

    async def read() -> None:
        last = "0-0"
        while True:
            replies = await reader.xread({stream: last}, block=1000, count=100)
            for _, entries in replies or []:
                last = entries[-1][0].decode()
                received.set()

    task = asyncio.create_task(read())
    latencies: list[float] = []
    try:
        started = time.perf_counter()
        deadline = started + seconds
        while len(latencies) < max_count and time.perf_counter() < deadline:
            received.clear()
            sent = time.perf_counter()
            await writer.xadd(stream, {"n": "1"})
            await asyncio.wait_for(received.wait(), 5)
            latencies.append(time.perf_counter() - sent)
        elapsed = time.perf_counter() - started
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await writer.delete(stream)
        await writer.aclose()
        await reader.aclose()
    return {
        "per_s": per_second(len(latencies), elapsed),
        "count": len(latencies),
        "latency_ms": percentiles_ms(latencies),
    }


async def postgres_inserts(
    pool: asyncpg.Pool, *, seconds: float, concurrency: int, max_count: int
) -> dict[str, Any]:
    """Single-row INSERTs, each its own transaction (autocommit: INSERT+COMMIT), from
    `concurrency` connections at once, with fsync on."""
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS bench_inserts"
        " (id bigserial PRIMARY KEY, payload text NOT NULL, created_at timestamptz DEFAULT now())"
    )
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def insert_loop() -> None:
        async with pool.acquire() as conn:
            while len(latencies) < max_count and time.perf_counter() < deadline:
                sent = time.perf_counter()
                await conn.execute("INSERT INTO bench_inserts (payload) VALUES ($1)", "x" * 100)
                latencies.append(time.perf_counter() - sent)

    started = time.perf_counter()
    await asyncio.gather(*(insert_loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "per_s": per_second(len(latencies), elapsed),
        "count": len(latencies),
        "concurrency": concurrency,
        "latency_ms": percentiles_ms(latencies),
    }


def _spawn_worker(
    redis_url: str, queue: str, ready_key: str, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.arq_worker", redis_url, queue, ready_key],
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: die_with_parent(signal.SIGTERM),
    )


@asynccontextmanager
async def arq_workers(stack: BenchStack, queues: list[str]) -> AsyncIterator[ArqRedis]:
    """One bench worker process per queue; yields an arq client once all have started."""
    token = uuid.uuid4().hex
    client = await create_pool(
        redis_settings(stack.redis_url),
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
    )
    logs = []
    processes = []
    try:
        for index, queue in enumerate(queues):
            log = (stack.root / "logs" / f"arq-{token[:6]}-{index}.log").open("wb")
            logs.append(log)
            processes.append(
                _spawn_worker(stack.redis_url, queue, f"bench:ready:{token}:{index}", log)
            )

        async def ready() -> bool:
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"an arq bench worker exited with {process.returncode}")
            keys = [f"bench:ready:{token}:{i}" for i in range(len(queues))]
            return await client.exists(*keys) == len(keys)

        await poll_until(ready, within=60, interval=0.02, what="the arq bench workers")
        yield client
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        await client.aclose()


async def _enqueue(client: ArqRedis, jobs: list[tuple[Any, ...]], queue: str) -> None:
    """Enqueue jobs deferred by an hour (released later), ENQUEUE_CONCURRENCY at a time."""
    for start in range(0, len(jobs), ENQUEUE_CONCURRENCY):
        await asyncio.gather(
            *(
                client.enqueue_job(*job, _queue_name=queue, _defer_by=3600)
                for job in jobs[start : start + ENQUEUE_CONCURRENCY]
            )
        )


async def _release(client: ArqRedis, queue: str) -> None:
    members = await client.zrange(queue, 0, -1)
    now_ms = int(time.time() * 1000)
    await client.zadd(queue, {member: now_ms for member in members}, xx=True)


async def arq_drain(
    client: ArqRedis, queues: list[str], jobs: list[tuple[Any, ...]], *, within: float
) -> dict[str, Any]:
    """Jobs through the workers of `queues` (the first one takes them): per second."""
    await _enqueue(client, jobs, queues[0])
    started = time.perf_counter()
    await _release(client, queues[0])
    deadline = started + within
    remaining = len(jobs)
    while time.perf_counter() < deadline:
        # The first queue first: once it is empty, every job B is already on the second.
        remaining = 0
        for queue in queues:
            remaining += await client.zcard(queue)
        if remaining == 0:
            break
        await asyncio.sleep(DRAIN_POLL)
    elapsed = time.perf_counter() - started
    done = len(jobs) - remaining
    for queue in queues:
        await client.delete(queue)
    return {"per_s": per_second(done, elapsed), "count": done, "seconds": round(elapsed, 3)}


async def arq_latency(
    client: ArqRedis, queues: list[str], *, count: int, within: float
) -> dict[str, Any]:
    """Idle latency of one job (one queue) or a two-hop chain (two): enqueue to the last job's
    signal, one at a time, spaced by a random pause so the poll phase varies."""
    done_key = f"bench:done:{uuid.uuid4().hex}"
    latencies: list[float] = []
    deadline = time.perf_counter() + within
    while len(latencies) < count and time.perf_counter() < deadline:
        await asyncio.sleep(random.uniform(0, POLL_DELAY))
        sent = time.perf_counter()
        if len(queues) == 1:
            await client.enqueue_job("signal", done_key, _queue_name=queues[0])
        else:
            await client.enqueue_job("hop", queues[1], "signal", done_key, _queue_name=queues[0])
        if await client.blpop([done_key], timeout=5) is None:
            break
        latencies.append(time.perf_counter() - sent)
    return {"count": len(latencies), "latency_ms": percentiles_ms(latencies)}


async def measure_primitives(stack: BenchStack, *, quick: bool) -> dict[str, Any]:
    seconds = 0.5 if quick else 3.0
    results: dict[str, Any] = {}
    results["redis_xadd_xread"] = await redis_round_trips(
        stack.redis_url, seconds=seconds, max_count=200_000
    )
    results["postgres_insert_commit"] = await postgres_inserts(
        stack.pool, seconds=seconds, concurrency=10, max_count=200_000
    )
    results["postgres_insert_commit_serial"] = await postgres_inserts(
        stack.pool, seconds=seconds, concurrency=1, max_count=200_000
    )
    one, two = f"bench:q1:{uuid.uuid4().hex[:6]}", f"bench:q2:{uuid.uuid4().hex[:6]}"
    jobs = 500 if quick else 5000
    latency_count = 5 if quick else 60
    # One worker per queue: the no-op jobs go through the first one alone.
    async with arq_workers(stack, [one, two]) as client:
        results["arq_noop_jobs"] = await arq_drain(client, [one], [("noop",)] * jobs, within=60) | {
            "workers": 1
        }
        results["arq_one_hop_idle"] = await arq_latency(
            client, [one], count=latency_count, within=30
        )
        results["arq_two_hop_chains"] = await arq_drain(
            client, [one, two], [("hop", two, "noop")] * jobs, within=60
        ) | {"workers": 2}
        results["arq_two_hop_idle"] = await arq_latency(
            client, [one, two], count=latency_count, within=30
        )
    results["poll_delay_ms"] = POLL_DELAY * 1000
    return results
