"""One run of one stage of a task (planning or executing), as an arq job, with everything
around the stage's own work that makes at-least-once delivery safe:

- a task that already ended is left alone; a task being cancelled ends as cancelled;
- past its tries the task ends failed with stop_reason max_retries (arq is given one try more
  than that, so that this code gets to record it);
- a new try says so (`task.retrying`);
- transient model errors are retried with exponential backoff and jitter;
- a budget running out ends the task failed with budget_exceeded, naming the budget;
- an abort (cancel) interrupts the work, which then ends the task as cancelled;
- PostgreSQL or Redis out of reach hands the job back to arq for a later try;
- a task that ended while the job ran (the deadline sweep, a cancel) stops the job: nothing more
  can be recorded about it (shared/event_log.py refuses it);
- anything else ends the task failed with stop_reason error.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.exceptions
from arq import Retry
from pydantic_ai.exceptions import (
    ModelConnectionError,
    ModelRateLimitError,
    ModelRequestTimeout,
    ModelServerError,
    ModelUnavailableError,
)

from shared.agents.budgets import BudgetExceeded
from shared.backoff import backoff_delay
from shared.event_log import TaskEnded
from shared.logging import get_logger
from shared.recorder import TaskRecorder
from shared.tasks import StopReason, Task, TaskStatus, load_task
from shared.worker_deps import WorkerDeps, job_lease

log = get_logger(__name__)

TRANSIENT_ERRORS = (
    ModelRateLimitError,
    ModelUnavailableError,
    ModelServerError,
    ModelConnectionError,
    ModelRequestTimeout,
)
# PostgreSQL went away mid-job: the job waits for it instead of failing the task.
DATABASE_DOWN = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)
# Redis went away (e.g. while the plan is handed to the executor's queue): the same. The events
# themselves are safe: PostgreSQL has them, and streaming them never raises.
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class TaskCancelled(Exception):
    """The task was cancelled; raised between steps when the work notices it."""


StageWork = Callable[[Task, TaskRecorder, WorkerDeps], Awaitable[None]]


async def end_cancelled(recorder: TaskRecorder) -> None:
    await recorder.finish(TaskStatus.CANCELLED, StopReason.USER_CANCELLED)


async def run_stage(ctx: dict[str, Any], task_id: str, stage: str, work: StageWork) -> str:
    """Run `work` for the task under every rule above; returns a word for arq's result log."""
    # The lease from the very start of the run: arq's own in-progress key lasts the whole job
    # timeout, so a worker that died before taking the lease would hold the task that long.
    async with job_lease(ctx["deps"].redis, ctx["job_id"]):
        try:
            return await _run_stage(ctx, task_id, stage, work)
        except TaskEnded:
            # Outside _run_stage: its error handlers record events too, and may meet this.
            log.info("task ended while its job ran; job stopped", task_id=task_id, stage=stage)
            return "task already ended"


async def _run_stage(ctx: dict[str, Any], task_id: str, stage: str, work: StageWork) -> str:
    deps: WorkerDeps = ctx["deps"]
    attempt: int = ctx["job_try"]
    max_tries = deps.settings.max_job_tries
    recorder = TaskRecorder(deps.pool, deps.redis, deps.keys, uuid.UUID(task_id), attempt)
    try:
        # Inside the try: PostgreSQL out of reach at the job's start is retried like later.
        task = await load_task(deps.pool, recorder.task_id)
        if task is None or task.status.final:
            return "nothing to do"
        if task.status is TaskStatus.CANCELLING:
            await end_cancelled(recorder)
            return "cancelled"
        if attempt > max_tries:
            await recorder.finish(
                TaskStatus.FAILED,
                StopReason.MAX_RETRIES,
                error={"code": "max_retries", "message": f"{stage} failed {max_tries} times"},
            )
            return "max retries"
        if attempt > 1:
            await recorder.record("task.retrying", {"stage": stage, "attempt": attempt})
        log.info("stage started", task_id=task_id, stage=stage, attempt=attempt)
        await work(task, recorder, deps)
        return "done"
    except TaskEnded:
        raise  # not a failure of the work: run_stage stops the job
    except TaskCancelled:
        await end_cancelled(recorder)
        return "cancelled"
    except asyncio.CancelledError:
        # An abort (cancel) or a shutdown. Only a cancel ends the task; a shutdown hands the
        # job back to arq, which runs it again.
        current = await load_task(deps.pool, recorder.task_id)
        if current is not None and current.status is TaskStatus.CANCELLING:
            await end_cancelled(recorder)
            return "cancelled"
        raise
    except BudgetExceeded as error:
        await recorder.finish(
            TaskStatus.FAILED,
            StopReason.BUDGET_EXCEEDED,
            error={"code": "budget_exceeded", "budget": error.budget, "message": str(error)},
        )
        return "budget exceeded"
    except TRANSIENT_ERRORS as error:
        if attempt >= max_tries:
            await recorder.finish(
                TaskStatus.FAILED,
                StopReason.MAX_RETRIES,
                error={"code": "max_retries", "message": f"{type(error).__name__}: {error}"},
            )
            return "max retries"
        delay = backoff_delay(attempt)
        log.warning("transient error; retrying", task_id=task_id, error=str(error), delay=delay)
        retry = TaskRecorder(deps.pool, deps.redis, deps.keys, recorder.task_id, attempt + 1)
        await retry.record(
            "task.retrying",
            {"stage": stage, "attempt": attempt + 1, "reason": str(error)[:500], "delay": delay},
        )
        raise Retry(defer=delay) from error
    except (*DATABASE_DOWN, *REDIS_DOWN) as error:
        # Nothing can be recorded (or handed on) now: arq runs the job again after a backoff (a
        # try, like any other), and the re-run resumes from what was recorded. If PostgreSQL or
        # Redis stays away longer, the dispatcher puts the task back on its queue.
        log.warning(
            "database or Redis unreachable; handing the job back", task_id=task_id, error=str(error)
        )
        raise Retry(defer=backoff_delay(attempt)) from error
    except Exception as error:
        log.exception("stage failed", task_id=task_id, stage=stage)
        await recorder.finish(
            TaskStatus.FAILED,
            StopReason.ERROR,
            error={"code": "error", "message": f"{type(error).__name__}: {str(error)[:500]}"},
        )
        return "failed"
