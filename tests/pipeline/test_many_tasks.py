"""Fifty tasks through two planners and two executors: each runs exactly once, and every task's
event log is whole (checked straight in PostgreSQL)."""

from __future__ import annotations

import asyncio

from tests.fixtures.polling import async_wait_for
from tests.fixtures.stack import ServiceProcess, StackFactory

TASKS = 50


async def stage_starts(workers: list[ServiceProcess]) -> list[int]:
    return [worker.log_count('"event": "stage started"') for worker in workers]


async def test_fifty_tasks_on_two_planners_and_two_executors(make_stack: StackFactory) -> None:
    stack = await make_stack()
    await stack.start("planner", "executor")
    planners, executors = stack.running("planner"), stack.running("executor")
    assert len(planners) == len(executors) == 2

    limit = asyncio.Semaphore(10)

    async def submit(index: int) -> str:
        async with limit:
            _, task_id = await stack.submit(f"Research topic number {index} and summarise it")
            return task_id

    task_ids = await asyncio.gather(*(submit(i) for i in range(TASKS)))
    assert len(set(task_ids)) == TASKS

    async def all_final() -> bool:
        unfinished = await stack.pool.fetchval(
            "SELECT count(*) FROM tasks WHERE status NOT IN ('succeeded', 'failed', 'cancelled')"
        )
        return unfinished == 0

    try:
        await async_wait_for(all_final, within=120, interval=0.2, what="every task to end")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{stack.logs()}") from None

    db = stack.pool
    outcomes = await db.fetch(
        "SELECT status, stop_reason, attempt, count(*) FROM tasks GROUP BY 1, 2, 3"
    )
    assert [tuple(row) for row in outcomes] == [("succeeded", "completed", 1, TASKS)]

    # seq 1..N without holes, N = last_seq, for every task.
    gaps = await db.fetch(
        """
        SELECT t.id, t.last_seq, count(e.seq) AS n, min(e.seq) AS first, max(e.seq) AS last
        FROM tasks t LEFT JOIN task_events e ON e.task_id = t.id
        GROUP BY t.id, t.last_seq
        HAVING count(e.seq) <> t.last_seq OR min(e.seq) <> 1 OR max(e.seq) <> t.last_seq
        """
    )
    assert gaps == []
    # Exactly one final event per task, and it is the last one.
    finals = await db.fetch(
        """
        SELECT t.id, count(e.seq) AS finals, max(e.seq) AS final_seq, t.last_seq
        FROM tasks t LEFT JOIN task_events e ON e.task_id = t.id
            AND e.type IN ('task.succeeded', 'task.failed', 'task.cancelled')
        GROUP BY t.id, t.last_seq
        """
    )
    assert len(finals) == TASKS
    assert all(r["finals"] == 1 and r["final_seq"] == r["last_seq"] for r in finals)
    # Every task's log begins the same way, in this order.
    beginnings = await db.fetch(
        "SELECT task_id, array_agg(type ORDER BY seq) AS types FROM task_events"
        " WHERE seq <= 5 GROUP BY task_id"
    )
    assert {tuple(row["types"]) for row in beginnings} == {
        ("task.created", "task.queued", "triage.completed", "plan.created", "task.started")
    }
    # No fact recorded twice: by dedupe key, and step by step.
    assert not await db.fetch(
        "SELECT task_id, dedupe_key FROM task_events WHERE dedupe_key IS NOT NULL"
        " GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert not await db.fetch(
        "SELECT task_id, type, data->>'step' FROM task_events"
        " WHERE type IN ('step.started', 'step.completed') GROUP BY 1, 2, 3 HAVING count(*) > 1"
    )
    # Every step completed, and completed steps = step.completed events.
    assert not await db.fetch("SELECT 1 FROM task_steps WHERE status <> 'completed'")
    steps_done = await db.fetchval("SELECT count(*) FROM task_steps")
    step_events = await db.fetchval(
        "SELECT count(*) FROM task_events WHERE type = 'step.completed'"
    )
    assert steps_done == step_events >= TASKS
    # Nothing ran twice: no retries, one answer per task.
    assert not await db.fetchval("SELECT count(*) FROM task_events WHERE type = 'task.retrying'")
    answers = await db.fetch(
        "SELECT task_id, count(*) FROM messages WHERE role = 'assistant' GROUP BY 1"
    )
    assert len(answers) == TASKS and all(row["count"] == 1 for row in answers)

    # Each stage of each task was started once, and every worker took a share.
    for workers in (planners, executors):

        async def logged_all(workers: list[ServiceProcess] = workers) -> bool:
            return sum(await stage_starts(workers)) >= TASKS

        await async_wait_for(logged_all, within=10, what="the workers' logs")
        starts = await stage_starts(workers)
        assert sum(starts) == TASKS, starts
        assert all(starts), starts
