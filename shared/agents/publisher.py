"""Where agents and tools send live events: step.*, tool_call.*, progress, and a tool's retries.

The executor's pipeline supplies a publisher that writes each event to PostgreSQL and the Redis
stream; tests use RecordingPublisher. Event type names come from design.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Protocol

STEP_STARTED: Final = "step.started"
STEP_COMPLETED: Final = "step.completed"
STEP_FAILED: Final = "step.failed"
TOOL_CALL_STARTED: Final = "tool_call.started"
TOOL_CALL_COMPLETED: Final = "tool_call.completed"
TOOL_CALL_FAILED: Final = "tool_call.failed"
PROGRESS: Final = "progress"
# A tool retrying a transient failure (data names the tool and its call).
TASK_RETRYING: Final = "task.retrying"

AGENT_EVENT_TYPES: Final = frozenset(
    {
        STEP_STARTED,
        STEP_COMPLETED,
        STEP_FAILED,
        TOOL_CALL_STARTED,
        TOOL_CALL_COMPLETED,
        TOOL_CALL_FAILED,
        PROGRESS,
        TASK_RETRYING,
    }
)


class EventPublisher(Protocol):
    async def publish(self, type: str, data: dict[str, Any]) -> None: ...


@dataclass
class RecordingPublisher:
    """Keeps every event in order, for tests."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, type: str, data: dict[str, Any]) -> None:
        if type not in AGENT_EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        self.events.append((type, data))

    def types(self) -> list[str]:
        return [event_type for event_type, _ in self.events]

    def of_type(self, type: str) -> list[dict[str, Any]]:
        return [data for event_type, data in self.events if event_type == type]
