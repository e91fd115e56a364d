"""At-least-once delivery and client retries: a task published again runs once; an
Idempotency-Key replay returns the first answer and creates nothing."""

from __future__ import annotations

import uuid

from arq.constants import job_key_prefix

from shared.queues import enqueue_execution, enqueue_plan
from shared.redis_conn import create_redis
from shared.redis_keys import RedisKeys, execute_job_id, plan_job_id
from tests.fixtures.polling import async_wait_for
from tests.fixtures.stack import Stack, StackFactory
from tests.pipeline.checks import assert_facts_once, assert_sound_log, types

RESEARCH = "Research PostgreSQL advisory locks and summarise"


async def count_rows(stack: Stack, chat_id: str) -> tuple[int, int]:
    chat = uuid.UUID(chat_id)
    tasks = await stack.pool.fetchval("SELECT count(*) FROM tasks WHERE chat_id = $1", chat)
    messages = await stack.pool.fetchval("SELECT count(*) FROM messages WHERE chat_id = $1", chat)
    return tasks, messages


async def test_a_task_published_twice_runs_once(make_stack: StackFactory) -> None:
    stack = await make_stack(services=["gateway"])
    chat_id, task_id = await stack.submit(RESEARCH)
    task_uuid = uuid.UUID(task_id)
    keys = RedisKeys(stack.prefix)
    arq = create_redis(stack.redis_url)
    try:
        # The gateway put it on the queue; publishing it again, twice, adds nothing.
        assert await enqueue_plan(arq, keys, task_uuid) is False
        assert await enqueue_plan(arq, keys, task_uuid) is False
        assert await arq.zcard(keys.planner_queue) == 1

        await stack.start("planner", "executor")
        task = await stack.wait_for_task_final(task_id)
        assert task["status"] == "succeeded", task
        events = await stack.events(task_id)

        # Published again after the end (a dispatcher or a client replaying): both stages'
        # jobs are taken and run, and find nothing to do.
        assert await enqueue_plan(arq, keys, task_uuid) is True
        assert await enqueue_execution(arq, keys, task_uuid, task["plan"]) is True

        async def both_done() -> bool:
            pending = await arq.exists(
                job_key_prefix + plan_job_id(task_uuid), job_key_prefix + execute_job_id(task_uuid)
            )
            return pending == 0

        await async_wait_for(both_done, within=15, what="the repeated jobs to run")
    finally:
        await arq.aclose()
    for service in ("planner", "executor"):
        [worker] = stack.running(service)
        await worker.wait_for_log("nothing to do", within=10)

    assert await stack.events(task_id) == events
    assert_sound_log(task_id, events, task["last_seq"])
    assert_facts_once(events)
    assert types(events).count("task.succeeded") == 1
    assert await stack.task(task_id) == task
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user", "assistant"]


async def test_an_idempotency_key_replay_creates_nothing(make_stack: StackFactory) -> None:
    stack = await make_stack(services=["gateway"])
    chat_id = await stack.create_chat()
    key = f"retry-{uuid.uuid4()}"

    status, first = await stack.post_message(chat_id, RESEARCH, idempotency_key=key)
    assert status == 202, first
    assert await count_rows(stack, chat_id) == (1, 1)
    events = await stack.events(first["task_id"])

    status, replay = await stack.post_message(chat_id, RESEARCH, idempotency_key=key)
    assert status == 202, replay
    assert replay == first
    assert await count_rows(stack, chat_id) == (1, 1)
    assert await stack.events(first["task_id"]) == events

    # The same key with another body is refused, in the one error shape.
    status, body = await stack.post_message(chat_id, "something else", idempotency_key=key)
    assert status == 422, body
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in body["error"]["message"]
    assert await count_rows(stack, chat_id) == (1, 1)

    # Without a key, the same body is a new message and a new task.
    status, other = await stack.post_message(chat_id, RESEARCH)
    assert status == 202, other
    assert other["task_id"] != first["task_id"]
    assert await count_rows(stack, chat_id) == (2, 2)
