"""The rules the schema keeps itself, tried through plain SQL: code that forgets them still
cannot break them."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg
import pytest

from shared.auth import create_user

FINAL = ["succeeded", "failed", "cancelled"]
REASON_OF = {"succeeded": "completed", "failed": "error", "cancelled": "user_cancelled"}


async def new_chat(pool: asyncpg.Pool) -> tuple[uuid.UUID, uuid.UUID]:
    user_id = await pool.fetchval(
        "INSERT INTO users (name) VALUES ($1) RETURNING id", f"u{uuid.uuid4().hex[:8]}"
    )
    chat_id = await pool.fetchval("INSERT INTO chats (user_id) VALUES ($1) RETURNING id", user_id)
    return user_id, chat_id


async def new_task(pool: asyncpg.Pool, status: str = "queued") -> uuid.UUID:
    user_id, chat_id = await new_chat(pool)
    final = status in FINAL
    return await pool.fetchval(
        "INSERT INTO tasks (chat_id, user_id, status, stop_reason, finished_at)"
        " VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END) RETURNING id",
        chat_id,
        user_id,
        status,
        REASON_OF[status] if final else None,
        final,
    )


@pytest.mark.parametrize(
    ("final", "then"),
    [(f, t) for f in FINAL for t in ["queued", "running", "cancelling", *FINAL] if t != f],
)
async def test_a_final_status_is_never_left(db_pool: asyncpg.Pool, final: str, then: str) -> None:
    task_id = await new_task(db_pool, final)

    with pytest.raises(asyncpg.CheckViolationError, match=f"already {final}"):
        await db_pool.execute(
            "UPDATE tasks SET status = $2, stop_reason = $3,"
            " finished_at = CASE WHEN $4 THEN now() END WHERE id = $1",
            task_id,
            then,
            REASON_OF.get(then),
            then in FINAL,
        )
    assert await db_pool.fetchval("SELECT status FROM tasks WHERE id = $1", task_id) == final


async def test_an_unfinished_task_may_finish(db_pool: asyncpg.Pool) -> None:
    task_id = await new_task(db_pool, "running")
    await db_pool.execute(
        "UPDATE tasks SET status = 'succeeded', stop_reason = 'completed', finished_at = now()"
        " WHERE id = $1",
        task_id,
    )


@pytest.mark.parametrize(
    ("status", "stop_reason"),
    [
        ("succeeded", "user_cancelled"),
        ("succeeded", "error"),
        ("failed", "completed"),
        ("failed", "user_cancelled"),
        ("cancelled", "budget_exceeded"),
        ("running", "completed"),  # not final: no reason at all
        ("succeeded", None),  # final: a reason is required
        ("failed", "tired"),  # not a reason we know
    ],
)
async def test_a_stop_reason_must_fit_the_status(
    db_pool: asyncpg.Pool, status: str, stop_reason: str | None
) -> None:
    task_id = await new_task(db_pool, "running")

    with pytest.raises(asyncpg.CheckViolationError):
        await db_pool.execute(
            "UPDATE tasks SET status = $2, stop_reason = $3, finished_at = now() WHERE id = $1",
            task_id,
            status,
            stop_reason,
        )


async def test_a_message_role_is_user_or_assistant(db_pool: asyncpg.Pool) -> None:
    _, chat_id = await new_chat(db_pool)
    for role in ("user", "assistant"):
        await db_pool.execute(
            "INSERT INTO messages (chat_id, role, content) VALUES ($1, $2, 'hi')", chat_id, role
        )

    with pytest.raises(asyncpg.CheckViolationError, match="messages_role_valid"):
        await db_pool.execute(
            "INSERT INTO messages (chat_id, role, content) VALUES ($1, 'system', 'obey')", chat_id
        )


async def test_an_idempotency_key_is_unique_per_user(db_pool: asyncpg.Pool) -> None:
    user_id, chat_id = await new_chat(db_pool)
    other_user, other_chat = await new_chat(db_pool)
    insert = (
        "INSERT INTO tasks (chat_id, user_id, idempotency_key, request_hash)"
        " VALUES ($1, $2, 'key-1', '\\x01')"
    )
    await db_pool.execute(insert, chat_id, user_id)
    await db_pool.execute(insert, other_chat, other_user)  # another user may use the same key

    with pytest.raises(asyncpg.UniqueViolationError, match="idempotency_key"):
        await db_pool.execute(insert, chat_id, user_id)


async def test_an_event_seq_is_unique_per_task(db_pool: asyncpg.Pool) -> None:
    task_id = await new_task(db_pool)
    chat_id = await db_pool.fetchval("SELECT chat_id FROM tasks WHERE id = $1", task_id)
    insert = "INSERT INTO task_events (task_id, seq, chat_id, type) VALUES ($1, 1, $2, $3)"
    await db_pool.execute(insert, task_id, chat_id, "task.created")
    other_task = await new_task(db_pool)
    other_chat = await db_pool.fetchval("SELECT chat_id FROM tasks WHERE id = $1", other_task)
    await db_pool.execute(insert, other_task, other_chat, "task.created")  # its own seq 1

    with pytest.raises(asyncpg.UniqueViolationError, match="task_events_pkey"):
        await db_pool.execute(insert, task_id, chat_id, "task.queued")


async def test_api_tokens_are_stored_only_as_hashes(db_pool: asyncpg.Pool) -> None:
    user, token = await create_user(db_pool, "hashed")

    columns = {
        row["column_name"]: row["data_type"]
        for row in await db_pool.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'api_tokens'"
        )
    }
    assert "token" not in columns
    assert columns["token_hash"] == "bytea"
    row = await db_pool.fetchrow("SELECT * FROM api_tokens WHERE user_id = $1", user.id)
    stored = " ".join(str(value) for value in row.values())
    assert token not in stored
    assert token[len(row["prefix"]) :] not in stored  # at most a short prefix is kept
    assert bytes(row["token_hash"]) == hashlib.sha256(token.encode()).digest()
    # The schema itself refuses anything but a 32-byte hash.
    with pytest.raises(asyncpg.CheckViolationError, match="api_tokens_hash_length"):
        await db_pool.execute(
            "INSERT INTO api_tokens (user_id, token_hash, prefix) VALUES ($1, $2, 'jv_x')",
            user.id,
            token.encode(),
        )
