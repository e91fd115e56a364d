"""shared/event_log.py against real PostgreSQL: gap-free seq under concurrency, de-duplication,
and the database's one-final-event rule."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db import create_pool
from shared.event_log import TaskEnded, append_event, read_events_after, record_event
from shared.tasks import StopReason, TaskStatus, mark_final
from tests.fixtures.polling import async_wait_for


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def task_id(pool: asyncpg.Pool) -> uuid.UUID:
    user_id = await pool.fetchval("INSERT INTO users (name) VALUES ('events') RETURNING id")
    chat_id = await pool.fetchval("INSERT INTO chats (user_id) VALUES ($1) RETURNING id", user_id)
    return await pool.fetchval(
        "INSERT INTO tasks (chat_id, user_id) VALUES ($1, $2) RETURNING id", chat_id, user_id
    )


async def append(pool: asyncpg.Pool, task_id: uuid.UUID, type: str, data: dict, attempt: int = 1):
    async with pool.acquire() as conn, conn.transaction():
        return await append_event(conn, task_id, type, data, attempt=attempt)


async def last_seq(pool: asyncpg.Pool, task_id: uuid.UUID) -> int:
    return await pool.fetchval("SELECT last_seq FROM tasks WHERE id = $1", task_id)


async def test_seq_counts_up_without_holes(pool: asyncpg.Pool, task_id: uuid.UUID) -> None:
    first, new = await append(pool, task_id, "task.created", {"content": "x"}, attempt=0)
    assert new and first.seq == 1 and first.id == f"{task_id}:1"
    second, _ = await append(pool, task_id, "task.queued", {}, attempt=0)
    third, _ = await append(pool, task_id, "progress", {"message": "a"})
    assert [second.seq, third.seq] == [2, 3]
    assert [e.seq for e in await read_events_after(pool, task_id, 0)] == [1, 2, 3]
    assert [e.type for e in await read_events_after(pool, task_id, 1)] == [
        "task.queued",
        "progress",
    ]


async def test_concurrent_appends_take_every_seq_once(
    pool: asyncpg.Pool, task_id: uuid.UUID
) -> None:
    results = await asyncio.gather(
        *(append(pool, task_id, "progress", {"message": f"note {i}"}) for i in range(20))
    )
    assert all(new for _, new in results)
    assert sorted(event.seq for event, _ in results) == list(range(1, 21))
    assert await last_seq(pool, task_id) == 20
    stored = await read_events_after(pool, task_id, 0)
    assert [e.seq for e in stored] == list(range(1, 21))
    assert {e.data["message"] for e in stored} == {f"note {i}" for i in range(20)}


async def test_a_repeated_fact_returns_the_recorded_event(
    pool: asyncpg.Pool, task_id: uuid.UUID
) -> None:
    await append(pool, task_id, "task.created", {}, attempt=0)
    first, new = await append(pool, task_id, "step.completed", {"step": 0, "output": "one"})
    assert new
    again, new = await append(
        pool, task_id, "step.completed", {"step": 0, "output": "two"}, attempt=2
    )
    assert not new
    assert again == first
    assert again.data["output"] == "one"
    assert await last_seq(pool, task_id) == 2
    # Another step is another fact.
    other, new = await append(pool, task_id, "step.completed", {"step": 1, "output": "x"})
    assert new and other.seq == 3


async def test_concurrent_repeats_of_one_fact_record_it_once(
    pool: asyncpg.Pool, task_id: uuid.UUID
) -> None:
    results = await asyncio.gather(
        *(append(pool, task_id, "plan.created", {"try": i}) for i in range(10))
    )
    assert sum(new for _, new in results) == 1
    assert {event.seq for event, _ in results} == {1}
    assert await last_seq(pool, task_id) == 1


async def test_a_second_final_event_is_refused(pool: asyncpg.Pool, task_id: uuid.UUID) -> None:
    await append(pool, task_id, "task.succeeded", {"status": "succeeded"})
    with pytest.raises(asyncpg.UniqueViolationError, match="task_events_one_final_idx"):
        await append(pool, task_id, "task.failed", {"status": "failed"})
    # The refused event took no seq: the log stays without holes.
    assert await last_seq(pool, task_id) == 1
    assert [e.type for e in await read_events_after(pool, task_id, 0)] == ["task.succeeded"]
    # The same final fact again is simply the recorded one.
    event, new = await append(pool, task_id, "task.succeeded", {"status": "succeeded"})
    assert not new and event.seq == 1


async def test_nothing_is_recorded_after_the_final_event(
    pool: asyncpg.Pool, task_id: uuid.UUID
) -> None:
    """A job still running when its task ended elsewhere (the deadline sweep) can add nothing:
    only the final event may follow the final status, and nothing may follow it."""
    await append(pool, task_id, "task.created", {}, attempt=0)
    await append(pool, task_id, "step.started", {"step": 0})
    async with pool.acquire() as conn, conn.transaction():
        assert await mark_final(conn, task_id, TaskStatus.FAILED, StopReason.ERROR)
        final, new = await append_event(conn, task_id, "task.failed", {"status": "failed"})
        assert new and final.seq == 3

    late = [
        ("progress", {"step": 0, "note": 1, "message": "still here"}),
        ("step.completed", {"step": 0}),
        ("tool_call.started", {"step": 0, "tool_call_id": "c1"}),
        ("message.created", {"content": "an answer"}),
    ]
    for type, data in late:
        with pytest.raises(TaskEnded):
            await record_event(pool, task_id, type, data, attempt=1)
        with pytest.raises(TaskEnded):
            await append(pool, task_id, type, data)
    assert await last_seq(pool, task_id) == 3
    assert [e.type for e in await read_events_after(pool, task_id, 0)][-1] == "task.failed"
    # A fact recorded before the end is still simply the recorded one.
    again, new = await append(pool, task_id, "step.started", {"step": 0}, attempt=2)
    assert not new and again.seq == 2
    # An unknown task is another matter.
    with pytest.raises(LookupError):
        await record_event(pool, uuid.uuid4(), "progress", {"message": "x"})


async def test_an_event_racing_the_end_is_refused_or_comes_before_it(
    pool: asyncpg.Pool, task_id: uuid.UUID
) -> None:
    """Writers blocked on the task row while it is being ended see the final status."""
    await append(pool, task_id, "task.created", {}, attempt=0)

    async def late_note(i: int) -> bool:
        try:
            await record_event(pool, task_id, "progress", {"step": 0, "note": i, "message": "x"})
        except TaskEnded:
            return False
        return True

    async with pool.acquire() as conn, conn.transaction():
        await mark_final(conn, task_id, TaskStatus.CANCELLED, StopReason.USER_CANCELLED)
        writers = [asyncio.create_task(late_note(i)) for i in range(5)]

        async def all_waiting() -> bool:
            waiting = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE '%WITH next AS%'"
            )
            return waiting == 5

        await async_wait_for(all_waiting, within=10, what="the writers to wait for the row")
        await append_event(conn, task_id, "task.cancelled", {"status": "cancelled"})
    assert await asyncio.gather(*writers) == [False] * 5
    events = await read_events_after(pool, task_id, 0)
    assert [e.type for e in events] == ["task.created", "task.cancelled"]
