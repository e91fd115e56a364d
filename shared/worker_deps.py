"""What every job of a worker process needs, built once at start and kept in arq's ctx.

Also the job lease: arq marks a running job with an in-progress key whose TTL is the worker's
longest job timeout, never refreshed, so a job whose worker was SIGKILLed would wait that long to
run again. We keep that key on a short TTL, refreshed while the job runs: a dead worker's job is
picked up by another worker within seconds, whatever the job timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import asyncpg
from arq import ArqRedis
from arq.constants import in_progress_key_prefix
from redis.exceptions import RedisError

from shared.agents.models import AgentModel, AgentRole, open_models
from shared.config import Settings
from shared.db import create_pool
from shared.jobs import JOB_LEASE_SECONDS
from shared.logging import get_logger
from shared.redis_keys import RedisKeys

log = get_logger(__name__)

LEASE_SECONDS = JOB_LEASE_SECONDS
LEASE_REFRESH = 3.0


@dataclass
class WorkerDeps:
    settings: Settings
    pool: asyncpg.Pool
    redis: ArqRedis
    keys: RedisKeys
    models: dict[AgentRole, AgentModel]


def startup_hooks(settings: Settings) -> dict[str, Any]:
    """arq on_startup / on_shutdown that build and close the WorkerDeps in ctx["deps"]."""

    async def on_startup(ctx: dict[str, Any]) -> None:
        assert settings.database_url
        resources = AsyncExitStack()
        pool = await create_pool(settings.database_url)
        resources.push_async_callback(pool.close)
        # The models' HTTP clients are closed with the worker.
        models = await resources.enter_async_context(open_models(settings))
        ctx["resources"] = resources
        ctx["deps"] = WorkerDeps(
            settings=settings,
            pool=pool,
            redis=ctx["redis"],
            keys=RedisKeys(settings.redis_prefix),
            models=models,
        )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        resources: AsyncExitStack | None = ctx.get("resources")
        if resources is not None:
            await resources.aclose()

    return {"on_startup": on_startup, "on_shutdown": on_shutdown}


@contextlib.asynccontextmanager
async def job_lease(redis: ArqRedis, job_id: str) -> AsyncIterator[None]:
    key = in_progress_key_prefix + job_id

    async def refresh() -> None:
        while True:
            with contextlib.suppress(RedisError, OSError):
                await redis.pexpire(key, int(LEASE_SECONDS * 1000))
            await asyncio.sleep(LEASE_REFRESH)

    keeper = asyncio.create_task(refresh())
    try:
        yield
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
