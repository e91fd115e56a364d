"""The planner's job: triage a task, reply directly or plan it, then hand the plan on.

A re-run resumes from what is recorded: a stored triage verdict and a stored plan are used as
they are, never asked for again.
"""

from __future__ import annotations

from typing import Any

from services.planner.agents.detection import DetectionDeps, detect_task
from services.planner.agents.planning import PlanningDeps
from services.planner.agents.planning import plan_task as make_plan
from shared.agents.types import TaskPlan, Triage
from shared.queues import enqueue_execution
from shared.recorder import TaskRecorder
from shared.stage import TaskCancelled, run_stage
from shared.task_context import conversation, save_usage, task_budget, user_message
from shared.tasks import Phase, StopReason, Task, TaskStatus, mark_running
from shared.worker_deps import WorkerDeps


async def recorded_triage(recorder: TaskRecorder) -> Triage | None:
    data = await recorder.pool.fetchval(
        "SELECT data FROM task_events WHERE task_id = $1 AND dedupe_key = 'triage.completed'",
        recorder.task_id,
    )
    return Triage.model_validate(data) if data else None


async def _plan(task: Task, recorder: TaskRecorder, deps: WorkerDeps) -> None:
    if task.plan is not None:
        # Planned by an earlier try that died before handing the plan on.
        await enqueue_execution(deps.redis, deps.keys, task.id, task.plan)
        return
    running = await mark_running(deps.pool, task.id, Phase.TRIAGE, recorder.attempt)
    if running is None:
        raise TaskCancelled  # being cancelled (or ended) meanwhile
    task = running
    message = await user_message(deps, task)
    history = await conversation(deps, task)
    budget = task_budget(deps, task)
    ids = {"task_id": task.id, "chat_id": task.chat_id, "user_id": task.user_id}

    triage = await recorded_triage(recorder)
    if triage is None:
        model = deps.models["detection"]
        try:
            triage = await detect_task(
                message, deps=DetectionDeps(**ids), model=model, budget=budget, history=history
            )
        finally:
            await save_usage(recorder, budget.usage, model.label)
        await recorder.record("triage.completed", triage.model_dump(mode="json"))
    if not triage.actionable:
        assert triage.reply
        await recorder.finish(
            TaskStatus.SUCCEEDED,
            StopReason.NOT_ACTIONABLE,
            reply=triage.reply,
            result={"answer": triage.reply, "sources": []},
        )
        return

    if await mark_running(deps.pool, task.id, Phase.PLANNING, recorder.attempt) is None:
        raise TaskCancelled  # cancelled during triage: no plan is asked for
    model = deps.models["planning"]
    try:
        plan = await make_plan(
            message, deps=PlanningDeps(**ids), model=model, budget=budget, history=history
        )
    finally:
        await save_usage(recorder, budget.usage, model.label)
    if await store_plan(recorder, plan):
        await enqueue_execution(deps.redis, deps.keys, task.id, plan.model_dump(mode="json"))


async def store_plan(recorder: TaskRecorder, plan: TaskPlan) -> bool:
    """The plan, its steps' rows and plan.created together; from here the executor has it.
    False if the task stopped running meanwhile (cancelled)."""
    plan_json = plan.model_dump(mode="json")
    async with recorder.transaction() as tx:
        updated = await tx.conn.fetchval(
            "UPDATE tasks SET plan = $2, phase = 'executing', updated_at = now()"
            " WHERE id = $1 AND status = 'running' AND plan IS NULL RETURNING id",
            recorder.task_id,
            plan_json,
        )
        if updated is None:
            return False
        await tx.conn.executemany(
            "INSERT INTO task_steps (task_id, step_index, title) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            [(recorder.task_id, i, step.title) for i, step in enumerate(plan.steps)],
        )
        await tx.event("plan.created", plan_json)
    return True


async def plan_task(ctx: dict[str, Any], task_id: str) -> str:
    """arq job `plan_task`: job id plan:<task_id>, on the planner's queue."""
    return await run_stage(ctx, task_id, "planning", _plan)
