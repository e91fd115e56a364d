"""The durable event log in PostgreSQL: appending with gap-free seq, and reading back."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.events import TaskEvent, dedupe_key, event_id

_COLUMNS = "task_id, chat_id, seq, type, ts, attempt, data"


def event_from_row(row: asyncpg.Record) -> TaskEvent:
    return TaskEvent(
        id=event_id(row["task_id"], row["seq"]),
        task_id=row["task_id"],
        chat_id=row["chat_id"],
        seq=row["seq"],
        type=row["type"],
        ts=row["ts"],
        attempt=row["attempt"],
        data=row["data"],
    )


async def append_event(
    conn: asyncpg.Connection,
    task_id: uuid.UUID,
    type: str,
    data: dict[str, Any] | None = None,
    *,
    attempt: int = 0,
) -> tuple[TaskEvent, bool]:
    """Record one event inside the caller's transaction; returns (event, newly recorded).

    The task row is locked while the next seq is taken, so seq has no holes and no two
    writers interleave. An event whose fact is already recorded (same dedupe key, e.g. from
    an earlier run of the same job) is returned as it was, not written again.
    """
    data = data or {}
    key = dedupe_key(type, data, attempt)
    if key is not None:
        # Lock first, so two runs of one job cannot both find the fact missing.
        await conn.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", task_id)
        existing = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM task_events WHERE task_id = $1 AND dedupe_key = $2",
            task_id,
            key,
        )
        if existing:
            return event_from_row(existing), False
    row = await conn.fetchrow(
        f"""
        WITH next AS (
            UPDATE tasks SET last_seq = last_seq + 1, updated_at = now()
            WHERE id = $1 RETURNING id, chat_id, last_seq
        )
        INSERT INTO task_events (task_id, chat_id, seq, type, attempt, data, dedupe_key)
        SELECT id, chat_id, last_seq, $2, $3, $4, $5 FROM next
        RETURNING {_COLUMNS}
        """,
        task_id,
        type,
        attempt,
        data,
        key,
    )
    if row is None:
        raise LookupError(f"no task {task_id}")
    return event_from_row(row), True


async def read_events_after(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: uuid.UUID, after_seq: int, limit: int = 500
) -> list[TaskEvent]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM task_events WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        task_id,
        after_seq,
        limit,
    )
    return [event_from_row(row) for row in rows]
