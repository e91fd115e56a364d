"""Chats and their messages: POST/GET /v1/chats, POST/GET /v1/chats/{chat_id}/messages."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.gateway.keys import DB, KEYS, REDIS, SETTINGS, USER
from services.gateway.parsing import path_id, query_int, read_json
from services.gateway.submission import publish_task, submit_message
from services.gateway.views import chat_view, message_view, task_links
from shared.errors import BadRequest, NotFound
from shared.recorder import TaskRecorder

routes = web.RouteTableDef()
MAX_MESSAGE_CHARS = 100_000


class NewChat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("", max_length=200)


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


@routes.post("/v1/chats")
async def create_chat(request: web.Request) -> web.Response:
    body = await read_json(request, NewChat, empty_ok=True)
    row = await request.app[DB].fetchrow(
        "INSERT INTO chats (user_id, title) VALUES ($1, $2)"
        " RETURNING id, title, created_at, updated_at",
        request[USER].id,
        body.title.strip(),
    )
    return web.json_response(chat_view(row), status=201)


@routes.get("/v1/chats/{chat_id}")
async def get_chat(request: web.Request) -> web.Response:
    chat_id = path_id(request, "chat_id", "chat")
    row = await request.app[DB].fetchrow(
        "SELECT id, title, created_at, updated_at FROM chats WHERE id = $1 AND user_id = $2",
        chat_id,
        request[USER].id,
    )
    if row is None:
        raise NotFound(f"no chat {chat_id}")
    return web.json_response(chat_view(row))


@routes.post("/v1/chats/{chat_id}/messages")
async def post_message(request: web.Request) -> web.Response:
    chat_id = path_id(request, "chat_id", "chat")
    key = request.headers.get("Idempotency-Key")
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
    chat_id = path_id(request, "chat_id", "chat")
    limit = query_int(request, "limit", 50, 1, 200)
    pool = request.app[DB]
    owned = await pool.fetchval(
        "SELECT 1 FROM chats WHERE id = $1 AND user_id = $2", chat_id, request[USER].id
    )
    if not owned:
        raise NotFound(f"no chat {chat_id}")
    rows = await pool.fetch(
        "SELECT id, chat_id, task_id, role, content, created_at FROM messages"
        " WHERE chat_id = $1 ORDER BY created_at, id LIMIT $2",
        chat_id,
        limit,
    )
    return web.json_response({"messages": [message_view(r) for r in rows]})
