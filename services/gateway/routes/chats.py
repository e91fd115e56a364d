"""Chats: create, list, get, rename, delete; and a chat's messages: post (starts a task), list."""

from __future__ import annotations

import uuid
from datetime import timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.gateway.cancellation import abort_job
from services.gateway.keys import DB, KEYS, REDIS, SETTINGS, USER
from services.gateway.pagination import decode_cursor, encode_cursor
from services.gateway.parsing import (
    NO_NUL_SCHEMA,
    NOT_BLANK_SCHEMA,
    check_text,
    header_text,
    path_id,
    query_int,
    read_json,
)
from services.gateway.submission import publish_task, submit_message
from services.gateway.views import chat_view, message_view, task_links
from shared.errors import BadRequest, NotFound
from shared.recorder import TaskRecorder
from shared.tasks import StopReason, TaskStatus

routes = web.RouteTableDef()
MAX_MESSAGE_CHARS = 100_000
_CHAT_COLUMNS = "id, title, created_at, updated_at"


class NewChat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("", max_length=200, json_schema_extra=NO_NUL_SCHEMA)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return check_text(value, blank_ok=True).strip()


class ChatUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(max_length=200, json_schema_extra=NO_NUL_SCHEMA)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return check_text(value, blank_ok=True).strip()


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(
        min_length=1, max_length=MAX_MESSAGE_CHARS, json_schema_extra=NOT_BLANK_SCHEMA
    )

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return check_text(value)


async def owned_chat_id(request: web.Request) -> uuid.UUID:
    chat_id = path_id(request, "chat_id", "chat")
    owned = await request.app[DB].fetchval(
        "SELECT 1 FROM chats WHERE id = $1 AND user_id = $2", chat_id, request[USER].id
    )
    if not owned:
        raise NotFound(f"no chat {chat_id}")
    return chat_id


@routes.post("/v1/chats")
async def create_chat(request: web.Request) -> web.Response:
    body = await read_json(request, NewChat, empty_ok=True)
    row = await request.app[DB].fetchrow(
        f"INSERT INTO chats (user_id, title) VALUES ($1, $2) RETURNING {_CHAT_COLUMNS}",
        request[USER].id,
        body.title,
    )
    return web.json_response(chat_view(row), status=201)


@routes.get("/v1/chats")
async def list_chats(request: web.Request) -> web.Response:
    """Newest first, `limit` at a time; pass `next_cursor` back as `cursor` for more."""
    limit = query_int(request, "limit", 20, 1, 100)
    cursor = decode_cursor(request)
    rows = await request.app[DB].fetch(
        f"""
        SELECT {_CHAT_COLUMNS} FROM chats WHERE user_id = $1
          AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
        ORDER BY created_at DESC, id DESC LIMIT $4
        """,
        request[USER].id,
        cursor[0] if cursor else None,
        cursor[1] if cursor else None,
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return web.json_response({"chats": [chat_view(r) for r in rows], "next_cursor": next_cursor})


@routes.get("/v1/chats/{chat_id}")
async def get_chat(request: web.Request) -> web.Response:
    chat_id = path_id(request, "chat_id", "chat")
    row = await request.app[DB].fetchrow(
        f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id = $1 AND user_id = $2",
        chat_id,
        request[USER].id,
    )
    if row is None:
        raise NotFound(f"no chat {chat_id}")
    return web.json_response(chat_view(row))


@routes.patch("/v1/chats/{chat_id}")
async def rename_chat(request: web.Request) -> web.Response:
    chat_id = path_id(request, "chat_id", "chat")
    body = await read_json(request, ChatUpdate)
    row = await request.app[DB].fetchrow(
        f"UPDATE chats SET title = $3, updated_at = now() WHERE id = $1 AND user_id = $2"
        f" RETURNING {_CHAT_COLUMNS}",
        chat_id,
        request[USER].id,
        body.title,
    )
    if row is None:
        raise NotFound(f"no chat {chat_id}")
    return web.json_response(chat_view(row))


@routes.delete("/v1/chats/{chat_id}")
async def delete_chat(request: web.Request) -> web.Response:
    """Removes the chat with its messages, tasks and events; its unfinished tasks are stopped."""
    chat_id = await owned_chat_id(request)
    app = request.app
    unfinished = await app[DB].fetch(
        "SELECT id, phase FROM tasks WHERE chat_id = $1"
        " AND status IN ('queued', 'running', 'cancelling')",
        chat_id,
    )
    for row in unfinished:
        # Ended cancelled before the rows go, so whoever follows the task live (a socket,
        # `jarvis chat`) gets its final event instead of waiting for one that never comes;
        # its job is aborted, queued or running. A job that starts anyway finds no task.
        recorder = TaskRecorder(app[DB], app[REDIS], app[KEYS], row["id"])
        await recorder.finish(TaskStatus.CANCELLED, StopReason.USER_CANCELLED)
        await abort_job(app[REDIS], row["id"], row["phase"])
    deleted = await app[DB].fetchval(
        "DELETE FROM chats WHERE id = $1 AND user_id = $2 RETURNING id", chat_id, request[USER].id
    )
    if deleted is None:
        raise NotFound(f"no chat {chat_id}")
    return web.Response(status=204)


@routes.post("/v1/chats/{chat_id}/messages")
async def post_message(request: web.Request) -> web.Response:
    chat_id = path_id(request, "chat_id", "chat")
    key = header_text(request, "Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 255:
        raise BadRequest("Idempotency-Key must be 1 to 255 characters")
    body = await read_json(request, NewMessage)
    app = request.app
    submission = await submit_message(
        app[DB],
        app[REDIS],
        app[KEYS],
        user_id=request[USER].id,
        chat_id=chat_id,
        content=body.content,
        idempotency_key=key,
        deadline=timedelta(seconds=app[SETTINGS].task_deadline),
    )
    if submission.created:
        recorder = TaskRecorder(app[DB], app[REDIS], app[KEYS], submission.task_id)
        await publish_task(app[REDIS], recorder)
    return web.json_response(
        {
            "task_id": str(submission.task_id),
            "message_id": str(submission.message_id),
            "chat_id": str(submission.chat_id),
            "status": "queued",
            "links": task_links(submission.task_id),
        },
        status=202,
    )


@routes.get("/v1/chats/{chat_id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Oldest first, `limit` at a time; pass `next_cursor` back as `cursor` for more."""
    chat_id = await owned_chat_id(request)
    limit = query_int(request, "limit", 50, 1, 200)
    cursor = decode_cursor(request)
    rows = await request.app[DB].fetch(
        """
        SELECT id, chat_id, task_id, role, content, created_at FROM messages
        WHERE chat_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
        ORDER BY created_at, id LIMIT $4
        """,
        chat_id,
        cursor[0] if cursor else None,
        cursor[1] if cursor else None,
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return web.json_response(
        {"messages": [message_view(r) for r in rows], "next_cursor": next_cursor}
    )
