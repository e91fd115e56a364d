"""Recording what happens to a task: state changes and their events in one PostgreSQL
transaction, then the new events onto the Redis streams.

Every service that changes a task goes through a TaskRecorder, so "the database says X" and
"an event says X" can never disagree, and a re-run job records nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from redis.asyncio import Redis

from shared.event_log import append_event, record_event
from shared.event_stream import publish_events
from shared.events import TaskEvent
from shared.redis_keys import RedisKeys
from shared.tasks import (
    FINAL_EVENT,
    StopReason,
    TaskStatus,
    completed_step_indexes,
    end_unfinished_steps,
    load_task,
    mark_final,
)


@dataclass
class Transaction:
    """One open transaction; events recorded here are streamed once it commits."""

    conn: asyncpg.Connection
    task_id: uuid.UUID
    attempt: int
    new_events: list[TaskEvent] = field(default_factory=list)

    async def event(self, type: str, data: dict[str, Any] | None = None) -> TaskEvent:
        event, new = await append_event(self.conn, self.task_id, type, data, attempt=self.attempt)
        if new:
            self.new_events.append(event)
        return event


@dataclass
class TaskRecorder:
    pool: asyncpg.Pool
    redis: Redis | None
    keys: RedisKeys
    task_id: uuid.UUID
    attempt: int = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                tx = Transaction(conn, self.task_id, self.attempt)
                yield tx
            await self.stream(tx.new_events)

    async def stream(self, events: list[TaskEvent]) -> None:
        if events and self.redis is not None:
            await publish_events(self.redis, self.keys, events)

    async def record(self, type: str, data: dict[str, Any] | None = None) -> TaskEvent:
        """One event on its own (one round trip to PostgreSQL), then onto the streams."""
        event, new = await record_event(self.pool, self.task_id, type, data, attempt=self.attempt)
        if new:
            await self.stream([event])
        return event

    async def publish(self, type: str, data: dict[str, Any]) -> None:
        """The agents' EventPublisher: step.*, tool_call.* and progress events."""
        await self.record(type, data)

    async def finish(
        self,
        status: TaskStatus,
        stop_reason: StopReason,
        *,
        reply: str | None = None,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> bool:
        """End the task: the assistant's reply (if any), the final status, the steps' end and
        the final event, together. False, and nothing written, if the task had already ended.

        A task being cancelled does not succeed: a cancel recorded while the answer was being
        written asked first, so the task ends cancelled (without the answer).
        """
        async with self.transaction() as tx:
            task = await load_task(tx.conn, self.task_id, for_update=True)
            if task is None or task.status.final:
                return False
            if task.status is TaskStatus.CANCELLING and status is TaskStatus.SUCCEEDED:
                status, stop_reason, reply, result = (
                    TaskStatus.CANCELLED,
                    StopReason.USER_CANCELLED,
                    None,
                    None,
                )
            if status is TaskStatus.CANCELLED:
                steps = await completed_step_indexes(tx.conn, task.id)
                details = {"completed_steps": steps} | (details or {})
            if reply:
                message_id = await store_assistant_message(tx.conn, task.chat_id, task.id, reply)
                await tx.event(
                    "message.created",
                    {"message_id": str(message_id), "role": "assistant", "content": reply},
                )
            await mark_final(tx.conn, task.id, status, stop_reason, result=result, error=error)
            if status is not TaskStatus.SUCCEEDED:
                await end_unfinished_steps(tx.conn, task.id, status)
            await tx.event(
                FINAL_EVENT[status],
                {"status": status.value, "stop_reason": stop_reason.value, "error": error}
                | (details or {}),
            )
        return True


async def store_assistant_message(
    conn: asyncpg.Connection, chat_id: uuid.UUID, task_id: uuid.UUID, content: str
) -> uuid.UUID:
    """The task's one assistant message; a second call returns the first one's id."""
    message_id = await conn.fetchval(
        """
        INSERT INTO messages (chat_id, task_id, role, content) VALUES ($1, $2, 'assistant', $3)
        ON CONFLICT (task_id, role) DO NOTHING RETURNING id
        """,
        chat_id,
        task_id,
        content,
    )
    if message_id is None:
        message_id = await conn.fetchval(
            "SELECT id FROM messages WHERE task_id = $1 AND role = 'assistant'", task_id
        )
    return message_id
