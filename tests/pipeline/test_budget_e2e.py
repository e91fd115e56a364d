"""Budgets through the real services: a task that runs out of one of its budgets (model requests,
tool calls, tokens, time; JARVIS_BUDGET_*) with the offline model ends failed with stop_reason
budget_exceeded, its error naming the budget, its final event last and its usage recorded."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.stack import StackFactory
from tests.pipeline.checks import assert_sound_log, of_type, types

RESEARCH = "Research PostgreSQL advisory locks and summarise"


async def run_out_of(
    make_stack: StackFactory, budget: str, **settings: str
) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Run RESEARCH on a stack with `settings`; the task must end failed on `budget`."""
    stack = await make_stack(**settings)
    chat_id, task_id = await stack.submit(RESEARCH)
    task = await stack.wait_for_task_final(task_id, within=60)
    assert task["status"] == "failed", task
    assert task["stop_reason"] == "budget_exceeded", task
    assert task["error"]["code"] == "budget_exceeded", task["error"]
    assert task["error"]["budget"] == budget, task["error"]
    assert budget.replace("_", " ") in task["error"]["message"].replace("_", " "), task["error"]
    assert task["result"] is None
    assert task["model"] == "offline"

    events = await stack.events(task_id)
    final = assert_sound_log(task_id, events, task["last_seq"])
    assert final["type"] == "task.failed"
    assert final["data"]["stop_reason"] == "budget_exceeded"
    assert final["data"]["error"]["budget"] == budget
    # Not retried: a budget is spent, not a transient error.
    assert not of_type(events, "task.retrying")
    assert not of_type(events, "message.created")
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user"]
    if task["plan"] is not None:
        # No step is left looking as if it were still running.
        assert all(s["status"] != "running" for s in task["plan"]["steps"]), task["plan"]
    # Every tool call that started has its end.
    started = {e["data"]["tool_call_id"] for e in of_type(events, "tool_call.started")}
    ended = {
        e["data"]["tool_call_id"]
        for e in events
        if e["type"] in ("tool_call.completed", "tool_call.failed")
    }
    assert started <= ended, types(events)
    return task, events, task_id


@pytest.mark.parametrize("limit", [1])
async def test_tool_call_budget(make_stack: StackFactory, limit: int) -> None:
    task, events, _ = await run_out_of(make_stack, "tool_calls", BUDGET_TOOL_CALLS=str(limit))
    usage = task["usage"]
    assert f"tool_calls_limit of {limit}" in task["error"]["message"], task["error"]
    # The limit stops calls before they run (the offline model asks for two at once): the
    # recorded tool calls are within the budget, and each one that ran has its events.
    assert usage["tool_calls"] <= limit, usage
    assert len(of_type(events, "tool_call.started")) == usage["tool_calls"], types(events)
    assert usage["requests"] >= 3, usage  # triage, planning, and the step that asked for tools
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0, usage
    # It ran out while executing: the executor started, and the step says it failed.
    assert of_type(events, "task.started")
    assert of_type(events, "step.failed"), types(events)


@pytest.mark.parametrize("limit", [2, 4])
async def test_request_budget(make_stack: StackFactory, limit: int) -> None:
    task, events, _ = await run_out_of(make_stack, "requests", BUDGET_REQUESTS=str(limit))
    usage = task["usage"]
    # The budget is the task's, across the planner and the executor: exactly `limit` requests.
    assert usage["requests"] == limit, usage
    assert of_type(events, "plan.created"), types(events)


async def test_token_budget(make_stack: StackFactory) -> None:
    task, events, _ = await run_out_of(make_stack, "tokens", BUDGET_TOKENS="1")
    usage = task["usage"]
    # The first answer already went past the budget: recorded, and nothing more asked.
    assert usage["requests"] == 1, usage
    assert usage["input_tokens"] + usage["output_tokens"] > 1, usage
    assert not of_type(events, "triage.completed"), types(events)


async def test_time_budget(make_stack: StackFactory) -> None:
    # Each offline answer takes 0.4 s; the task may run 1 s, less than it needs.
    task, events, _ = await run_out_of(
        make_stack, "time", BUDGET_SECONDS="1", OFFLINE_LATENCY="0.4"
    )
    assert task["usage"]["requests"] >= 1, task["usage"]
    final = events[-1]
    assert "1 s" in final["data"]["error"]["message"], final
