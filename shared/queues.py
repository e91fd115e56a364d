"""Putting tasks on the planner's and executor's arq queues.

Job ids come from the task id (`plan:<id>`, `exec:<id>`): enqueueing the same stage of a task
twice puts it on the queue once, so the gateway, the dispatcher and a re-run job may all enqueue
without care. Arguments travel as JSON (shared/jobs.py), never pickle.
"""

from __future__ import annotations

import uuid
from typing import Any

from arq import ArqRedis

from shared.redis_keys import RedisKeys, execute_job_id, plan_job_id

PLAN_JOB = "plan_task"
EXECUTE_JOB = "execute_plan"


async def enqueue_plan(arq: ArqRedis, keys: RedisKeys, task_id: uuid.UUID) -> bool:
    """True if this call put the job on the queue; False if it was already there or running."""
    job = await arq.enqueue_job(
        PLAN_JOB, str(task_id), _job_id=plan_job_id(task_id), _queue_name=keys.planner_queue
    )
    return job is not None


async def enqueue_execution(
    arq: ArqRedis, keys: RedisKeys, task_id: uuid.UUID, plan: dict[str, Any]
) -> bool:
    job = await arq.enqueue_job(
        EXECUTE_JOB,
        str(task_id),
        plan,
        _job_id=execute_job_id(task_id),
        _queue_name=keys.executor_queue,
    )
    return job is not None
