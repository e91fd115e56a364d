"""Executors SIGKILLed in the middle of a task: the job lease (shared/worker_deps.py) lets another
executor run it again within seconds; a re-run resumes and records nothing twice; a task whose
every run dies ends failed with stop_reason max_retries."""

from __future__ import annotations

import signal

from tests.fixtures.polling import async_wait_for
from tests.fixtures.stack import Stack, StackFactory
from tests.pipeline.checks import (
    assert_facts_once,
    assert_sound_log,
    assert_steps_once_and_in_order,
    of_type,
)

RESEARCH = "Research PostgreSQL advisory locks and summarise"
# Slow enough that an executor is certainly mid-step when it is killed.
LATENCY = "0.4"


async def running_it(stack: Stack, task_id: str) -> list:
    """The executor processes that have started work on the task."""

    async def found() -> list:
        return [p for p in stack.running("executor") if p.log_count(task_id)]

    return await async_wait_for(found, within=10, what=f"an executor to log {task_id}")


async def test_a_task_survives_its_executor_being_killed(make_stack: StackFactory) -> None:
    stack = await make_stack(OFFLINE_LATENCY=LATENCY)
    await stack.start("executor")  # a second executor, to take the task over
    chat_id, task_id = await stack.submit(RESEARCH)

    await stack.wait_for_event(task_id, "tool_call.started", within=30)
    [victim] = await running_it(stack, task_id)
    await victim.end()  # SIGKILL, mid-step
    [survivor] = stack.running("executor")

    task = await stack.wait_for_task_final(task_id, within=45)
    assert task["status"] == "succeeded", task
    assert task["stop_reason"] == "completed"
    assert task["attempt"] == 2
    assert survivor.log_count(task_id)

    events = await stack.events(task_id)
    assert_sound_log(task_id, events, task["last_seq"])
    retrying = of_type(events, "task.retrying")
    assert [(e["attempt"], e["data"]["stage"], e["data"]["attempt"]) for e in retrying] == [
        (2, "executing", 2)
    ]
    assert_facts_once(events)
    assert_steps_once_and_in_order(events, len(task["plan"]["steps"]))
    # A re-run step's progress notes are the ones already shown, not shown again.
    notes = [(e["data"]["step"], e["data"]["note"]) for e in of_type(events, "progress")]
    assert len(notes) == len(set(notes)), notes
    # The second run did work of its own: it resumed, it did not just find the task done.
    assert any(e["attempt"] == 2 for e in of_type(events, "tool_call.started"))
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user", "assistant"]


async def test_a_task_whose_every_run_dies_fails_with_max_retries(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(OFFLINE_LATENCY=LATENCY, MAX_JOB_TRIES="2")
    chat_id, task_id = await stack.submit(RESEARCH)

    for attempt in (1, 2):
        # Work of this try has begun (so its lease is held): kill it, start a fresh executor.
        await stack.wait_for_event(
            task_id, "tool_call.started", where=lambda e, a=attempt: e["attempt"] == a, within=40
        )
        await stack.restart("executor")

    task = await stack.wait_for_task_final(task_id, within=40)
    assert task["status"] == "failed", task
    assert task["stop_reason"] == "max_retries"
    assert task["error"]["code"] == "max_retries"
    assert task["result"] is None

    events = await stack.events(task_id)
    final = assert_sound_log(task_id, events, task["last_seq"])
    assert final["type"] == "task.failed"
    assert final["data"]["stop_reason"] == "max_retries"
    assert final["attempt"] == 3
    assert [e["data"]["attempt"] for e in of_type(events, "task.retrying")] == [2]
    assert not of_type(events, "message.created")
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user"]

    # The pipeline is none the worse: the next task runs through.
    _, next_task = await stack.submit(RESEARCH, chat_id)
    task = await stack.wait_for_task_final(next_task, within=40)
    assert task["status"] == "succeeded", task
    assert task["attempt"] == 1


async def test_an_executor_stopped_with_sigterm_finishes_its_task_first(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(OFFLINE_LATENCY=LATENCY)
    _, task_id = await stack.submit(RESEARCH)
    await stack.wait_for_event(task_id, "step.started", within=30)

    [executor] = stack.running("executor")
    assert await executor.end(signal.SIGTERM, within=30) == 0
    task = await stack.task(task_id)
    assert task["status"] == "succeeded", task
    assert task["attempt"] == 1
    events = await stack.events(task_id)
    assert_sound_log(task_id, events, task["last_seq"])
    assert not of_type(events, "task.retrying")


async def test_a_job_longer_than_the_shutdown_wait_is_handed_back_and_resumed(
    make_stack: StackFactory,
) -> None:
    # The executor gets 0.5 s to finish on SIGTERM; a task at this latency takes several.
    stack = await make_stack(OFFLINE_LATENCY=LATENCY, WORKER_SHUTDOWN_WAIT="0.5")
    _, task_id = await stack.submit(RESEARCH)
    first = await stack.wait_for_event(task_id, "step.completed", within=30)

    [executor] = stack.running("executor")
    assert await executor.end(signal.SIGTERM, within=30) == 0
    handed_back = await stack.task(task_id)
    assert handed_back["status"] == "running", handed_back  # not finished, not failed

    await stack.start("executor")
    task = await stack.wait_for_task_final(task_id, within=60)
    assert task["status"] == "succeeded", task
    events = await stack.events(task_id)
    assert_sound_log(task_id, events, task["last_seq"])
    assert_steps_once_and_in_order(events, len(task["plan"]["steps"]))
    # The step finished before the stop is not run again: its tool calls all came before.
    assert first["data"]["step"] == 0
    step_0_calls = [e for e in of_type(events, "tool_call.started") if e["data"]["step"] == 0]
    assert step_0_calls and all(e["seq"] < first["seq"] for e in step_0_calls), step_0_calls
