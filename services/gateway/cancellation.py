"""Cancelling a task. Written to PostgreSQL first, so it holds even if the job starts later;
then the running job is aborted, which interrupts the model or tool call in flight."""

from __future__ import annotations

import time
import uuid

from arq import ArqRedis
from arq.constants import abort_jobs_ss, in_progress_key_prefix
from redis.exceptions import RedisError

from shared.logging import get_logger
from shared.recorder import TaskRecorder
from shared.redis_keys import execute_job_id, plan_job_id
from shared.tasks import Phase, StopReason, Task, TaskStatus, load_task

log = get_logger(__name__)


async def request_cancel(recorder: TaskRecorder, arq: ArqRedis) -> Task:
    """Cancel a task; repeating it, or cancelling a finished task, changes nothing."""
    async with recorder.transaction() as tx:
        task = await load_task(tx.conn, recorder.task_id, for_update=True)
        assert task is not None
        if task.status.final or task.status is TaskStatus.CANCELLING:
            return task
        await tx.event("task.cancel_requested", {"previous_status": task.status.value})
        if task.status is TaskStatus.QUEUED:
            # No worker has it yet: cancelled at once; a job that starts later sees it and stops.
            await tx.conn.execute(
                "UPDATE tasks SET status = 'cancelled', stop_reason = 'user_cancelled',"
                " finished_at = now(), updated_at = now() WHERE id = $1",
                task.id,
            )
            await tx.event(
                "task.cancelled",
                {
                    "status": "cancelled",
                    "stop_reason": StopReason.USER_CANCELLED.value,
                    "error": None,
                    "completed_steps": [],
                },
            )
        else:
            await tx.conn.execute(
                "UPDATE tasks SET status = 'cancelling', updated_at = now() WHERE id = $1",
                task.id,
            )
    if task.status is TaskStatus.RUNNING:
        job_id = await abort_job(arq, task.id, task.phase)
        if not await _in_progress(arq, job_id):
            # No worker holds the job (it waits in the queue for a retry's backoff, or is gone):
            # arq would drop it unrun, so nobody else would record the cancel. A worker that
            # takes it meanwhile finds the task ended and records nothing more.
            await recorder.finish(TaskStatus.CANCELLED, StopReason.USER_CANCELLED)
    updated = await load_task(recorder.pool, recorder.task_id)
    assert updated is not None
    return updated


async def _in_progress(arq: ArqRedis, job_id: str) -> bool:
    """Whether a worker holds the job (its lease); True when Redis cannot say, so the
    dispatcher, not this request, settles the task."""
    try:
        return bool(await arq.exists(in_progress_key_prefix + job_id))
    except (RedisError, OSError):
        return True


async def abort_job(arq: ArqRedis, task_id: uuid.UUID, phase: Phase | str | None) -> str:
    """Ask arq to abort the stage the task is in; returns the job id. An abort of an id that is
    not queued or running stays in arq's abort set for a minute (arq issue 485); such a task
    stays `cancelling` until the dispatcher finds it has no job and ends it."""
    executing = phase == Phase.EXECUTING
    job_id = execute_job_id(task_id) if executing else plan_job_id(task_id)
    try:
        await arq.zadd(abort_jobs_ss, {job_id: int(time.time() * 1000)})
    except (RedisError, OSError) as error:
        log.warning("could not abort job; the dispatcher will end the task", error=str(error))
    return job_id
