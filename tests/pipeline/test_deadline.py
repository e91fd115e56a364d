"""The dispatcher's deadline sweep (services/gateway/dispatcher.py): a task still running past its
deadline ends failed, saying why, and the job still working on it stops: nothing is recorded
after the final event, and no step is left running."""

from __future__ import annotations

from tests.fixtures.polling import async_wait_for
from tests.fixtures.stack import Stack, StackFactory
from tests.pipeline.checks import assert_sound_log

RESEARCH = "Research PostgreSQL advisory locks and summarise"


def job_end_lines(stack: Stack, task_id: str) -> list[str]:
    """Log lines of a worker saying the task's job stopped because the task had ended."""
    ends = ("aborted", "task already ended")
    return [
        line
        for process in stack.processes
        if process.service != "gateway"
        for line in list(process.stderr)
        if task_id in line and any(end in line for end in ends)
    ]


async def test_a_task_past_its_deadline_fails_and_its_job_stops(make_stack: StackFactory) -> None:
    # Each model answer takes 1 s: the task needs about 8 s, its deadline is 4 s after posting.
    stack = await make_stack(TASK_DEADLINE="4", OFFLINE_LATENCY="1")
    _, task_id = await stack.submit(RESEARCH)
    await stack.wait_for_event(task_id, "step.started", within=30)

    task = await stack.wait_for_task_final(task_id, within=30)
    assert task["status"] == "failed", task
    assert task["stop_reason"] == "error"
    assert task["error"]["code"] == "deadline_exceeded"
    assert task["result"] is None

    # The job working on it stops soon (aborted), instead of carrying on to its end.
    async def stopped() -> list[str]:
        return job_end_lines(stack, task_id)

    try:
        await async_wait_for(stopped, within=10, what="the task's job to stop")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{stack.logs()}") from None

    task = await stack.task(task_id)
    events = await stack.events(task_id)
    final = assert_sound_log(task_id, events, task["last_seq"])
    assert final["type"] == "task.failed"
    assert final["data"]["error"]["code"] == "deadline_exceeded"
    # The step in flight failed with the task; none is left running or pending.
    statuses = [step["status"] for step in task["plan"]["steps"]]
    assert set(statuses) <= {"completed", "failed", "skipped"}, statuses
    assert statuses.count("failed") <= 1, statuses
