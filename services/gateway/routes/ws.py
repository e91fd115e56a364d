"""The WebSocket progress feed at /v1/ws, and tickets for browsers at POST /v1/ws-tickets.

Authentication is on the handshake: `Authorization: Bearer <token>`, or `?ticket=` with a
single-use ticket from POST /v1/ws-tickets. A browser's Origin must be the gateway's own or in
JARVIS_ALLOWED_ORIGINS.

Client → server (JSON text frames):
  {"type": "subscribe", "task_id": ID, "after_seq": N}          (or "last_event_id": "ID:N")
  {"type": "subscribe", "chat_id": ID, "since": {TASK_ID: N}}
  {"type": "unsubscribe", "task_id": ID} / {"type": "unsubscribe", "chat_id": ID}
  {"type": "ping"}
Server → client:
  {"type": "event", "event": {envelope}}   every event of what you subscribed to, in order, once
  {"type": "subscribed" | "unsubscribed", "task_id" | "chat_id": ID}
  {"type": "error", "error": {"code", "message", "details"}}
  {"type": "pong"}
A client too slow to keep up is closed with code 4008; a stopping gateway closes every socket
with 1001 (going away), and the client resumes elsewhere with its last event ids.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from services.gateway.hub import CatchUp, Notice, Subscriber
from services.gateway.keys import DB, HUB, KEYS, METRICS, REDIS, SETTINGS, USER
from services.gateway.middleware import as_unavailable
from services.gateway.routes.tasks import MAX_SEQ
from services.gateway.tickets import TICKET_SECONDS, issue_ticket, redeem_ticket
from shared.auth import user_for_token
from shared.errors import BadRequest, JarvisError, NotFound, Unauthorized, ValidationFailed
from shared.events import TaskEvent, parse_event_id
from shared.tasks import load_user_task

routes = web.RouteTableDef()

MAX_FRAME_BYTES = 64 * 1024
CLOSE_TOO_SLOW = 4008


@routes.post("/v1/ws-tickets")
async def create_ticket(request: web.Request) -> web.Response:
    ticket = await issue_ticket(request.app[REDIS], request.app[KEYS], request[USER].id)
    return web.json_response({"ticket": ticket, "expires_in": TICKET_SECONDS}, status=201)


# The handshake's headers aiohttp reads. Bytes in them that are not ASCII make it raise
# ValueError or UnicodeEncodeError rather than its own 400, so they are refused here first.
_HANDSHAKE_HEADERS = (
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
)


def check_handshake_headers(request: web.Request) -> None:
    for name in _HANDSHAKE_HEADERS:
        if not request.headers.get(name, "").isascii():
            raise BadRequest(f"not a WebSocket handshake: the {name} header must be ASCII")


def origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: it authenticates with its own token
    own = f"{request.scheme}://{request.host}"
    return origin == own or origin in request.app[SETTINGS].allowed_origins


async def authenticate(request: web.Request) -> uuid.UUID:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        user = await user_for_token(request.app[DB], token.strip())
        if user is not None:
            return user.id
        raise Unauthorized("invalid or revoked token")
    ticket = request.query.get("ticket")
    if ticket:
        user_id = await redeem_ticket(request.app[REDIS], request.app[KEYS], ticket)
        if user_id is not None:
            return user_id
        raise Unauthorized("invalid, used or expired ticket")
    raise Unauthorized("send 'Authorization: Bearer <token>' or ?ticket= from POST /v1/ws-tickets")


def _uuid(message: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(message[name]))
    except (KeyError, ValueError):
        raise ValidationFailed(f"{name} must be a UUID", details=[{"field": name}]) from None


def _valid_seq(value: object) -> bool:
    # Past MAX_SEQ a seq would not fit PostgreSQL's bigint, and the catch-up query would fail.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEQ


def _after_seq(message: dict[str, Any]) -> int:
    if "last_event_id" in message:
        try:
            seq = parse_event_id(str(message["last_event_id"]))[1]
        except ValueError:
            seq = -1
        if not _valid_seq(seq):
            raise ValidationFailed("last_event_id must look like '<task_id>:<seq>'")
        return seq
    value = message.get("after_seq", 0)
    if not _valid_seq(value):
        raise ValidationFailed(f"after_seq must be an integer from 0 to {MAX_SEQ}")
    return value


def _since(message: dict[str, Any]) -> dict[uuid.UUID, int]:
    """A chat subscription's resume points; entries that are not (task id, seq) are ignored."""
    since = message.get("since") or {}
    if not isinstance(since, dict):
        raise ValidationFailed("since must map task ids to seq numbers")
    known = {}
    for task_id, seq in since.items():
        with contextlib.suppress(ValueError):
            if _valid_seq(seq):
                known[uuid.UUID(str(task_id))] = seq
    return known


