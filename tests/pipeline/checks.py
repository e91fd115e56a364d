"""Checks every pipeline test makes of a task's event log (envelopes as the API returns them)."""

from __future__ import annotations

from collections import Counter
from typing import Any

FINAL_TYPES = frozenset({"task.succeeded", "task.failed", "task.cancelled"})
Event = dict[str, Any]


def types(events: list[Event]) -> list[str]:
    return [event["type"] for event in events]


def of_type(events: list[Event], type: str) -> list[Event]:
    return [event for event in events if event["type"] == type]


# The facts of a completed task that a re-run or a retry must never record twice.
ONCE_PER_COMPLETED_TASK = ("triage.completed", "plan.created", "task.started", "message.created")


def assert_facts_once(events: list[Event]) -> None:
    counts = Counter(types(events))
    for once in ONCE_PER_COMPLETED_TASK:
        assert counts[once] == 1, (once, types(events))


def assert_sound_log(task_id: str, events: list[Event], last_seq: int | None = None) -> Event:
    """seq 1..N without holes, ids "{task_id}:{seq}", exactly one final event and it is last.
    Returns the final event."""
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(1, len(events) + 1)), f"seq has holes or disorder: {seqs}"
    if last_seq is not None:
        assert last_seq == len(events)
    assert all(event["id"] == f"{task_id}:{event['seq']}" for event in events)
    assert all(event["task_id"] == task_id for event in events)
    finals = [event for event in events if event["type"] in FINAL_TYPES]
    assert len(finals) == 1, f"final events: {types(finals)} in {types(events)}"
    assert events[-1] is finals[0], f"the final event is not last: {types(events)}"
    assert events[0]["type"] == "task.created"
    return finals[0]


def assert_steps_once_and_in_order(events: list[Event], step_count: int) -> None:
    """Each step started and completed exactly once, one after the other; its tool calls and
    progress notes fall between its start and its completion."""
    started = Counter(e["data"]["step"] for e in of_type(events, "step.started"))
    completed = Counter(e["data"]["step"] for e in of_type(events, "step.completed"))
    assert started == dict.fromkeys(range(step_count), 1), started
    assert completed == dict.fromkeys(range(step_count), 1), completed
    seq_of = {
        (e["type"], e["data"]["step"]): e["seq"]
        for e in events
        if e["type"] in ("step.started", "step.completed")
    }
    for step in range(step_count):
        begin, end = seq_of["step.started", step], seq_of["step.completed", step]
        assert begin < end
        if step:
            assert seq_of["step.completed", step - 1] < begin
        for event in events:
            during = event["type"].startswith("tool_call.") or event["type"] == "progress"
            if during and event["data"].get("step") == step:
                assert begin < event["seq"] < end, (event, begin, end)
