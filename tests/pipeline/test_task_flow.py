"""A message through gateway, planner and executor (real processes) to its answer."""

from __future__ import annotations

from tests.fixtures.stack import StackFactory
from tests.pipeline.checks import assert_sound_log, assert_steps_once_and_in_order, of_type, types

RESEARCH = "Research PostgreSQL advisory locks and summarise"


async def test_a_task_goes_through_to_its_result(make_stack: StackFactory) -> None:
    stack = await make_stack()
    chat_id, task_id = await stack.submit(RESEARCH)

    task = await stack.wait_for_task_final(task_id)
    assert task["status"] == "succeeded", task
    assert task["stop_reason"] == "completed"
    assert task["error"] is None
    assert task["attempt"] == 1
    assert task["model"] == "offline"
    assert task["usage"]["requests"] >= 3
    assert task["usage"]["tool_calls"] >= 1
    assert task["usage"]["input_tokens"] > 0 and task["usage"]["output_tokens"] > 0
    steps = task["plan"]["steps"]
    assert steps, task["plan"]
    assert [s["status"] for s in steps] == ["completed"] * len(steps)
    assert all(s["output"] for s in steps)
    answer = task["result"]["answer"]
    assert answer

    events = await stack.events(task_id)
    final = assert_sound_log(task_id, events, task["last_seq"])
    assert final["type"] == "task.succeeded"
    assert final["data"]["stop_reason"] == "completed"
    assert types(events)[:5] == [
        "task.created",
        "task.queued",
        "triage.completed",
        "plan.created",
        "task.started",
    ]
    assert types(events)[-2:] == ["message.created", "task.succeeded"]
    assert events[2]["data"]["actionable"] is True
    assert events[3]["data"]["steps"] == [
        {k: v for k, v in s.items() if k not in ("index", "status", "output")} for s in steps
    ]
    assert_steps_once_and_in_order(events, len(steps))
    # The offline model searches in its research step and notes its progress.
    assert of_type(events, "tool_call.started")
    assert of_type(events, "progress")
    calls = {e["data"]["tool_call_id"] for e in of_type(events, "tool_call.started")}
    done = {e["data"]["tool_call_id"] for e in of_type(events, "tool_call.completed")}
    assert calls == done
    assert {e["data"]["tool"] for e in of_type(events, "tool_call.started")} >= {"web_search"}
    # Workers' events carry the try they come from; the gateway's come before any try.
    assert {e["attempt"] for e in events[2:]} == {1}

    messages = await stack.messages(chat_id)
    assert [(m["role"], m["task_id"]) for m in messages] == [
        ("user", task_id),
        ("assistant", task_id),
    ]
    assert messages[0]["content"] == RESEARCH
    assert messages[1]["content"] == answer
    created = of_type(events, "message.created")[0]["data"]
    assert created["message_id"] == messages[1]["id"]
    assert created["content"] == answer


async def test_a_message_that_is_not_a_task_gets_a_direct_reply(make_stack: StackFactory) -> None:
    stack = await make_stack()
    chat_id, task_id = await stack.submit("hello")

    task = await stack.wait_for_task_final(task_id)
    assert task["status"] == "succeeded", task
    assert task["stop_reason"] == "not_actionable"
    assert task["plan"] is None
    assert task["model"] == "offline"
    assert task["usage"]["requests"] == 1

    events = await stack.events(task_id)
    final = assert_sound_log(task_id, events, task["last_seq"])
    assert types(events) == [
        "task.created",
        "task.queued",
        "triage.completed",
        "message.created",
        "task.succeeded",
    ]
    triage = events[2]["data"]
    assert triage["actionable"] is False
    assert triage["reply"]
    assert final["data"]["stop_reason"] == "not_actionable"

    messages = await stack.messages(chat_id)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == triage["reply"] == task["result"]["answer"]
