"""`jarvis chat`: talk to a running gateway (JARVIS_URL, JARVIS_TOKEN) from the terminal.

`jarvis chat "message"` posts the message, shows the plan and its progress live, then prints the
answer; `jarvis chat` alone is an interactive session in one chat; `--json` prints the events as
JSON lines for scripts. The exit code is 0 when the task succeeded, 1 when it failed or was
cancelled, 2 on a usage or connection problem. Ctrl-C offers to cancel the running task.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.prompt import Confirm
from rich.text import Text

from shared.config import Settings

FINAL = {"task.succeeded", "task.failed", "task.cancelled"}
ICONS = {"pending": "○", "running": "◔", "done": "✔", "failed": "✖"}


class ChatError(Exception):
    """The gateway could not be reached or refused a request."""


@dataclass
class TaskView:
    """What the live display shows of one task, built from its events."""

    status: str = "queued"
    goal: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""
    final: dict[str, Any] | None = None
    last_seq: int = 0

    def apply(self, event: dict[str, Any]) -> None:
        if event["seq"] <= self.last_seq:
            return
        self.last_seq = event["seq"]
        kind, data = event["type"], event.get("data") or {}
        if kind == "plan.created":
            self.goal = data.get("goal", "")
            self.steps = [
                {"title": s["title"], "state": "pending", "notes": []} for s in data["steps"]
            ]
        elif kind in ("step.started", "step.completed", "step.failed"):
            index = data.get("step")
            if isinstance(index, int) and index < len(self.steps):
                state = {"step.started": "running", "step.completed": "done"}.get(kind, "failed")
                self.steps[index]["state"] = state
        elif kind == "progress":
            index = data.get("step")
            if isinstance(index, int) and index < len(self.steps):
                self.steps[index]["notes"].append(data.get("message", ""))
        elif kind == "triage.completed":
            self.status = "planning" if data.get("actionable") else "replying"
        elif kind == "task.started":
            self.status = "working"
        elif kind == "task.cancel_requested":
            self.status = "cancelling"
        elif kind == "message.created":
            self.answer = data.get("content", "")
        elif kind in FINAL:
            self.status = kind.removeprefix("task.")
            self.final = data

    def render(self) -> Group:
        lines: list[Any] = [Text(f"Task: {self.status}", style="bold")]
        if self.goal:
            lines.append(Text(self.goal, style="dim"))
        for step in self.steps:
            lines.append(Text(f" {ICONS[step['state']]} {step['title']}"))
            lines.extend(Text(f"     ↳ {note}", style="dim") for note in step["notes"][-3:])
        return Group(*lines)


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base.rstrip("/")

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            async with self.session.request(method, self.base + path, json=body) as response:
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ChatError(f"cannot reach {self.base}: {error}") from None
        if response.status >= 400:
            message = (data or {}).get("error", {}).get("message", f"HTTP {response.status}")
            raise ChatError(message)
        return data

    async def follow(self, task_id: str, on_event: Any) -> dict[str, Any]:
        """Call on_event for each of the task's events, in order, until the final one;
        reconnects after a dropped connection and resumes after the last seq seen."""
        last_seq = 0
        while True:
            try:
                async with self.session.ws_connect(self.base + "/v1/ws", heartbeat=30) as ws:
                    await ws.send_json(
                        {"type": "subscribe", "task_id": task_id, "after_seq": last_seq}
                    )
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            break
                        body = json.loads(message.data)
                        if body.get("type") == "error":
                            raise ChatError(body["error"]["message"])
                        if body.get("type") != "event" or body["event"]["seq"] <= last_seq:
                            continue
                        event = body["event"]
                        last_seq = event["seq"]
                        on_event(event)
                        if event["type"] in FINAL:
                            return event
            except (aiohttp.ClientError, TimeoutError):
                pass  # dropped: reconnect and resume after last_seq
            await asyncio.sleep(1.0)


async def send_message(
    client: Client, chat_id: str, content: str, *, as_json: bool, console: Console
) -> int:
    submitted = await client.call("POST", f"/v1/chats/{chat_id}/messages", {"content": content})
    task_id = submitted["task_id"]
    view = TaskView()
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)
    try:
        if as_json:
            follow = client.follow(task_id, lambda e: print(json.dumps(e), flush=True))
            final = await _with_cancel_offer(client, task_id, follow, interrupted, console)
        else:
            with Live(view.render(), console=console, refresh_per_second=8, transient=True) as live:

                def show(event: dict[str, Any]) -> None:
                    view.apply(event)
                    live.update(view.render())

                follow = client.follow(task_id, show)
                final = await _with_cancel_offer(
                    client, task_id, follow, interrupted, console, live
                )
            console.print(view.render())
            if view.answer:
                console.print(Markdown(view.answer))
            task = await client.call("GET", f"/v1/tasks/{task_id}")
            for source in (task.get("result") or {}).get("sources", []):
                console.print(f"  • {source.get('title')}: {source.get('url')}", style="cyan")
            error = (final.get("data") or {}).get("error")
            if error:
                console.print(f"{final['type']}: {error.get('message')}", style="red")
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    return 0 if final["type"] == "task.succeeded" else 1


async def _with_cancel_offer(
    client: Client,
    task_id: str,
    follow: Any,
    interrupted: asyncio.Event,
    console: Console,
    live: Live | None = None,
) -> dict[str, Any]:
    """Follow the task; on Ctrl-C ask whether to cancel it (a second Ctrl-C leaves at once)."""
    following = asyncio.ensure_future(follow)
    while True:
        waiter = asyncio.ensure_future(interrupted.wait())
        done, _ = await asyncio.wait({following, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if following in done:
            waiter.cancel()
            return following.result()
        interrupted.clear()
        if live:
            live.stop()
        answer = await asyncio.to_thread(Confirm.ask, "Cancel the task?", console=console)
        if answer:
            await client.call("POST", f"/v1/tasks/{task_id}/cancel")
        if live:
            live.start()


async def run_chat(
    settings: Settings, message: str | None, *, chat_id: str | None, as_json: bool
) -> int:
    console = Console(stderr=as_json)
    if not settings.token:
        console.print("set JARVIS_TOKEN to an API token (jarvis users create NAME prints one)")
        return 2
    headers = {"Authorization": f"Bearer {settings.token}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        client = Client(session, settings.url)
        try:
            if chat_id is None:
                title = (message or "Terminal chat")[:60]
                chat_id = (await client.call("POST", "/v1/chats", {"title": title}))["id"]
            if message is not None:
                return await send_message(
                    client, chat_id, message, as_json=as_json, console=console
                )
            code = 0
            console.print("Jarvis chat. An empty line or Ctrl-D leaves.", style="dim")
            while True:
                try:
                    line = await asyncio.to_thread(console.input, "[bold]you> [/bold]")
                except (EOFError, KeyboardInterrupt):
                    return code
                if not line.strip():
                    return code
                code = await send_message(client, chat_id, line, as_json=as_json, console=console)
        except ChatError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
