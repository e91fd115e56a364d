"""The one event envelope: {id, task_id, chat_id, seq, type, ts, attempt, data}.

`seq` counts 1, 2, 3, ... per task with no holes; `id` is "{task_id}:{seq}", which is also the
resume point a client hands back. Every event is written to PostgreSQL first (the durable log,
see shared/event_log.py) and then appended to Redis streams (the fast path, shared/event_stream.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

EventType = Literal[
    "task.created",
    "task.queued",
    "triage.completed",
    "plan.created",
    "task.started",
    "step.started",
    "step.completed",
    "step.failed",
    "tool_call.started",
    "tool_call.completed",
    "tool_call.failed",
    "progress",
    "message.created",
    "task.retrying",
    "task.cancel_requested",
    "task.succeeded",
    "task.failed",
    "task.cancelled",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
FINAL_EVENT_TYPES = frozenset({"task.succeeded", "task.failed", "task.cancelled"})

# Facts that happen once per task, whatever the number of attempts.
_ONCE_PER_TASK = frozenset(
    {
        "task.created",
        "task.queued",
        "triage.completed",
        "plan.created",
        "task.started",
        "message.created",
        "task.cancel_requested",
        *FINAL_EVENT_TYPES,
    }
)


class TaskEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    task_id: uuid.UUID
    chat_id: uuid.UUID
    seq: int
    type: EventType
    ts: datetime
    attempt: int
    data: dict[str, Any]

    @property
    def final(self) -> bool:
        return self.type in FINAL_EVENT_TYPES

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def event_id(task_id: uuid.UUID, seq: int) -> str:
    return f"{task_id}:{seq}"


def parse_event_id(value: str) -> tuple[uuid.UUID, int]:
    """Split "{task_id}:{seq}"; raises ValueError on anything else."""
    task_part, _, seq_part = value.rpartition(":")
    seq = int(seq_part)
    if seq < 0:
        raise ValueError("seq must not be negative")
    return uuid.UUID(task_part), seq


def dedupe_key(type: str, data: dict[str, Any], attempt: int) -> str | None:
    """The fact an event records, so that a re-run job does not record it again.

    Step events are once per step; tool calls once per tool call id (a re-run step makes new
    calls, with new ids: those are new facts); progress notes once per step and ordinal within
    the step's run (`note`, from `mark_progress`), so a re-run step's notes, whatever their
    words, are the ones already shown; a stage's retries once per attempt, a tool's once per
    call and try. Other events have no key.
    """
    if type in _ONCE_PER_TASK:
        return type
    if type.startswith("step."):
        return f"{type}:{data.get('step')}"
    if type == "progress":
        note = data.get("note")
        return f"{type}:{data.get('step')}:{note}" if note is not None else None
    if type.startswith("tool_call."):
        call_id = data.get("tool_call_id")
        return f"{type}:{data.get('step')}:{call_id}" if call_id else None
    if type == "task.retrying":
        if call_id := data.get("tool_call_id"):  # a tool's retry: once per call and try
            return f"{type}:{data.get('step')}:{call_id}:{data.get('attempt')}"
        return f"{type}:{data.get('stage')}:{attempt}"
    return None
