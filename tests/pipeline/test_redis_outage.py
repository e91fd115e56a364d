"""Redis down while a message is posted: the task is accepted anyway (PostgreSQL has it), and
once Redis is back the gateway's dispatcher puts it on the queue and it runs to its end."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.embedded import ServerProcess, start_redis
from tests.fixtures.stack import StackFactory
from tests.pipeline.checks import assert_sound_log, of_type, types


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """A Redis of this test's own (the session's is shared); the list holds its current run."""
    runs = [start_redis(tmp_path / "redis")]
    yield runs
    runs[-1].stop()


async def test_a_message_posted_while_redis_is_down_runs_when_it_is_back(
    make_stack: StackFactory, own_redis: list[ServerProcess], tmp_path: Path
) -> None:
    redis = own_redis[-1]
    # With the rate limiter on, which counts in Redis (and lets requests pass when it cannot).
    stack = await make_stack(redis_url=redis.url, RATE_LIMIT="600")
    chat_id = await stack.create_chat()
    redis.stop()

    status, body = await stack.post_message(chat_id, "Research PostgreSQL advisory locks")
    assert status == 202, body
    task_id = body["task_id"]
    task = await stack.task(task_id)
    assert task["status"] == "queued"
    assert types(await stack.events(task_id)) == ["task.created"]

    # The workers notice the outage and wait for Redis instead of exiting.
    for worker in stack.running("planner") + stack.running("executor"):
        await worker.wait_for_log("Redis unavailable", within=10)
    own_redis.append(start_redis(tmp_path / "redis", port=redis.port))
    task = await stack.wait_for_task_final(task_id, within=60)
    assert task["status"] == "succeeded", task

    events = await stack.events(task_id)
    assert_sound_log(task_id, events, task["last_seq"])
    queued = of_type(events, "task.queued")
    assert len(queued) == 1
    assert queued[0]["data"]["by"] == "dispatcher"
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user", "assistant"]
    # The same worker processes ran it.
    assert len(stack.running("planner")) == 1
    assert len(stack.running("executor")) == 1


async def test_a_message_posted_while_redis_hangs_is_accepted(
    make_stack: StackFactory, own_redis: list[ServerProcess]
) -> None:
    redis = own_redis[-1]
    stack = await make_stack(redis_url=redis.url, services=["gateway"], RATE_LIMIT="600")
    chat_id = await stack.create_chat()
    redis.process.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        began = time.monotonic()
        status, body = await stack.post_message(chat_id, "Research PostgreSQL advisory locks")
        took = time.monotonic() - began
    finally:
        redis.process.send_signal(signal.SIGCONT)
    assert status == 202, body
    assert took < 10, f"the POST took {took:.1f}s"
    await stack.start("planner", "executor")
    task = await stack.wait_for_task_final(body["task_id"], within=60)
    assert task["status"] == "succeeded", task
