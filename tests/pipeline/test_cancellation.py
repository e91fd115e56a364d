"""Cancelling a task while it waits in the queue, while it is planned and while it is executed;
cancelling twice."""

from __future__ import annotations

import asyncio
import time
import uuid

from arq.constants import job_key_prefix

from shared.redis_conn import create_redis
from shared.redis_keys import plan_job_id
from tests.fixtures.polling import async_wait_for
from tests.fixtures.stack import Stack, StackFactory
from tests.pipeline.checks import assert_sound_log, of_type, types

RESEARCH = "Research PostgreSQL advisory locks and summarise"
# Each model answer takes this long: a cancel lands while a model call is in flight, and ends
# the task well before the call would have (the abort interrupts it).
SLOW = "3"
CANCEL_TAKES_EFFECT_WITHIN = 2.5


async def assert_cancelled(stack: Stack, task_id: str, previous_status: str) -> list[dict]:
    task = await stack.task(task_id)
    assert task["status"] == "cancelled", task
    assert task["stop_reason"] == "user_cancelled"
    events = await stack.events(task_id)
    final = assert_sound_log(task_id, events, task["last_seq"])
    assert final["type"] == "task.cancelled"
    assert final["data"]["stop_reason"] == "user_cancelled"
    requested = of_type(events, "task.cancel_requested")
    assert [e["data"]["previous_status"] for e in requested] == [previous_status]
    assert not of_type(events, "message.created")
    return events


async def cancel_and_time(stack: Stack, task_id: str) -> float:
    """Cancel; returns the seconds until the task is cancelled."""
    began = time.monotonic()
    body = await stack.cancel(task_id)
    assert body["status"] in ("cancelling", "cancelled"), body
    await stack.wait_for_task_final(task_id, within=30)
    return time.monotonic() - began


async def test_cancel_while_queued_is_immediate_and_the_job_then_does_nothing(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(services=["gateway"])
    chat_id, task_id = await stack.submit(RESEARCH)

    body = await stack.cancel(task_id)
    assert body["status"] == "cancelled"
    assert body["stop_reason"] == "user_cancelled"
    events = await assert_cancelled(stack, task_id, "queued")
    assert types(events) == [
        "task.created",
        "task.queued",
        "task.cancel_requested",
        "task.cancelled",
    ]
    assert events[-1]["data"]["completed_steps"] == []

    # The job was already on the queue: a planner starting now runs it, and it stops at once.
    await stack.start("planner", "executor")
    arq = create_redis(stack.redis_url)
    try:
        job_key = job_key_prefix + plan_job_id(uuid.UUID(task_id))

        async def job_gone() -> bool:
            return not await arq.exists(job_key)

        await async_wait_for(job_gone, within=15, what="the planner to take the job")
    finally:
        await arq.aclose()
    [planner] = stack.running("planner")
    await planner.wait_for_log("nothing to do", within=10)
    assert len(await stack.events(task_id)) == len(events)
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user"]


async def test_cancel_while_planning(make_stack: StackFactory) -> None:
    stack = await make_stack(OFFLINE_LATENCY=SLOW)
    _, task_id = await stack.submit(RESEARCH)
    await stack.wait_for_event(task_id, "triage.completed", within=30)

    took = await cancel_and_time(stack, task_id)
    assert took < CANCEL_TAKES_EFFECT_WITHIN, f"cancel took {took:.1f}s"
    events = await assert_cancelled(stack, task_id, "running")
    assert "plan.created" not in types(events)
    assert "task.started" not in types(events)
    assert events[-1]["data"]["completed_steps"] == []
    assert (await stack.task(task_id))["plan"] is None


async def test_cancel_after_planning_before_execution_starts(make_stack: StackFactory) -> None:
    stack = await make_stack(services=["gateway", "planner"], OFFLINE_LATENCY="0.2")
    _, task_id = await stack.submit(RESEARCH)
    await stack.wait_for_event(task_id, "plan.created", within=30)

    # No executor yet: the execution job waits on the queue. Cancelled, it never runs.
    await stack.cancel(task_id)
    await stack.start("executor")
    await stack.wait_for_task_final(task_id, within=30)
    events = await assert_cancelled(stack, task_id, "running")
    assert "task.started" not in types(events)
    assert events[-1]["data"]["completed_steps"] == []


async def test_cancel_while_executing(make_stack: StackFactory) -> None:
    stack = await make_stack(OFFLINE_LATENCY=SLOW)
    _, task_id = await stack.submit(RESEARCH)
    await stack.wait_for_event(task_id, "step.started", within=30)

    took = await cancel_and_time(stack, task_id)
    assert took < CANCEL_TAKES_EFFECT_WITHIN, f"cancel took {took:.1f}s"
    events = await assert_cancelled(stack, task_id, "running")
    completed = sorted(e["data"]["step"] for e in of_type(events, "step.completed"))
    assert events[-1]["data"]["completed_steps"] == completed
    task = await stack.task(task_id)
    assert [s["index"] for s in task["plan"]["steps"] if s["status"] == "completed"] == completed
    assert task["result"] is None
    # The step in flight was cancelled with the task; the ones not started are skipped.
    statuses = [s["status"] for s in task["plan"]["steps"]]
    assert set(statuses) <= {"completed", "cancelled", "skipped"}, statuses
    assert statuses.count("cancelled") <= 1, statuses


async def test_cancel_twice(make_stack: StackFactory) -> None:
    stack = await make_stack(OFFLINE_LATENCY="1")
    _, task_id = await stack.submit(RESEARCH)
    await stack.wait_for_event(task_id, "step.started", within=30)

    first, second = await asyncio.gather(stack.cancel(task_id), stack.cancel(task_id))
    assert {first["status"], second["status"]} <= {"cancelling", "cancelled"}
    task = await stack.wait_for_task_final(task_id, within=30)
    events = await assert_cancelled(stack, task_id, "running")

    # Once it has ended, a cancel changes nothing.
    again = await stack.cancel(task_id)
    assert again["status"] == "cancelled"
    assert again["last_seq"] == task["last_seq"] == len(events)
    assert await stack.events(task_id) == events
