"""The OpenAPI 3 document served at GET /v1/openapi.json.

Request schemas are the very pydantic models the handlers validate with; response schemas are
models written to match the views (views.py, routes/*). tests/gateway/test_schemathesis.py runs
schemathesis against this document to keep the two in step.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from services.gateway.pagination import CURSOR_PATTERN
from services.gateway.routes.chats import ChatUpdate, NewChat, NewMessage
from services.gateway.routes.documents import NewDocument
from services.gateway.routes.stream import EVENT_ID_PATTERN
from shared.events import EventType

# --- response shapes --------------------------------------------------------------------------

Id = str


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Me(BaseModel):
    id: Id
    name: str


class Chat(BaseModel):
    id: Id
    title: str
    created_at: str
    updated_at: str


class ChatList(BaseModel):
    chats: list[Chat]
    next_cursor: str | None


class Message(BaseModel):
    id: Id
    chat_id: Id
    task_id: Id | None
    role: Literal["user", "assistant"]
    content: str
    created_at: str


class MessageList(BaseModel):
    messages: list[Message]
    next_cursor: str | None


class TaskLinks(BaseModel):
    task: str
    events: str
    cancel: str


class Submission(BaseModel):
    task_id: Id
    message_id: Id
    chat_id: Id
    status: Literal["queued"]
    links: TaskLinks


class PlanStepState(BaseModel):
    index: int
    title: str
    action: str
    tool: str | None
    expected_output: str
    status: Literal["pending", "running", "completed", "failed", "skipped", "cancelled"]
    output: str | None


class PlanView(BaseModel):
    goal: str | None
    steps: list[PlanStepState]


class Task(BaseModel):
    id: Id
    chat_id: Id
    status: Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]
    phase: Literal["triage", "planning", "executing"] | None
    stop_reason: (
        Literal[
            "completed",
            "not_actionable",
            "user_cancelled",
            "budget_exceeded",
            "max_retries",
            "error",
        ]
        | None
    )
    plan: PlanView | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    usage: dict[str, Any]
    model: str | None
    attempt: int
    last_seq: int
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    links: TaskLinks


class TaskList(BaseModel):
    tasks: list[Task]
    next_cursor: str | None


class Event(BaseModel):
    id: str = Field(description='"{task_id}:{seq}": hand it back to resume after this event')
    task_id: Id
    chat_id: Id
    seq: int
    type: EventType
    ts: str
    attempt: int
    data: dict[str, Any]


class EventList(BaseModel):
    events: list[Event]
    next_after_seq: int


class Document(BaseModel):
    id: Id
    title: str
    source: str | None
    shared: bool
    chars: int
    created_at: str


class DocumentDetail(Document):
    body: str


class DocumentList(BaseModel):
    documents: list[Document]
    next_cursor: str | None


class Ticket(BaseModel):
    ticket: str
    expires_in: int


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


# --- the document -----------------------------------------------------------------------------

_MODELS: list[type[BaseModel]] = [
    ErrorBody,
    Me,
    Chat,
    ChatList,
    Message,
    MessageList,
    Submission,
    Task,
    TaskList,
    Event,
    EventList,
    Document,
    DocumentDetail,
    DocumentList,
    Ticket,
    Health,
    Ready,
    NewChat,
    ChatUpdate,
    NewMessage,
    NewDocument,
]

_ERRORS = {
    400: "Malformed request (e.g. JSON that does not parse)",
    401: "Missing, invalid or revoked token",
    404: "No such resource (another user's resources are not found either)",
    413: "Request body too large",
    422: "A field or parameter is invalid; details name it",
    429: "Too many requests for this token; see Retry-After",
    503: "PostgreSQL or Redis is unavailable; try again shortly",
}

# Every 429 says when to try again.
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the token's count starts again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _path_param(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id",
        "schema": {"type": "string", "format": "uuid"},
    }


def _query_int(name: str, low: int, high: int, default: int, text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": text,
        "schema": {"type": "integer", "minimum": low, "maximum": high, "default": default},
    }


# One server-sent event: `id` is the event's id, `event` its type, `data` its JSON envelope.
SSE_FRAME = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "event": {"type": "string"},
        "data": {"type": "string"},
    },
}

_CURSOR = {
    "name": "cursor",
    "in": "query",
    "required": False,
    "description": "next_cursor from the previous page",
    "schema": {"type": "string", "pattern": CURSOR_PATTERN},
}


def _operation(
    summary: str,
    ok: tuple[int, dict[str, Any]],
    *,
    errors: tuple[int, ...] = (),
    params: list[dict[str, Any]] | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    public: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    statuses = set(errors) | ({401, 429, 503} if not public else set())
    if body is not None:
        statuses |= {400, 413, 422}
    responses: dict[str, Any] = {str(ok[0]): ok[1]}
    for status in sorted(statuses):
        responses[str(status)] = _json(ErrorBody, _ERRORS[status])
    if 429 in statuses:
        responses["429"]["headers"] = _RETRY_AFTER
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if public:
        op["security"] = []
    return op | (extra or {})


def _websocket() -> dict[str, Any]:
    """GET /v1/ws: not a request and response but an upgrade to a WebSocket; the frames it
    carries are described in the README ("Events and the live feed") and routes/ws.py."""

    def header(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "header",
            "required": True,
            "description": text,
            "schema": schema,
        }

    return {
        "summary": "The live feed: a WebSocket of task events (JSON text frames)",
        "description": "Authenticate with `Authorization: Bearer <token>`, or from a browser"
        " with `?ticket=` from POST /v1/ws-tickets; a browser's Origin must be the gateway's"
        " own or in JARVIS_ALLOWED_ORIGINS. Then send `subscribe`, `unsubscribe` and `ping`"
        " frames; the server sends `event`, `subscribed`, `unsubscribed`, `pong` and `error`"
        " frames. Close codes: 4008 too slow to keep up, 1001 the gateway is stopping, 1009 a"
        " frame over 64 KiB.",
        "security": [{"bearer": []}, {"ticket": []}],
        "parameters": [
            header("Upgrade", {"type": "string", "enum": ["websocket"]}, "The upgrade asked for"),
            header(
                "Connection",
                {"type": "string", "pattern": "[Uu][Pp][Gg][Rr][Aa][Dd][Ee]"},
                "Names Upgrade (browsers may add keep-alive)",
            ),
            header(
                "Sec-WebSocket-Key",
                {"type": "string", "pattern": "^[A-Za-z0-9+/]{22}==$"},
                "16 random bytes in base64 (RFC 6455)",
            ),
            header("Sec-WebSocket-Version", {"type": "string", "enum": ["13"]}, "RFC 6455"),
        ],
        "responses": {
            "101": {"description": "Switching protocols: the socket is open"},
            "400": _json(ErrorBody, "Not a WebSocket handshake"),
            "401": _json(
                ErrorBody,
                "Missing, invalid or revoked token; or an unknown, used or expired ticket",
            ),
            "403": _json(ErrorBody, "The page's Origin is not allowed"),
            "503": _json(ErrorBody, _ERRORS[503]),
        },
    }


def build_openapi() -> dict[str, Any]:
    chat, task, doc = (
        _path_param("chat_id", "chat"),
        _path_param("task_id", "task"),
        _path_param("document_id", "document"),
    )
    no_content = {"description": "Done; no body"}
    schemas: dict[str, Any] = {}
    for model in _MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Retrying with the same key and body returns the first response",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    }
    status_filter = {
        "name": "status",
        "in": "query",
        "required": False,
        "description": "Only tasks in it",
        "schema": {
            "type": "string",
            "enum": ["queued", "running", "cancelling", "succeeded", "failed", "cancelled"],
        },
    }
    upload = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "additionalProperties": False,
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "minLength": 1,
                        "description": "UTF-8 text, Markdown or HTML (a .html or .htm file name);"
                        " other bytes are replaced. 422 if it holds no text (only whitespace,"
                        " or HTML without visible text) or more than 200,000 characters",
                    }
                },
            }
        }
    }
    paths: dict[str, Any] = {
        "/healthz": {"get": _operation("Alive", (200, _json(Health, "Alive")), public=True)},
        "/readyz": {
            "get": _operation(
                "Ready: PostgreSQL, Redis and the schema",
                (200, _json(Ready, "Ready")),
                public=True,
                extra={
                    "responses": {
                        "200": _json(Ready, "Ready"),
                        "503": _json(Ready, "Not ready; checks say why"),
                    }
                },
            )
        },
        "/v1/openapi.json": {
            "get": _operation(
                "This document",
                (
                    200,
                    {
                        "description": "The OpenAPI document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                ),
                public=True,
            )
        },
        "/v1/me": {"get": _operation("The token's user", (200, _json(Me, "The user")))},
        "/v1/chats": {
            "post": _operation(
                "Create a chat", (201, _json(Chat, "Created")), body=NewChat, body_required=False
            ),
            "get": _operation(
                "List chats, newest first",
                (200, _json(ChatList, "A page of chats")),
                errors=(422,),
                params=[_query_int("limit", 1, 100, 20, "Page size"), _CURSOR],
            ),
        },
        "/v1/chats/{chat_id}": {
            "get": _operation(
                "Get a chat", (200, _json(Chat, "The chat")), errors=(404,), params=[chat]
            ),
            "patch": _operation(
                "Rename a chat",
                (200, _json(Chat, "Renamed")),
                errors=(404,),
                params=[chat],
                body=ChatUpdate,
            ),
            "delete": _operation(
                "Delete a chat with its messages, tasks and events",
                (204, no_content),
                errors=(404,),
                params=[chat],
            ),
        },
        "/v1/chats/{chat_id}/messages": {
            "post": _operation(
                "Post a message; it becomes a task",
                (202, _json(Submission, "Accepted: the task is queued")),
                errors=(404,),
                params=[chat, idempotency],
                body=NewMessage,
            ),
            "get": _operation(
                "List a chat's messages, oldest first",
                (200, _json(MessageList, "A page of messages")),
                errors=(404, 422),
                params=[chat, _query_int("limit", 1, 200, 50, "Page size"), _CURSOR],
            ),
        },
        "/v1/chats/{chat_id}/tasks": {
            "get": _operation(
                "List a chat's tasks, newest first",
                (200, _json(TaskList, "A page of tasks")),
                errors=(404, 422),
                params=[chat, status_filter, _query_int("limit", 1, 100, 20, "Page size"), _CURSOR],
            )
        },
        "/v1/tasks/{task_id}": {
            "get": _operation(
                "Get a task", (200, _json(Task, "The task")), errors=(404,), params=[task]
            )
        },
        "/v1/tasks/{task_id}/events": {
            "get": _operation(
                "A task's events after a sequence number, from the durable log",
                (200, _json(EventList, "Events in order")),
                errors=(404, 422),
                params=[
                    task,
                    _query_int("after_seq", 0, 2**62, 0, "Only events after this seq"),
                    _query_int("limit", 1, 1000, 500, "At most this many"),
                ],
            )
        },
        "/v1/tasks/{task_id}/cancel": {
            "post": _operation(
                "Cancel a task (repeating it is harmless)",
                (200, _json(Task, "The task after the request")),
                errors=(404,),
                params=[task],
            )
        },
        "/v1/tasks/{task_id}/stream": {
            "get": _operation(
                "The task's events as server-sent events; ends after the final event",
                (
                    200,
                    {
                        "description": "text/event-stream of `id`, `event`, `data` frames",
                        "content": {"text/event-stream": {"schema": SSE_FRAME}},
                    },
                ),
                errors=(404, 422),
                params=[
                    task,
                    _query_int("after_seq", 0, 2**62, 0, "Only events after this seq"),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "description": "Resume after this event id",
                        "schema": {"type": "string", "pattern": EVENT_ID_PATTERN},
                    },
                ],
            )
        },
        "/v1/ws-tickets": {
            "post": _operation(
                "A single-use, 60-second ticket to open /v1/ws from a browser",
                (201, _json(Ticket, "The ticket")),
            )
        },
        "/v1/ws": {"get": _websocket()},
        "/metrics": {
            "get": _operation(
                "Prometheus metrics: requests by route and status, latency, open WebSockets,"
                " tasks by status, queue depth",
                (
                    200,
                    {
                        "description": "Prometheus text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                ),
                public=True,
            )
        },
        "/v1/documents": {
            "post": _operation(
                "Add a document to the knowledge base (JSON, or a multipart file upload)",
                (201, _json(Document, "Added")),
                body=NewDocument,
            ),
            "get": _operation(
                "List your documents and the shared ones, newest first",
                (200, _json(DocumentList, "A page of documents")),
                errors=(422,),
                params=[_query_int("limit", 1, 200, 50, "Page size"), _CURSOR],
            ),
        },
        "/v1/documents/{document_id}": {
            "get": _operation(
                "Get a document",
                (200, _json(DocumentDetail, "The document")),
                errors=(404,),
                params=[doc],
            ),
            "delete": _operation(
                "Delete one of your documents",
                (204, no_content),
                errors=(404,),
                params=[doc],
                extra={},
            ),
        },
    }
    paths["/v1/documents"]["post"]["requestBody"]["content"].update(upload)
    delete_doc = paths["/v1/documents/{document_id}"]["delete"]["responses"]
    delete_doc["403"] = _json(ErrorBody, "A shared document; manage it with `jarvis docs`")
    paths["/v1/tasks/{task_id}/stream"]["get"]["responses"]["204"] = {
        "description": "The task has ended and the client has its final event: nothing more"
        " will come (204 tells an EventSource to stop reconnecting)"
    }
    # The new task's operations, as `links` in the body also say (clients and fuzzers follow them).
    paths["/v1/chats/{chat_id}/messages"]["post"]["responses"]["202"]["links"] = {
        name: {
            "operationRef": "#/paths/" + path.replace("/", "~1") + "/" + method,
            "parameters": {"task_id": "$response.body#/task_id"},
        }
        for name, path, method in (
            ("task", "/v1/tasks/{task_id}", "get"),
            ("events", "/v1/tasks/{task_id}/events", "get"),
            ("stream", "/v1/tasks/{task_id}/stream", "get"),
            ("cancel", "/v1/tasks/{task_id}/cancel", "post"),
        )
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Jarvis API",
            "version": "1",
            "description": "Agentic AI tasks behind a chat. Live progress: WebSocket /v1/ws "
            "(see the README) or server-sent events.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                # Only for GET /v1/ws: a browser cannot set a WebSocket's Authorization header.
                "ticket": {"type": "apiKey", "in": "query", "name": "ticket"},
            },
        },
        "security": [{"bearer": []}],
    }
