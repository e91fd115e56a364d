"""How a stage's job ends (shared/stage.py, shared/recorder.py), in-process: a task ended from
outside stops its job cleanly; a budget running out, a cancel or a failure leaves no step
running; a cancel recorded while the answer is written wins; PostgreSQL out of reach at the
job's start hands the job back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from arq import Retry

from services.executor.jobs import execute_plan_job
from services.planner.jobs import plan_task
from shared.db import create_pool
from shared.event_log import read_events_after
from shared.recorder import TaskRecorder
from shared.redis_keys import execute_job_id, plan_job_id
from shared.stage import run_stage
from shared.tasks import StopReason, Task, TaskStatus, load_task
from shared.worker_deps import WorkerDeps
from tests.pipeline.inprocess import deps, job_ctx, new_task, open_deps, step_statuses

__all__ = ["deps"]  # the fixture

RESEARCH = "Research PostgreSQL advisory locks and summarise"


async def planned(deps: WorkerDeps) -> uuid.UUID:
    task_id = await new_task(deps.pool, RESEARCH)
    assert await plan_task(job_ctx(deps, plan_job_id(task_id)), str(task_id)) == "done"
    return task_id


async def final_event_is_last(deps: WorkerDeps, task_id: uuid.UUID) -> str:
    events = await read_events_after(deps.pool, task_id, 0)
    finals = [e for e in events if e.final]
    assert len(finals) == 1 and events[-1] == finals[0], [e.type for e in events]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return finals[0].type


@dataclass
class EndedAtStepOne(TaskRecorder):
    """The deadline sweep fails the task as step 1 starts, while the job runs on."""

    async def publish(self, type: str, data: dict[str, Any]) -> None:
        if type == "step.started" and data["step"] == 1:
            sweep = TaskRecorder(self.pool, None, self.keys, self.task_id)
            error = {"code": "deadline_exceeded", "message": "past its deadline"}
            assert await sweep.finish(TaskStatus.FAILED, StopReason.ERROR, error=error)
        await super().publish(type, data)


async def test_a_job_whose_task_ended_meanwhile_stops_cleanly(
    deps: WorkerDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = await planned(deps)
    monkeypatch.setattr("shared.stage.TaskRecorder", EndedAtStepOne)

    outcome = await execute_plan_job(job_ctx(deps, execute_job_id(task_id)), str(task_id), {})

    assert outcome == "task already ended"
    task = await load_task(deps.pool, task_id)
    assert task is not None and task.status is TaskStatus.FAILED
    assert task.error == {"code": "deadline_exceeded", "message": "past its deadline"}
    assert await final_event_is_last(deps, task_id) == "task.failed"
    statuses = await step_statuses(deps.pool, task_id)
    assert statuses[:2] == ["completed", "failed"], statuses
    assert set(statuses[2:]) <= {"skipped"}


@pytest.fixture
async def frugal_deps(database_url: str, redis_url: str) -> AsyncIterator[WorkerDeps]:
    """Five model requests per task: triage and planning take 3, step 0 takes 2, step 1 none."""
    async for opened in open_deps(database_url, redis_url, budget_requests=5):
        yield opened


async def test_a_budget_running_out_fails_the_step_in_flight(frugal_deps: WorkerDeps) -> None:
    deps = frugal_deps
    task_id = await planned(deps)

    outcome = await execute_plan_job(job_ctx(deps, execute_job_id(task_id)), str(task_id), {})

    assert outcome == "budget exceeded"
    task = await load_task(deps.pool, task_id)
    assert task is not None and task.stop_reason is StopReason.BUDGET_EXCEEDED
    assert await final_event_is_last(deps, task_id) == "task.failed"
    events = await read_events_after(deps.pool, task_id, 0)
    [failed] = [e.data["step"] for e in events if e.type == "step.failed"]
    statuses = await step_statuses(deps.pool, task_id)
    assert statuses[failed] == "failed", statuses
    assert set(statuses[:failed]) <= {"completed"}
    assert set(statuses[failed + 1 :]) <= {"skipped"}


@dataclass
class CancelledDuringTheAnswer(TaskRecorder):
    """A cancel is recorded while the answer is being written, just before the task ends."""

    async def finish(self, status: TaskStatus, stop_reason: StopReason, **kwargs: Any) -> bool:
        if status is TaskStatus.SUCCEEDED:
            await self.pool.execute(
                "UPDATE tasks SET status = 'cancelling' WHERE id = $1", self.task_id
            )
        return await super().finish(status, stop_reason, **kwargs)


async def test_a_cancel_recorded_during_the_answer_ends_the_task_cancelled(
    deps: WorkerDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = await planned(deps)
    monkeypatch.setattr("shared.stage.TaskRecorder", CancelledDuringTheAnswer)

    await execute_plan_job(job_ctx(deps, execute_job_id(task_id)), str(task_id), {})

    task = await load_task(deps.pool, task_id)
    assert task is not None and task.status is TaskStatus.CANCELLED
    assert task.stop_reason is StopReason.USER_CANCELLED and task.result is None
    assert await final_event_is_last(deps, task_id) == "task.cancelled"
    events = await read_events_after(deps.pool, task_id, 0)
    assert not [e for e in events if e.type == "message.created"]
    statuses = await step_statuses(deps.pool, task_id)
    assert events[-1].data["completed_steps"] == list(range(len(statuses)))
    answers = await deps.pool.fetchval(
        "SELECT count(*) FROM messages WHERE task_id = $1 AND role = 'assistant'", task_id
    )
    assert answers == 0


async def test_a_cancel_ends_the_step_in_flight_cancelled(deps: WorkerDeps) -> None:
    task_id = await planned(deps)
    await deps.pool.execute(
        "UPDATE task_steps SET status = 'running' WHERE task_id = $1 AND step_index = 0", task_id
    )
    await deps.pool.execute("UPDATE tasks SET status = 'cancelling' WHERE id = $1", task_id)

    outcome = await execute_plan_job(job_ctx(deps, execute_job_id(task_id)), str(task_id), {})

    assert outcome == "cancelled"
    statuses = await step_statuses(deps.pool, task_id)
    assert statuses[0] == "cancelled" and set(statuses[1:]) == {"skipped"}, statuses


async def test_postgresql_out_of_reach_at_the_start_hands_the_job_back(
    deps: WorkerDeps, database_url: str
) -> None:
    task_id = await new_task(deps.pool, RESEARCH)
    closed = await create_pool(database_url, min_size=0)
    await closed.close()
    down = WorkerDeps(deps.settings, closed, deps.redis, deps.keys, deps.models)

    async def work(task: Task, recorder: TaskRecorder, deps: WorkerDeps) -> None:
        raise AssertionError("the work must not start")

    with pytest.raises(Retry):
        await run_stage(job_ctx(down, plan_job_id(task_id)), str(task_id), "planning", work)
    task = await load_task(deps.pool, task_id)
    assert task is not None and task.status is TaskStatus.QUEUED
