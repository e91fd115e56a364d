"""A benchmark client of the task API: posts messages and follows each task on a WebSocket.

Every moment is taken in this process with one clock (perf_counter): the POST sent, its 202,
the task's first event on the WebSocket, plan.created, and the final event. A few sockets carry
all the subscriptions (a task is unsubscribed once it has ended), as a client page would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

FINAL_TYPES = frozenset({"task.succeeded", "task.failed", "task.cancelled"})


@dataclass
class TaskTiming:
    """Seconds from the POST being sent to each moment (None: not seen)."""

    posted_at: float
    task_id: str | None = None
    accepted: float | None = None
    first_event: float | None = None
    plan_created: float | None = None
    final: float | None = None
    final_type: str | None = None
    events: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class TaskClient:
    """One HTTP session and `sockets` WebSockets to one gateway, as one user."""

    def __init__(self, base_url: str, token: str, *, sockets: int = 4) -> None:
        self.base_url = base_url
        self.token = token
        self.socket_count = sockets
        self.session: aiohttp.ClientSession | None = None
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.readers: list[asyncio.Task[None]] = []
        self.tracked: dict[str, TaskTiming] = {}
        self._next_socket = itertools.count()

    async def __aenter__(self) -> TaskClient:
        self.session = aiohttp.ClientSession(
            self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        for _ in range(self.socket_count):
            ws = await self.session.ws_connect("/v1/ws", autoping=True, max_msg_size=0)
            self.sockets.append(ws)
            self.readers.append(asyncio.create_task(self._read(ws)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        if self.session:
            await self.session.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.perf_counter()
            body = json.loads(message.data)
            if body.get("type") != "event":
                continue
            event = body["event"]
            timing = self.tracked.get(event["task_id"])
            if timing is None:
                continue
            timing.events += 1
            since = now - timing.posted_at
            if timing.first_event is None:
                timing.first_event = since
            kind = event["type"]
            if kind == "plan.created":
                timing.plan_created = since
            elif kind in FINAL_TYPES:
                timing.final = since
                timing.final_type = kind
                timing.done.set()
                del self.tracked[event["task_id"]]
                await ws.send_str(json.dumps({"type": "unsubscribe", "task_id": event["task_id"]}))

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert self.session
        async with self.session.post(path, json=body) as response:
            return response.status, await response.json()

    async def run_task(self, chat_id: str, content: str, *, within: float = 60.0) -> TaskTiming:
        """Post `content` to the chat and follow the task to its final event (or `within`)."""
        assert self.session
        timing = TaskTiming(posted_at=time.perf_counter())
        status, body = await self.post(f"/v1/chats/{chat_id}/messages", {"content": content})
        timing.accepted = time.perf_counter() - timing.posted_at
        if status != 202:
            raise RuntimeError(f"POST messages answered {status}: {body}")
        task_id = timing.task_id = body["task_id"]
        self.tracked[task_id] = timing
        ws = self.sockets[next(self._next_socket) % len(self.sockets)]
        await ws.send_str(json.dumps({"type": "subscribe", "task_id": task_id, "after_seq": 0}))
        try:
            await asyncio.wait_for(timing.done.wait(), within)
        except TimeoutError:
            self.tracked.pop(task_id, None)
        return timing
