"""Running the planner's and executor's stages in-process, against the test servers: for
moments a SIGKILL cannot be timed to hit (a test's recorder raises WorkerDied there instead)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from shared.agents.models import open_models
from shared.config import load_settings
from shared.db import create_pool
from shared.redis_conn import create_redis
from shared.redis_keys import RedisKeys
from shared.worker_deps import WorkerDeps


class WorkerDied(Exception):
    """Stands for a SIGKILL at this point of the job."""


async def open_deps(
    database_url: str, redis_url: str, **settings: Any
) -> AsyncIterator[WorkerDeps]:
    """WorkerDeps as a worker builds them, with the offline model (and `settings`)."""
    settings = load_settings(
        database_url=database_url, redis_url=redis_url, model="offline", **settings
    )
    pool = await create_pool(database_url)
    redis = create_redis(redis_url)
    try:
        async with open_models(settings) as models:
            yield WorkerDeps(settings, pool, redis, RedisKeys("jarvis-inprocess:"), models)
    finally:
        await redis.aclose()
        await pool.close()


@pytest.fixture
async def deps(database_url: str, redis_url: str) -> AsyncIterator[WorkerDeps]:
    async for opened in open_deps(database_url, redis_url):
        yield opened


async def new_task(pool: asyncpg.Pool, content: str) -> uuid.UUID:
    """A queued task with its user message, as the gateway stores it."""
    name = f"inprocess-{uuid.uuid4().hex[:8]}"
    user_id = await pool.fetchval("INSERT INTO users (name) VALUES ($1) RETURNING id", name)
    chat_id = await pool.fetchval("INSERT INTO chats (user_id) VALUES ($1) RETURNING id", user_id)
    task_id = await pool.fetchval(
        "INSERT INTO tasks (chat_id, user_id) VALUES ($1, $2) RETURNING id", chat_id, user_id
    )
    await pool.execute(
        "INSERT INTO messages (chat_id, task_id, role, content) VALUES ($1, $2, 'user', $3)",
        chat_id,
        task_id,
        content,
    )
    return task_id


def job_ctx(deps: WorkerDeps, job_id: str, job_try: int = 1) -> dict[str, Any]:
    """The part of arq's ctx our jobs read."""
    return {"deps": deps, "job_id": job_id, "job_try": job_try}


async def step_statuses(pool: asyncpg.Pool, task_id: uuid.UUID) -> list[str]:
    rows = await pool.fetch(
        "SELECT status FROM task_steps WHERE task_id = $1 ORDER BY step_index", task_id
    )
    return [row["status"] for row in rows]