class Session:
    """One socket's subscriptions."""

    def __init__(self, request: web.Request, user_id: uuid.UUID, subscriber: Subscriber) -> None:
        self.app = request.app
        self.user_id = user_id
        self.subscriber = subscriber

    async def handle(self, raw: str) -> None:
        try:
            message = json.loads(raw)
            if not isinstance(message, dict):
                raise ValidationFailed("a message must be a JSON object")
            kind = message.get("type")
            if kind == "ping":
                self.subscriber.offer(Notice({"type": "pong"}))
            elif kind == "subscribe":
                await self.subscribe(message)
            elif kind == "unsubscribe":
                await self.unsubscribe(message)
            else:
                raise ValidationFailed("type must be subscribe, unsubscribe or ping")
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
            self.subscriber.offer(Notice(_error(ValidationFailed("malformed JSON"))))
        except JarvisError as error:
            self.subscriber.offer(Notice(_error(error)))
        except Exception as error:
            # PostgreSQL or Redis went away mid-session: say so; the socket stays open.
            if (unavailable := as_unavailable(error)) is None:
                raise
            self.subscriber.offer(Notice(_error(unavailable)))

    async def subscribe(self, message: dict[str, Any]) -> None:
        hub, keys, pool = self.app[HUB], self.app[KEYS], self.app[DB]
        if "task_id" in message:
            task_id = _uuid(message, "task_id")
            after = _after_seq(message)
            task = await load_user_task(pool, task_id, self.user_id)
            if task is None:
                raise NotFound(f"no task {task_id}")
            self.subscriber.resume_after(task_id, after)
            await hub.subscribe(self.subscriber, keys.task_stream(task_id), f"{task.last_seq}-0")
            self.subscriber.offer(Notice({"type": "subscribed", "task_id": str(task_id)}))
            self.subscriber.offer(CatchUp(task_id, after))
            return
        chat_id = _uuid(message, "chat_id")
        known = _since(message)
        owned = await pool.fetchval(
            "SELECT 1 FROM chats WHERE id = $1 AND user_id = $2", chat_id, self.user_id
        )
        if not owned:
            raise NotFound(f"no chat {chat_id}")
        for task_id, seq in known.items():
            self.subscriber.resume_after(task_id, seq)
        stream = keys.chat_stream(chat_id)
        await hub.subscribe(self.subscriber, stream, await hub.stream_tail_id(stream))
        self.subscriber.offer(Notice({"type": "subscribed", "chat_id": str(chat_id)}))
        # Catch up on the chat's unfinished tasks and on those the client already follows.
        rows = await pool.fetch(
            "SELECT id FROM tasks WHERE chat_id = $1"
            " AND (status IN ('queued', 'running', 'cancelling') OR id = ANY($2::uuid[]))"
            " ORDER BY created_at",
            chat_id,
            list(known),
        )
        for row in rows:
            self.subscriber.offer(CatchUp(row["id"], known.get(row["id"], 0)))

    async def unsubscribe(self, message: dict[str, Any]) -> None:
        hub, keys = self.app[HUB], self.app[KEYS]
        if "task_id" in message:
            task_id = _uuid(message, "task_id")
            await hub.unsubscribe(self.subscriber, keys.task_stream(task_id))
            self.subscriber.offer(Notice({"type": "unsubscribed", "task_id": str(task_id)}))
        else:
            chat_id = _uuid(message, "chat_id")
            await hub.unsubscribe(self.subscriber, keys.chat_stream(chat_id))
            self.subscriber.offer(Notice({"type": "unsubscribed", "chat_id": str(chat_id)}))


def _error(error: JarvisError) -> dict[str, Any]:
    return {"type": "error", **error.to_json()}


@routes.get("/v1/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    if not origin_allowed(request):
        raise web.HTTPForbidden(reason="origin not allowed")
    user_id = await authenticate(request)
    check_handshake_headers(request)
    settings = request.app[SETTINGS]
    ws = web.WebSocketResponse(
        heartbeat=settings.ws_heartbeat, max_msg_size=MAX_FRAME_BYTES, compress=False
    )
    await ws.prepare(request)
    open_sockets = request.app[METRICS].websockets
    open_sockets.inc()

    async def send(item: TaskEvent | dict[str, Any]) -> None:
        body = {"type": "event", "event": item.to_json()} if isinstance(item, TaskEvent) else item
        await ws.send_str(json.dumps(body, separators=(",", ":")))

    async def too_slow() -> None:
        await ws.close(code=CLOSE_TOO_SLOW, message=b"too slow: event queue full")

    async def going_away() -> None:
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    hub = request.app[HUB]
    subscriber = Subscriber(
        send=send, on_slow=too_slow, pool=request.app[DB], on_shutdown=going_away
    )
    hub.start_writer(subscriber)
    session = Session(request, user_id, subscriber)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await session.handle(message.data)
            elif message.type == WSMsgType.BINARY:
                subscriber.offer(Notice(_error(ValidationFailed("send JSON text frames"))))
    finally:
        open_sockets.dec()
        await hub.remove(subscriber)
    return ws
