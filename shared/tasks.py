"""Tasks in PostgreSQL: statuses, reading a task, and the state changes every service makes.

queued → running → succeeded | failed | cancelled, with `cancelling` between a cancel request
and its effect. A final status is never left (the database refuses it too).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})
UNFINISHED = ("queued", "running", "cancelling")


class Phase(StrEnum):
    TRIAGE = "triage"
    PLANNING = "planning"
    EXECUTING = "executing"


class StopReason(StrEnum):
    COMPLETED = "completed"
    NOT_ACTIONABLE = "not_actionable"
    USER_CANCELLED = "user_cancelled"
    BUDGET_EXCEEDED = "budget_exceeded"
    MAX_RETRIES = "max_retries"
    ERROR = "error"


FINAL_EVENT = {
    TaskStatus.SUCCEEDED: "task.succeeded",
    TaskStatus.FAILED: "task.failed",
    TaskStatus.CANCELLED: "task.cancelled",
}


@dataclass(frozen=True)
class Task:
    id: uuid.UUID
    chat_id: uuid.UUID
    user_id: uuid.UUID
    status: TaskStatus
    phase: Phase | None
    stop_reason: StopReason | None
    plan: dict[str, Any] | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    attempt: int
    last_seq: int
    usage: dict[str, Any]
    model: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Task:
        values = dict(row)
        values["status"] = TaskStatus(values["status"])
        values["phase"] = Phase(values["phase"]) if values["phase"] else None
        values["stop_reason"] = StopReason(values["stop_reason"]) if values["stop_reason"] else None
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})


TASK_COLUMNS = ", ".join(Task.__dataclass_fields__)


async def load_task(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: uuid.UUID, *, for_update: bool = False
) -> Task | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1{lock}", task_id)
    return Task.from_row(row) if row else None


async def load_user_task(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: uuid.UUID, user_id: uuid.UUID
) -> Task | None:
    """A task as its owner sees it; None for an unknown id and for another user's task alike."""
    row = await conn.fetchrow(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2", task_id, user_id
    )
    return Task.from_row(row) if row else None


async def mark_running(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: uuid.UUID, phase: Phase, attempt: int
) -> Task | None:
    """queued/running → running in `phase`; None when the task is final or being cancelled."""
    row = await conn.fetchrow(
        f"""
        UPDATE tasks SET status = 'running', phase = $2, attempt = GREATEST(attempt, $3),
            started_at = coalesce(started_at, now()), updated_at = now()
        WHERE id = $1 AND status IN ('queued', 'running')
        RETURNING {TASK_COLUMNS}
        """,
        task_id,
        phase.value,
        attempt,
    )
    return Task.from_row(row) if row else None


async def mark_final(
    conn: asyncpg.Connection,
    task_id: uuid.UUID,
    status: TaskStatus,
    stop_reason: StopReason,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> bool:
    """Move an unfinished task to a final status; False if it already was final, or if it is
    being cancelled and `status` is succeeded (a cancelled task never succeeds)."""
    assert status.final
    row = await conn.fetchrow(
        """
        UPDATE tasks SET status = $2, stop_reason = $3, result = coalesce($4, result),
            error = $5, finished_at = now(), updated_at = now()
        WHERE id = $1 AND (status IN ('queued', 'running')
            OR (status = 'cancelling' AND $2 <> 'succeeded'))
        RETURNING id
        """,
        task_id,
        status.value,
        stop_reason.value,
        result,
        error,
    )
    return row is not None


async def record_usage(
    conn: asyncpg.Connection | asyncpg.Pool,
    task_id: uuid.UUID,
    usage: dict[str, Any],
    model: str | None,
) -> None:
    await conn.execute(
        "UPDATE tasks SET usage = $2, model = coalesce($3, model), updated_at = now()"
        " WHERE id = $1",
        task_id,
        usage,
        model,
    )


async def completed_step_indexes(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: uuid.UUID
) -> list[int]:
    rows = await conn.fetch(
        "SELECT step_index FROM task_steps WHERE task_id = $1 AND status = 'completed'"
        " ORDER BY step_index",
        task_id,
    )
    return [row["step_index"] for row in rows]


async def end_unfinished_steps(
    conn: asyncpg.Connection, task_id: uuid.UUID, status: TaskStatus
) -> None:
    """A task that ended without succeeding: the step in flight failed or was cancelled with it,
    the steps not started are skipped. Without this they would show running/pending forever."""
    in_flight = "cancelled" if status is TaskStatus.CANCELLED else "failed"
    await conn.execute(
        """
        UPDATE task_steps SET status = CASE status WHEN 'running' THEN $2 ELSE 'skipped' END,
            finished_at = CASE status WHEN 'running' THEN now() END
        WHERE task_id = $1 AND status IN ('pending', 'running')
        """,
        task_id,
        in_flight,
    )
