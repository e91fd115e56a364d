"""The dispatcher: makes sure every unfinished task in PostgreSQL has a job, or ends it.

It runs in every gateway (one at a time, under an advisory lock) every few seconds, and looks
only at tasks nothing has touched for a while:
- a task with no live arq job is put back on the queue of its stage (arq's job-id de-duplication
  makes this safe), e.g. one posted while Redis was down;
- a `cancelling` task whose job is gone is ended as cancelled;
- a task past its deadline is ended as failed, and its job is aborted.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from arq import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from redis.exceptions import RedisError

from services.gateway.cancellation import abort_job
from shared.event_log import TaskEnded
from shared.logging import get_logger
from shared.queues import enqueue_execution, enqueue_plan
from shared.recorder import TaskRecorder
from shared.redis_keys import RedisKeys, execute_job_id, plan_job_id
from shared.tasks import Phase, StopReason, TaskStatus

log = get_logger(__name__)

DISPATCH_INTERVAL = 2.0
IDLE_BEFORE_CHECK = 5.0  # seconds a task must have been quiet before the dispatcher looks
BATCH = 200
_LOCK_KEY = 0x4A415257


async def job_alive(arq: ArqRedis, job_id: str) -> bool:
    return bool(await arq.exists(job_key_prefix + job_id, in_progress_key_prefix + job_id))


async def _settle(
    row: asyncpg.Record, pool: asyncpg.Pool, redis: ArqRedis, keys: RedisKeys
) -> str | None:
    task_id = row["id"]
    recorder = TaskRecorder(pool, redis, keys, task_id)
    executing = row["phase"] == Phase.EXECUTING.value
    if row["overdue"]:
        done = await recorder.finish(
            TaskStatus.FAILED,
            StopReason.ERROR,
            error={"code": "deadline_exceeded", "message": "the task ran past its deadline"},
        )
        if done:
            # Stop the job still working on it; it could record nothing more anyway (the event
            # log refuses events after the final one), but it would go on using the model.
            await abort_job(redis, task_id, row["phase"])
        return "failed_deadline" if done else None
    job_id = execute_job_id(task_id) if executing else plan_job_id(task_id)
    if await job_alive(redis, job_id):
        return None
    if row["status"] == TaskStatus.CANCELLING.value:
        done = await recorder.finish(TaskStatus.CANCELLED, StopReason.USER_CANCELLED)
        return "cancelled" if done else None
    if executing and row["plan"] is not None:
        await enqueue_execution(redis, keys, task_id, row["plan"])
        return "requeued_execution"
    await enqueue_plan(redis, keys, task_id)
    if row["status"] == TaskStatus.QUEUED.value:
        await recorder.record("task.queued", {"queue": keys.planner_queue, "by": "dispatcher"})
    return "requeued_plan"


async def dispatch_once(pool: asyncpg.Pool, redis: ArqRedis, keys: RedisKeys) -> dict[str, int]:
    """One pass over quiet unfinished tasks; returns what it did, by kind."""
    counts: dict[str, int] = {}
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _LOCK_KEY):
            return counts  # another gateway is dispatching
        rows = await conn.fetch(
            """
            SELECT id, status, phase, plan, deadline_at < now() AS overdue FROM tasks
            WHERE status IN ('queued', 'running', 'cancelling')
              AND (updated_at < now() - make_interval(secs => $1) OR deadline_at < now())
            ORDER BY updated_at LIMIT $2
            """,
            IDLE_BEFORE_CHECK,
            BATCH,
        )
        for row in rows:
            try:
                outcome = await _settle(row, pool, redis, keys)
            except TaskEnded:
                outcome = None  # it ended meanwhile (a cancel, its job): nothing left to do
            if outcome:
                counts[outcome] = counts.get(outcome, 0) + 1
    if counts:
        log.info("dispatcher settled tasks", **counts)
    return counts


async def run_dispatcher(
    pool: asyncpg.Pool, redis: ArqRedis, keys: RedisKeys, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await dispatch_once(pool, redis, keys)
        except (RedisError, OSError, asyncpg.PostgresError) as error:
            log.warning("dispatcher pass failed; retrying", error=str(error))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), DISPATCH_INTERVAL)
