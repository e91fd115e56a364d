"""The executor's job resuming after its worker died between two writes (in-process: a SIGKILL
cannot be timed that finely). What the database says about a step and what its events say must
agree whatever the moment of death."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from services.executor.jobs import _execute
from services.planner.jobs import _plan
from shared.agents.models import open_models
from shared.config import load_settings
from shared.db import create_pool
from shared.event_log import read_events_after
from shared.recorder import TaskRecorder
from shared.redis_conn import create_redis
from shared.redis_keys import RedisKeys
from shared.tasks import TaskStatus, load_task
from shared.worker_deps import WorkerDeps

RESEARCH = "Research PostgreSQL advisory locks and summarise"


class WorkerDied(Exception):
    """Stands for a SIGKILL at this point of the job."""


@dataclass
class DiesRightAfterTheFirstStep(TaskRecorder):
    """A recorder whose worker dies at its first write after step 0 was stored: as the executor
    publishes step.started for step 1."""

    async def publish(self, type: str, data: dict[str, Any]) -> None:
        if type == "step.started" and data["step"] == 1:
            raise WorkerDied
        await super().publish(type, data)


@pytest.fixture
async def deps(database_url: str, redis_url: str) -> AsyncIterator[WorkerDeps]:
    settings = load_settings(database_url=database_url, redis_url=redis_url, model="offline")
    pool = await create_pool(database_url)
    redis = create_redis(redis_url)
    try:
        async with open_models(settings) as models:
            yield WorkerDeps(settings, pool, redis, RedisKeys("jarvis-resume:"), models)
    finally:
        await redis.aclose()
        await pool.close()


async def new_task(pool: asyncpg.Pool, content: str) -> uuid.UUID:
    user_id = await pool.fetchval("INSERT INTO users (name) VALUES ('resume') RETURNING id")
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


async def test_a_step_stored_as_completed_always_has_its_event(deps: WorkerDeps) -> None:
    task_id = await new_task(deps.pool, RESEARCH)
    planner = TaskRecorder(deps.pool, deps.redis, deps.keys, task_id, attempt=1)
    await _plan(await load_task(deps.pool, task_id), planner, deps)
    task = await load_task(deps.pool, task_id)
    assert task is not None and task.plan is not None
    steps = len(task.plan["steps"])

    dying = DiesRightAfterTheFirstStep(deps.pool, deps.redis, deps.keys, task_id, attempt=1)
    with pytest.raises(WorkerDied):
        await _execute(task, dying, deps)
    stored = await deps.pool.fetch(
        "SELECT step_index FROM task_steps WHERE task_id = $1 AND status = 'completed'", task_id
    )
    recorded = [
        e.data["step"]
        for e in await read_events_after(deps.pool, task_id, 0)
        if e.type == "step.completed"
    ]
    assert [row["step_index"] for row in stored] == recorded == [0]

    # The job runs again and resumes after the stored step.
    rerun = TaskRecorder(deps.pool, deps.redis, deps.keys, task_id, attempt=2)
    await _execute(await load_task(deps.pool, task_id), rerun, deps)
    task = await load_task(deps.pool, task_id)
    assert task is not None and task.status is TaskStatus.SUCCEEDED
    events = await read_events_after(deps.pool, task_id, 0)
    completed = [e.data["step"] for e in events if e.type == "step.completed"]
    assert completed == list(range(steps))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
