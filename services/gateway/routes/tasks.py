"""Tasks: GET /v1/tasks/{id}, GET /v1/tasks/{id}/events?after_seq=N, POST /v1/tasks/{id}/cancel."""

from __future__ import annotations

from aiohttp import web

from services.gateway.cancellation import request_cancel
from services.gateway.keys import DB, KEYS, REDIS, USER
from services.gateway.pagination import decode_cursor, encode_cursor
from services.gateway.parsing import path_id, query_int
from services.gateway.routes.chats import owned_chat_id
from services.gateway.views import task_view
from shared.errors import NotFound, ValidationFailed
from shared.event_log import read_events_after
from shared.recorder import TaskRecorder
from shared.tasks import TASK_COLUMNS, Task, TaskStatus, load_user_task

routes = web.RouteTableDef()
MAX_SEQ = 2**62


async def owned_task(request: web.Request) -> Task:
    task_id = path_id(request, "task_id", "task")
    task = await load_user_task(request.app[DB], task_id, request[USER].id)
    if task is None:
        raise NotFound(f"no task {task_id}")
    return task


async def render_task(request: web.Request, task: Task) -> web.Response:
    steps = await request.app[DB].fetch(
        "SELECT step_index, status, output FROM task_steps WHERE task_id = $1", task.id
    )
    return web.json_response(task_view(task, steps))


@routes.get("/v1/tasks/{task_id}")
async def get_task(request: web.Request) -> web.Response:
    return await render_task(request, await owned_task(request))


@routes.get("/v1/tasks/{task_id}/events")
async def get_events(request: web.Request) -> web.Response:
    task = await owned_task(request)
    after = query_int(request, "after_seq", 0, 0, MAX_SEQ)
    limit = query_int(request, "limit", 500, 1, 1000)
    events = await read_events_after(request.app[DB], task.id, after, limit)
    return web.json_response(
        {
            "events": [e.to_json() for e in events],
            "next_after_seq": events[-1].seq if events else after,
        }
    )


@routes.post("/v1/tasks/{task_id}/cancel")
async def cancel_task(request: web.Request) -> web.Response:
    task = await owned_task(request)
    app = request.app
    recorder = TaskRecorder(app[DB], app[REDIS], app[KEYS], task.id)
    updated = await request_cancel(recorder, app[REDIS])
    return await render_task(request, updated)


@routes.get("/v1/chats/{chat_id}/tasks")
async def list_chat_tasks(request: web.Request) -> web.Response:
    """A chat's tasks, newest first; `status` filters (queued, running, cancelling, succeeded,
    failed, cancelled)."""
    chat_id = await owned_chat_id(request)
    limit = query_int(request, "limit", 20, 1, 100)
    status = request.query.get("status")
    if status is not None and status not in TaskStatus.__members__.values():
        raise ValidationFailed(
            "status must be one of " + ", ".join(s.value for s in TaskStatus),
            details=[{"field": "status", "message": "unknown status"}],
        )
    cursor = decode_cursor(request)
    rows = await request.app[DB].fetch(
        f"""
        SELECT {TASK_COLUMNS} FROM tasks
        WHERE chat_id = $1 AND ($2::text IS NULL OR status = $2)
          AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
        ORDER BY created_at DESC, id DESC LIMIT $5
        """,
        chat_id,
        status,
        cursor[0] if cursor else None,
        cursor[1] if cursor else None,
        limit + 1,
    )
    more = len(rows) > limit
    tasks = [Task.from_row(row) for row in rows[:limit]]
    steps = await request.app[DB].fetch(
        "SELECT task_id, step_index, status, output FROM task_steps WHERE task_id = ANY($1)",
        [task.id for task in tasks],
    )
    by_task: dict[object, list[object]] = {}
    for row in steps:
        by_task.setdefault(row["task_id"], []).append(row)
    next_cursor = encode_cursor(tasks[-1].created_at, tasks[-1].id) if more else None
    return web.json_response(
        {
            "tasks": [task_view(task, by_task.get(task.id, [])) for task in tasks],  # type: ignore[arg-type]
            "next_cursor": next_cursor,
        }
    )
