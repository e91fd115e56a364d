"""mark_progress: a short note to the user, published as a `progress` event."""

from __future__ import annotations

from typing import Any

from services.executor.tools.search import clean_text
from shared.agents.publisher import PROGRESS, EventPublisher

MAX_PROGRESS_CHARS = 300


async def mark_progress(
    publisher: EventPublisher, step: int | None, note: int, message: str
) -> str:
    """Publish note number `note` (0, 1, ... within this run of the step): the step and the
    number are the note's dedupe key (shared/events.py), so a re-run step repeats none."""
    text = clean_text(message, MAX_PROGRESS_CHARS)
    if not text:
        return "Nothing to report: the message was empty."
    data: dict[str, Any] = {"step": step, "note": note, "message": text}
    await publisher.publish(PROGRESS, data)
    return "Progress shown to the user."
