"""mark_progress: a short note to the user, published as a `progress` event."""

from __future__ import annotations

from typing import Any

from services.executor.tools.search import clean_text
from shared.agents.publisher import PROGRESS, EventPublisher

MAX_PROGRESS_CHARS = 300


async def mark_progress(publisher: EventPublisher, step: int | None, message: str) -> str:
    note = clean_text(message, MAX_PROGRESS_CHARS)
    if not note:
        return "Nothing to report: the message was empty."
    data: dict[str, Any] = {"step": step, "message": note}
    await publisher.publish(PROGRESS, data)
    return "Progress shown to the user."
