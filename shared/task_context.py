"""What the planner's and the executor's jobs read about a task before running agents."""

from __future__ import annotations

from datetime import datetime

from pydantic_ai.usage import RunUsage

from shared.agents.budgets import TaskBudget, usage_to_dict
from shared.agents.conversation import ChatMessage, bound_history, load_chat_history
from shared.recorder import TaskRecorder
from shared.tasks import Task, record_usage
from shared.worker_deps import WorkerDeps


async def user_message(deps: WorkerDeps, task: Task) -> str:
    content = await deps.pool.fetchval(
        "SELECT content FROM messages WHERE task_id = $1 AND role = 'user'", task.id
    )
    return str(content)


async def conversation(deps: WorkerDeps, task: Task) -> list[ChatMessage]:
    """The chat's earlier messages, bounded in size."""
    settings = deps.settings
    earlier = await load_chat_history(deps.pool, task.chat_id, before_task_id=task.id)
    return bound_history(
        earlier, max_messages=settings.history_max_messages, max_chars=settings.history_max_chars
    )


def task_budget(deps: WorkerDeps, task: Task) -> TaskBudget:
    """The task's budget, continuing from the usage and start time recorded with it."""
    started: datetime = task.started_at or task.created_at
    return TaskBudget.from_settings(
        deps.settings,
        usage=task.usage,
        deadline=started.timestamp() + deps.settings.budget_seconds,
    )


async def save_usage(recorder: TaskRecorder, usage: RunUsage, model: str) -> None:
    await record_usage(recorder.pool, recorder.task_id, usage_to_dict(usage), model)
