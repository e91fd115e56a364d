"""The executor's job: carry out a task's plan step by step, then store the answer.

Each finished step is stored before the next one starts; a re-run skips the stored steps and
continues with the first unfinished one. The answer, the final status and the final event are
written together, once.
"""

from __future__ import annotations

import uuid
from typing import Any

from services.executor.agents.execution import ExecutionDeps, execute_plan, result_event
from services.executor.tools.providers import build_search_provider
from shared.agents.budgets import TaskBudget, usage_to_dict
from shared.agents.types import Source, StepResult, TaskPlan
from shared.recorder import TaskRecorder
from shared.stage import TaskCancelled, run_stage
from shared.task_context import conversation, save_usage, task_budget, user_message
from shared.tasks import Phase, StopReason, Task, TaskStatus, mark_running
from shared.worker_deps import WorkerDeps


async def completed_steps(recorder: TaskRecorder) -> dict[int, StepResult]:
    rows = await recorder.pool.fetch(
        "SELECT step_index, title, output, sources FROM task_steps"
        " WHERE task_id = $1 AND status = 'completed'",
        recorder.task_id,
    )
    return {
        row["step_index"]: StepResult(
            index=row["step_index"],
            title=row["title"],
            output=row["output"] or "",
            sources=[Source.model_validate(s) for s in row["sources"]],
        )
        for row in rows
    }


def step_hooks(recorder: TaskRecorder, budget: TaskBudget, model: str) -> tuple[Any, Any]:
    """before_step: stop if the task is being cancelled, else mark the step running;
    on_step_completed: store the step's result, and the task's usage so far, before the next
    step starts."""

    async def before_step(index: int) -> None:
        # The status check and the step's mark in one statement: no row, no longer running.
        marked = await recorder.pool.fetchval(
            """
            UPDATE task_steps SET status = 'running',
                started_at = coalesce(task_steps.started_at, now())
            FROM tasks
            WHERE tasks.id = $1 AND tasks.status = 'running'
              AND task_steps.task_id = $1 AND task_steps.step_index = $2
            RETURNING 1
            """,
            recorder.task_id,
            index,
        )
        if marked is None:
            raise TaskCancelled

    async def on_step_completed(result: StepResult) -> None:
        # The step's row and its step.completed event together: a re-run skips a stored step,
        # so an event left for later would be lost with a worker dying in between. The usage
        # goes in the same statement: a re-run after a SIGKILL continues from it, so the
        # budgets hold across runs (saving it only at the end of the stage would lose it).
        async with recorder.transaction() as tx:
            await tx.conn.execute(
                """
                WITH usage AS (
                    UPDATE tasks SET usage = $5, model = $6 WHERE id = $1
                )
                UPDATE task_steps SET status = 'completed', output = $3, sources = $4,
                    finished_at = now()
                WHERE task_id = $1 AND step_index = $2
                """,
                recorder.task_id,
                result.index,
                result.output,
                [source.model_dump() for source in result.sources],
                usage_to_dict(budget.usage),
                model,
            )
            await tx.event("step.completed", result_event(result))

    return before_step, on_step_completed


async def _execute(task: Task, recorder: TaskRecorder, deps: WorkerDeps) -> None:
    if task.plan is None:
        raise RuntimeError("the task has no stored plan")
    plan = TaskPlan.model_validate(task.plan)
    async with recorder.transaction() as tx:
        running = await mark_running(tx.conn, task.id, Phase.EXECUTING, recorder.attempt)
        if running is None:
            raise TaskCancelled  # or ended meanwhile: then nothing is written
        await tx.event("task.started", {"steps": len(plan.steps)})
    message = await user_message(deps, task)
    history = await conversation(deps, task)
    budget = task_budget(deps, running)
    model = deps.models["execution"]
    before_step, on_step_completed = step_hooks(recorder, budget, model.label)
    search = build_search_provider(deps.settings, deps.pool)
    try:
        result = await execute_plan(
            plan,
            message,
            deps=ExecutionDeps(
                task_id=task.id,
                chat_id=task.chat_id,
                user_id=task.user_id,
                publisher=recorder,
                search=search,
                pool=deps.pool,
                search_max_results=deps.settings.search_max_results,
                search_timeout=deps.settings.search_timeout,
            ),
            model=model,
            budget=budget,
            history=history,
            completed=await completed_steps(recorder),
            on_step_completed=on_step_completed,
            before_step=before_step,
        )
    finally:
        await search.aclose()
        await save_usage(recorder, budget.usage, model.label)
    await recorder.finish(
        TaskStatus.SUCCEEDED,
        StopReason.COMPLETED,
        reply=result.answer,
        result=result.model_dump(mode="json"),
    )


async def execute_plan_job(ctx: dict[str, Any], task_id: str, plan: dict[str, Any]) -> str:
    """arq job `execute_plan`: job id exec:<task_id>, on the executor's queue. The plan travels
    in the job and is also stored with the task; the stored one wins."""
    uuid.UUID(task_id)  # refuse a malformed id before touching anything
    return await run_stage(ctx, task_id, "executing", _execute)
