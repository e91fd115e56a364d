"""The conversation so far, as the agents see it: the chat's earlier messages, bounded in size.

Keep the most recent messages that fit both bounds; a message that alone is longer than what
is left is cut from its start (its end is usually the part that matters to what follows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["user", "assistant"]
    content: str


def bound_history(
    messages: Sequence[ChatMessage], *, max_messages: int, max_chars: int
) -> list[ChatMessage]:
    """The most recent messages within `max_messages` and `max_chars`, oldest first."""
    kept: list[ChatMessage] = []
    left = max_chars
    for message in reversed(messages[-max_messages:] if max_messages else []):
        if left <= 0:
            break
        content = message.content
        if len(content) > left:
            content = "…" + content[len(content) - left + 1 :]
        kept.append(ChatMessage(message.role, content))
        left -= len(content)
    kept.reverse()
    return kept


def to_model_history(messages: Sequence[ChatMessage]) -> list[ModelMessage]:
    """pydantic-ai message history: user messages as requests, assistant messages as responses."""
    history: list[ModelMessage] = []
    for message in messages:
        if message.role == "user":
            history.append(ModelRequest(parts=[UserPromptPart(message.content)]))
        else:
            history.append(ModelResponse(parts=[TextPart(message.content)]))
    return history


async def load_chat_history(
    pool: asyncpg.Pool, chat_id: UUID, *, before_task_id: UUID | None = None, limit: int = 50
) -> list[ChatMessage]:
    """The chat's messages older than the task's own user message, oldest first."""
    rows = await pool.fetch(
        """
        SELECT role, content FROM messages
        WHERE chat_id = $1
          AND ($2::uuid IS NULL OR task_id IS DISTINCT FROM $2)
          AND ($2::uuid IS NULL OR created_at <= coalesce(
                (SELECT created_at FROM messages WHERE task_id = $2 AND role = 'user'),
                'infinity'))
        ORDER BY created_at DESC, id DESC
        LIMIT $3
        """,
        chat_id,
        before_task_id,
        limit,
    )
    return [ChatMessage(row["role"], row["content"]) for row in reversed(rows)]
