"""The claim a worker holds on a running job (arq's in-progress key) is short and kept alive by
the job lease, so a dead worker's job runs elsewhere within seconds (shared/jobs.py,
shared/worker_deps.py). In-process, against the session's Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.worker import func

from shared.jobs import JOB_LEASE_SECONDS, PatientWorker, worker_options
from shared.redis_conn import create_redis
from shared.worker_deps import LEASE_REFRESH, job_lease
from tests.fixtures.polling import async_wait_for

JOB_TIMEOUT = 300  # arq alone would claim the job for this + 10 s

# arq's Worker.close() calls redis-py's deprecated close().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@pytest.fixture
async def arq(redis_url: str) -> AsyncIterator[ArqRedis]:
    client = create_redis(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def ttl_of(arq: ArqRedis, job_id: str) -> int | None:
    ttl = int(await arq.pttl(in_progress_key_prefix + job_id))  # -2: no such key
    return ttl if ttl > 0 else None


@contextlib.asynccontextmanager
async def run_one_job(
    redis_url: str, arq: ArqRedis, job: Any, job_id: str
) -> AsyncIterator[PatientWorker]:
    """A burst worker of our kind running one job, `job`; the block must let the job end."""
    queue = f"test-{uuid.uuid4().hex[:8]}:queue"
    options = worker_options(redis_url, queue) | {"handle_signals": False, "poll_delay": 0}
    worker = PatientWorker(
        functions=[func(job, name="job", timeout=JOB_TIMEOUT)], burst=True, **options
    )
    await arq.enqueue_job("job", _job_id=job_id, _queue_name=queue)
    running = asyncio.create_task(worker.async_run())
    try:
        yield worker
        await asyncio.wait_for(running, JOB_LEASE_SECONDS * 3)
        assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await worker.close()


async def test_a_started_job_is_claimed_for_the_lease_time_only(
    redis_url: str, arq: ArqRedis
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def job(ctx: dict[str, Any]) -> None:
        started.set()  # before any lease: only arq's own claim exists
        await release.wait()

    job_id = f"lease-{uuid.uuid4()}"
    async with run_one_job(redis_url, arq, job, job_id):
        await asyncio.wait_for(started.wait(), 10)
        ttl = await ttl_of(arq, job_id)
        assert ttl is not None and ttl <= JOB_LEASE_SECONDS * 1000, ttl
        release.set()


async def test_the_lease_keeps_the_claim_alive_and_short(redis_url: str, arq: ArqRedis) -> None:
    held = asyncio.Event()
    job_id = f"lease-{uuid.uuid4()}"
    seen: list[int] = []

    async def job(ctx: dict[str, Any]) -> None:
        async with job_lease(ctx["redis"], ctx["job_id"]):
            held.set()
            await asyncio.sleep(JOB_LEASE_SECONDS + LEASE_REFRESH)

    async with run_one_job(redis_url, arq, job, job_id):
        await asyncio.wait_for(held.wait(), 10)

        until = time.monotonic() + JOB_LEASE_SECONDS + 1

        # Past the first claim's lifetime the job still holds it, never for longer than a lease.
        async def outlived() -> bool:
            ttl = await ttl_of(arq, job_id)
            assert ttl is not None, "the claim lapsed while the job ran"
            seen.append(ttl)
            return time.monotonic() > until

        await async_wait_for(outlived, within=JOB_LEASE_SECONDS + 5, interval=0.25)
    assert max(seen) <= JOB_LEASE_SECONDS * 1000
