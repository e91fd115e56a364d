"""Server-sent events for one task: GET /v1/tasks/{task_id}/stream, resumable with the
standard Last-Event-ID header (or ?after_seq=N). The response ends after the final event; asked
again after it, the answer is 204, which tells an EventSource to stop reconnecting."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from services.gateway.hub import CatchUp, Subscriber
from services.gateway.keys import DB, HUB, KEYS
from services.gateway.parsing import query_int
from services.gateway.routes.tasks import owned_task
from shared.errors import ValidationFailed
from shared.events import TaskEvent

routes = web.RouteTableDef()
KEEPALIVE_SECONDS = 15.0
# "{task_id}:{seq}", as the OpenAPI document publishes it; anything else is refused.
EVENT_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9]{1,18}$"
EVENT_ID = re.compile(EVENT_ID_PATTERN)


@routes.get("/v1/tasks/{task_id}/stream")
async def task_stream(request: web.Request) -> web.StreamResponse:
    task = await owned_task(request)
    after = query_int(request, "after_seq", 0, 0, 2**62)
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id is not None:
        if not EVENT_ID.fullmatch(last_event_id):
            raise ValidationFailed(
                "Last-Event-ID must look like '<task_id>:<seq>'",
                details=[{"field": "Last-Event-ID", "message": "not an event id"}],
            )
        after = int(last_event_id.rpartition(":")[2])
    if task.status.final and after >= task.last_seq:
        # The client has the final event. An EventSource reconnects whenever a response ends;
        # 204 is how SSE tells it to stop, where an open response would never end.
        return web.Response(status=204)
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

    async def going_away() -> None:
        finished.set()

    hub = request.app[HUB]
    subscriber = Subscriber(
        send=send, on_slow=too_slow, pool=request.app[DB], on_shutdown=going_away
    )
    hub.start_writer(subscriber)
    try:
        subscriber.resume_after(task.id, after)
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
