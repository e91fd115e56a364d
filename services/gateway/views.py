"""How chats, messages and tasks look in API responses."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.tasks import Task


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def chat_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def message_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "chat_id": str(row["chat_id"]),
        "task_id": str(row["task_id"]) if row["task_id"] else None,
        "role": row["role"],
        "content": row["content"],
        "created_at": iso(row["created_at"]),
    }


def task_links(task_id: uuid.UUID) -> dict[str, str]:
    base = f"/v1/tasks/{task_id}"
    return {"task": base, "events": base + "/events", "cancel": base + "/cancel"}


def plan_view(task: Task, steps: list[asyncpg.Record]) -> dict[str, Any] | None:
    if task.plan is None:
        return None
    states = {row["step_index"]: row for row in steps}
    view_steps = []
    for index, step in enumerate(task.plan.get("steps", [])):
        state = states.get(index)
        view_steps.append(
            {
                "index": index,
                **step,
                "status": state["status"] if state else "pending",
                "output": state["output"] if state else None,
            }
        )
    return {"goal": task.plan.get("goal"), "steps": view_steps}


def task_view(task: Task, steps: list[asyncpg.Record]) -> dict[str, Any]:
    return {
        "id": str(task.id),
        "chat_id": str(task.chat_id),
        "status": task.status.value,
        "phase": task.phase.value if task.phase else None,
        "stop_reason": task.stop_reason.value if task.stop_reason else None,
        "plan": plan_view(task, steps),
        "result": task.result,
        "error": task.error,
        "usage": task.usage,
        "model": task.model,
        "attempt": task.attempt,
        "last_seq": task.last_seq,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
        "started_at": iso(task.started_at),
        "finished_at": iso(task.finished_at),
        "links": task_links(task.id),
    }
