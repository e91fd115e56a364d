"""Server-sent events for one task: GET /v1/tasks/{task_id}/stream, resumable with the
standard Last-Event-ID header (or ?after_seq=N). The response ends after the final event."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from services.gateway.hub import CatchUp, Subscriber
from services.gateway.keys import DB, HUB, KEYS
from services.gateway.parsing import query_int
from services.gateway.routes.tasks import owned_task
from shared.errors import ValidationFailed
from shared.events import TaskEvent, parse_event_id

routes = web.RouteTableDef()
KEEPALIVE_SECONDS = 15.0


@routes.get("/v1/tasks/{task_id}/stream")
async def task_stream(request: web.Request) -> web.StreamResponse:
    task = await owned_task(request)
    after = query_int(request, "after_seq", 0, 0, 2**62)
    if last_event_id := request.headers.get("Last-Event-ID"):
        try:
            after = parse_event_id(last_event_id)[1]
        except ValueError:
            raise ValidationFailed("Last-Event-ID must look like '<task_id>:<seq>'") from None
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    finished = asyncio.Event()

    async def send(item: TaskEvent | dict[str, Any]) -> None:
        if not isinstance(item, TaskEvent):
            return
        data = json.dumps(item.to_json(), separators=(",", ":"))
        await response.write(f"id: {item.id}\nevent: {item.type}\ndata: {data}\n\n".encode())
        if item.final:
            finished.set()

    async def too_slow() -> None:
        finished.set()

    hub = request.app[HUB]
    subscriber = Subscriber(send=send, on_slow=too_slow, pool=request.app[DB])
    hub.start_writer(subscriber)
    try:
        await hub.subscribe(
            subscriber, request.app[KEYS].task_stream(task.id), f"{task.last_seq}-0"
        )
        subscriber.offer(CatchUp(task.id, after))
        while not finished.is_set():
            try:
                await asyncio.wait_for(finished.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
    finally:
        await hub.remove(subscriber)
    return response
