"""The planner's job (services/planner/jobs.py) with Redis out of reach when the plan is handed
to the executor: the plan is stored, so the job is tried again (or the dispatcher hands the plan
on); the task does not fail."""

from __future__ import annotations

import pytest
from arq import Retry
from arq.constants import job_key_prefix

from services.planner.jobs import plan_task
from shared.embedded import free_port
from shared.redis_conn import create_redis
from shared.redis_keys import execute_job_id, plan_job_id
from shared.tasks import Phase, TaskStatus, load_task
from shared.worker_deps import WorkerDeps
from tests.pipeline.inprocess import deps, job_ctx, new_task

__all__ = ["deps"]  # the fixture

RESEARCH = "Research PostgreSQL advisory locks and summarise"


async def test_redis_down_when_the_plan_is_handed_on_retries_the_job(deps: WorkerDeps) -> None:
    task_id = await new_task(deps.pool, RESEARCH)
    gone = create_redis(f"redis://127.0.0.1:{free_port()}")  # nothing listens there
    try:
        down = WorkerDeps(deps.settings, deps.pool, gone, deps.keys, deps.models)
        with pytest.raises(Retry):
            await plan_task(job_ctx(down, plan_job_id(task_id)), str(task_id))
    finally:
        await gone.aclose()
    task = await load_task(deps.pool, task_id)
    assert task is not None and task.status is TaskStatus.RUNNING
    assert task.phase is Phase.EXECUTING and task.plan is not None

    # The next try, with Redis back, hands the stored plan on without planning again.
    assert await plan_task(job_ctx(deps, plan_job_id(task_id), job_try=2), str(task_id)) == "done"
    assert await deps.redis.exists(job_key_prefix + execute_job_id(task_id))
    plans = await deps.pool.fetchval(
        "SELECT count(*) FROM task_events WHERE task_id = $1 AND type = 'plan.created'", task_id
    )
    assert plans == 1
