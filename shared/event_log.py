"""The durable event log in PostgreSQL: appending with gap-free seq, and reading back."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.events import FINAL_EVENT_TYPES, TaskEvent, dedupe_key, event_id

EVENT_COLUMNS = "task_id, chat_id, seq, type, ts, attempt, data"


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


class TaskEnded(Exception):
    """The task already has its final status: nothing more may be recorded about it (a job
    still running, e.g. after the deadline sweep failed its task, stops on this)."""


# Taking the next seq and inserting the event is one statement, so it cannot leave a hole.
# The final event is the last: once the status is final (recorder.finish sets it just before
# writing the final event, in the same transaction) only a final event may still be added, and
# the unique task_events_one_final_idx allows one. A writer blocked on the row lock re-checks
# the status after the finishing transaction commits.
_OPEN = f"""
    status NOT IN ('succeeded', 'failed', 'cancelled')
    OR $2 IN ({", ".join(f"'{t}'" for t in sorted(FINAL_EVENT_TYPES))})
"""
_INSERT_NEXT = f"""
    WITH next AS (
        UPDATE tasks SET last_seq = last_seq + 1, updated_at = now()
        WHERE id = $1 AND ({_OPEN})
        RETURNING id, chat_id, last_seq
    )
    INSERT INTO task_events (task_id, chat_id, seq, type, attempt, data, dedupe_key)
    SELECT id, chat_id, last_seq, $2, $3, $4, $5 FROM next
    RETURNING {EVENT_COLUMNS}
"""
# The same, skipped when the fact (dedupe key) is already recorded.
_INSERT_NEXT_UNLESS_KNOWN = f"""
    WITH next AS (
        UPDATE tasks SET last_seq = last_seq + 1, updated_at = now()
        WHERE id = $1 AND ({_OPEN})
          AND NOT EXISTS (SELECT 1 FROM task_events WHERE task_id = $1 AND dedupe_key = $5)
        RETURNING id, chat_id, last_seq
    )
    INSERT INTO task_events (task_id, chat_id, seq, type, attempt, data, dedupe_key)
    SELECT id, chat_id, last_seq, $2, $3, $4, $5 FROM next
    RETURNING {EVENT_COLUMNS}
"""
_KNOWN = f"SELECT {EVENT_COLUMNS} FROM task_events WHERE task_id = $1 AND dedupe_key = $2"


async def _refused(conn: asyncpg.Connection | asyncpg.Pool, task_id: uuid.UUID) -> Exception:
    """Why no event was inserted (an uncommon path, so one more query is fine)."""
    if await conn.fetchval("SELECT 1 FROM tasks WHERE id = $1", task_id) is None:
        return LookupError(f"no task {task_id}")
    return TaskEnded(f"task {task_id} has ended")


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
    an earlier run of the same job) is returned as it was, not written again. Raises
    TaskEnded when the task has ended (only its one final event may follow its final status).
    """
    data = data or {}
    key = dedupe_key(type, data, attempt)
    if key is not None:
        # Lock first, so two runs of one job cannot both find the fact missing.
        await conn.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", task_id)
        existing = await conn.fetchrow(_KNOWN, task_id, key)
        if existing:
            return event_from_row(existing), False
    row = await conn.fetchrow(_INSERT_NEXT, task_id, type, attempt, data, key)
    if row is None:
        raise await _refused(conn, task_id)
    return event_from_row(row), True


async def record_event(
    pool: asyncpg.Pool,
    task_id: uuid.UUID,
    type: str,
    data: dict[str, Any] | None = None,
    *,
    attempt: int = 0,
) -> tuple[TaskEvent, bool]:
    """append_event on its own, in one round trip: most events are recorded alone, and a
    transaction around them would cost three (BEGIN, the insert, COMMIT) or five.

    Two runs recording one fact at once may both pass the NOT EXISTS (each statement sees the
    data as it started); the unique (task_id, dedupe_key) then refuses the second statement
    whole, seq increment included, and the fact is read back.
    """
    data = data or {}
    key = dedupe_key(type, data, attempt)
    if key is None:
        row = await pool.fetchrow(_INSERT_NEXT, task_id, type, attempt, data, None)
    else:
        try:
            row = await pool.fetchrow(_INSERT_NEXT_UNLESS_KNOWN, task_id, type, attempt, data, key)
        except asyncpg.UniqueViolationError:
            row = None
        if row is None and (existing := await pool.fetchrow(_KNOWN, task_id, key)):
            return event_from_row(existing), False
    if row is None:
        raise await _refused(pool, task_id)
    return event_from_row(row), True


async def read_events_after(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: uuid.UUID, after_seq: int, limit: int = 500
) -> list[TaskEvent]:
    rows = await conn.fetch(
        f"SELECT {EVENT_COLUMNS} FROM task_events"
        " WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        task_id,
        after_seq,
        limit,
    )
    return [event_from_row(row) for row in rows]
