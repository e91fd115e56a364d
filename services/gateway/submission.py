"""Posting a message: the message and its queued task in one transaction, then the job.

PostgreSQL is written first, so an accepted message is never lost: if Redis is down the request
still succeeds, and the dispatcher (dispatcher.py) enqueues the task when Redis is back.
An Idempotency-Key makes a retried POST return the first response and create nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from arq import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import IdempotencyMismatch, NotFound
from shared.event_log import EVENT_COLUMNS, TaskEnded, event_from_row
from shared.logging import get_logger
from shared.queues import enqueue_plan
from shared.recorder import TaskRecorder
from shared.redis_keys import RedisKeys

log = get_logger(__name__)


@dataclass(frozen=True)
class Submission:
    task_id: uuid.UUID
    message_id: uuid.UUID
    chat_id: uuid.UUID
    created: bool  # False: an Idempotency-Key replay of an earlier submission


def request_hash(chat_id: uuid.UUID, content: str) -> bytes:
    body = json.dumps({"chat_id": str(chat_id), "content": content}, sort_keys=True)
    return hashlib.sha256(body.encode()).digest()


async def _replay(
    conn: asyncpg.Connection, user_id: uuid.UUID, key: str, digest: bytes
) -> Submission | None:
    row = await conn.fetchrow(
        """
        SELECT t.id, t.chat_id, t.request_hash, m.id AS message_id FROM tasks t
        JOIN messages m ON m.task_id = t.id AND m.role = 'user'
        WHERE t.user_id = $1 AND t.idempotency_key = $2
        """,
        user_id,
        key,
    )
    if row is None:
        return None
    if row["request_hash"] != digest:
        raise IdempotencyMismatch(
            "this Idempotency-Key was used with a different request",
            details=[{"field": "Idempotency-Key", "message": "reused with another body"}],
        )
    return Submission(row["id"], row["message_id"], row["chat_id"], created=False)


# The chat's check, the task, the user's message and task.created as one statement: one round
# trip, atomic like a transaction. No row back: not the user's chat.
_SUBMIT = f"""
    WITH chat AS (
        UPDATE chats SET updated_at = now() WHERE id = $1 AND user_id = $2 RETURNING id
    ), task AS (
        INSERT INTO tasks (chat_id, user_id, idempotency_key, request_hash, deadline_at, last_seq)
        SELECT id, $2, $3, $4, now() + $5, 1 FROM chat
        RETURNING id, chat_id
    ), message AS (
        INSERT INTO messages (chat_id, task_id, role, content)
        SELECT chat_id, id, 'user', $6 FROM task
        RETURNING id, task_id, chat_id
    )
    INSERT INTO task_events (task_id, chat_id, seq, type, attempt, data, dedupe_key)
    SELECT task_id, chat_id, 1, 'task.created', 0,
        jsonb_build_object('message_id', id::text, 'content', $6::text), 'task.created'
    FROM message
    RETURNING {EVENT_COLUMNS}
"""


async def submit_message(
    pool: asyncpg.Pool,
    redis: Redis,
    keys: RedisKeys,
    *,
    user_id: uuid.UUID,
    chat_id: uuid.UUID,
    content: str,
    idempotency_key: str | None,
    deadline: timedelta,
) -> Submission:
    digest = request_hash(chat_id, content)
    async with pool.acquire() as conn:
        if idempotency_key and (found := await _replay(conn, user_id, idempotency_key, digest)):
            return found
        try:
            row = await conn.fetchrow(
                _SUBMIT,
                chat_id,
                user_id,
                idempotency_key,
                digest if idempotency_key else None,
                deadline,
                content,
            )
        except asyncpg.UniqueViolationError:
            # The same key raced in from another request: answer as a replay.
            assert idempotency_key
            found = await _replay(conn, user_id, idempotency_key, digest)
            assert found
            return found
    if row is None:
        raise NotFound(f"no chat {chat_id}")
    created = event_from_row(row)
    await TaskRecorder(pool, redis, keys, created.task_id).stream([created])
    return Submission(created.task_id, uuid.UUID(created.data["message_id"]), chat_id, True)


async def publish_task(arq: ArqRedis, recorder: TaskRecorder) -> bool:
    """Put the task on the planner's queue and record task.queued; False if Redis is down."""
    try:
        await enqueue_plan(arq, recorder.keys, recorder.task_id)
    except (RedisError, OSError) as error:
        log.warning(
            "task not enqueued; the dispatcher will retry",
            task_id=str(recorder.task_id),
            error=str(error),
        )
        return False
    with contextlib.suppress(TaskEnded):  # cancelled already: its log is complete
        await recorder.record("task.queued", {"queue": recorder.keys.planner_queue})
    return True
