"""The executor's job resuming after its worker died between two writes (in-process: a SIGKILL
cannot be timed that finely). What the database says about a step and what its events say must
agree whatever the moment of death."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.executor.jobs import _execute
from services.planner.jobs import _plan
from shared.event_log import read_events_after
from shared.recorder import TaskRecorder
from shared.tasks import TaskStatus, load_task
from shared.worker_deps import WorkerDeps
from tests.pipeline.inprocess import WorkerDied, deps, new_task

__all__ = ["deps"]  # the fixture

RESEARCH = "Research PostgreSQL advisory locks and summarise"


@dataclass
class DiesRightAfterTheFirstStep(TaskRecorder):
    """A recorder whose worker dies at its first write after step 0 was stored: as the executor
    publishes step.started for step 1. It notes the usage stored with the task at that moment."""

    usage_at_death: dict[str, Any] = field(default_factory=dict)

    async def publish(self, type: str, data: dict[str, Any]) -> None:
        if type == "step.started" and data["step"] == 1:
            self.usage_at_death = await self.pool.fetchval(
                "SELECT usage FROM tasks WHERE id = $1", self.task_id
            )
            raise WorkerDied
        await super().publish(type, data)


@dataclass
class DiesAfterTheFirstNote(TaskRecorder):
    """A recorder whose worker dies in step 0 right after the step's progress note was
    published; dead, it publishes nothing more (no step.failed: a SIGKILL leaves none)."""

    noted: bool = False

    async def publish(self, type: str, data: dict[str, Any]) -> None:
        if self.noted:
            raise WorkerDied
        await super().publish(type, data)
        self.noted = type == "progress" and data["step"] == 0


async def planned(deps: WorkerDeps, content: str = RESEARCH) -> uuid.UUID:
    task_id = await new_task(deps.pool, content)
    planner = TaskRecorder(deps.pool, deps.redis, deps.keys, task_id, attempt=1)
    task = await load_task(deps.pool, task_id)
    assert task is not None
    await _plan(task, planner, deps)
    return task_id


async def rerun(deps: WorkerDeps, task_id: uuid.UUID, attempt: int = 2) -> None:
    task = await load_task(deps.pool, task_id)
    assert task is not None
    await _execute(task, TaskRecorder(deps.pool, deps.redis, deps.keys, task_id, attempt), deps)


async def test_a_step_stored_as_completed_always_has_its_event(deps: WorkerDeps) -> None:
    task_id = await planned(deps)
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
    await rerun(deps, task_id)
    task = await load_task(deps.pool, task_id)
    assert task is not None and task.status is TaskStatus.SUCCEEDED
    events = await read_events_after(deps.pool, task_id, 0)
    completed = [e.data["step"] for e in events if e.type == "step.completed"]
    assert completed == list(range(steps))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_usage_is_stored_as_each_step_completes(deps: WorkerDeps) -> None:
    """A SIGKILLed executor's re-run starts its budgets from the usage stored with the task:
    that usage must include every step completed before the kill."""
    task_id = await planned(deps)
    task = await load_task(deps.pool, task_id)
    assert task is not None
    planning_requests = task.usage["requests"]

    dying = DiesRightAfterTheFirstStep(deps.pool, deps.redis, deps.keys, task_id, attempt=1)
    with pytest.raises(WorkerDied):
        await _execute(task, dying, deps)
    # Step 0 made model requests of its own; they were stored with the step, not at the end.
    assert dying.usage_at_death["requests"] > planning_requests
    step_requests = dying.usage_at_death["requests"] - planning_requests

    await rerun(deps, task_id)
    task = await load_task(deps.pool, task_id)
    assert task is not None and task.status is TaskStatus.SUCCEEDED
    # The re-run counted on from the stored usage: step 0's requests are still in the total.
    assert task.usage["requests"] > planning_requests + step_requests


async def test_a_rerun_step_does_not_repeat_its_progress_notes(deps: WorkerDeps) -> None:
    task_id = await planned(deps)
    task = await load_task(deps.pool, task_id)
    assert task is not None

    dying = DiesAfterTheFirstNote(deps.pool, deps.redis, deps.keys, task_id, attempt=1)
    with pytest.raises(WorkerDied):
        await _execute(task, dying, deps)
    events = await read_events_after(deps.pool, task_id, 0)
    assert [e.data["step"] for e in events if e.type == "progress"] == [0]
    assert not [e for e in events if e.type == "step.completed"]

    # Step 0 runs again from its start, and makes its note again: shown once all the same.
    await rerun(deps, task_id)
    events = await read_events_after(deps.pool, task_id, 0)
    assert events[-1].type == "task.succeeded"
    messages = [(e.data["step"], e.data["message"]) for e in events if e.type == "progress"]
    assert messages, "the offline model makes progress notes"
    assert len(set(messages)) == len(messages), messages
    notes = [(e.data["step"], e.data["note"]) for e in events if e.type == "progress"]
    assert Counter(notes) == dict.fromkeys(notes, 1)
    steps = len(task.plan["steps"]) if task.plan else 0
    assert {step for step, _ in notes} >= set(range(steps))
