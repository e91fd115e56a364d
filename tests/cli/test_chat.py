"""`jarvis chat` against a real stack: the plan and answer, --json events, exit codes,
an interactive session, and Ctrl-C offering to cancel."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass

from tests.fixtures.polling import async_wait_for
from tests.fixtures.processes import REPO, jarvis_env


def chat_env(stack, **extra: str) -> dict[str, str]:
    return jarvis_env(JARVIS_URL=stack.base_url, JARVIS_TOKEN=stack.token, **extra)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


async def start_chat(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "chat",
        *args,
        env=env,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, stdin: str = "") -> Result:
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def run_chat(env: dict[str, str], *args: str, stdin: str = "") -> Result:
    return await finish(await start_chat(env, *args), stdin)


async def test_a_task_shows_its_plan_and_answer(make_stack) -> None:
    stack = await make_stack()
    result = await run_chat(chat_env(stack), "Research PostgreSQL advisory locks and summarise")
    assert result.returncode == 0, result.stderr
    assert "Task: succeeded" in result.stdout
    assert "✔" in result.stdout  # the plan's steps, ticked
    assert "offline model" in result.stdout  # the answer


async def test_json_prints_every_event_in_order(make_stack) -> None:
    stack = await make_stack()
    result = await run_chat(chat_env(stack), "--json", "hello there")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "task.succeeded"
    assert events[-1]["data"]["stop_reason"] == "not_actionable"
    assert "message.created" in [e["type"] for e in events]


async def test_a_cancelled_task_exits_non_zero(make_stack) -> None:
    stack = await make_stack(OFFLINE_LATENCY="0.3")
    process = await start_chat(chat_env(stack), "--json", "Compare Redis and PostgreSQL queues")

    async def running_task() -> str | None:
        rows = await stack.pool.fetch(
            "SELECT id FROM tasks WHERE user_id = $1 AND status = 'running'", stack.user_id
        )
        return str(rows[0]["id"]) if rows else None

    task_id = await async_wait_for(running_task, within=30, what="a running task")
    await stack.cancel(task_id)
    result = await finish(process)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["type"] == "task.cancelled"


async def test_a_failed_task_exits_non_zero(make_stack) -> None:
    # One tool call per task: the plan's first search uses it up, so the task fails.
    stack = await make_stack(BUDGET_TOOL_CALLS="1")
    result = await run_chat(chat_env(stack), "--json", "Research PostgreSQL advisory locks")
    assert result.returncode == 1, result.stderr
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["type"] == "task.failed"
    assert final["data"]["stop_reason"] == "budget_exceeded"

    # Shown as such on the terminal too, with the same exit code.
    result = await run_chat(chat_env(stack), "Research PostgreSQL advisory locks")
    assert result.returncode == 1, result.stderr
    assert "Task: failed" in result.stdout
    assert "task.failed" in result.stdout


async def test_interactive_session_keeps_one_chat(make_stack) -> None:
    stack = await make_stack()
    result = await run_chat(chat_env(stack), stdin="hello\nthanks\n\n")
    assert result.returncode == 0, result.stderr
    chats = await stack.pool.fetch("SELECT id FROM chats WHERE user_id = $1", stack.user_id)
    assert len(chats) == 1
    roles = [
        row["role"]
        for row in await stack.pool.fetch(
            "SELECT role FROM messages WHERE chat_id = $1 ORDER BY created_at", chats[0]["id"]
        )
    ]
    assert roles == ["user", "assistant", "user", "assistant"]


async def test_ctrl_c_offers_to_cancel(make_stack) -> None:
    stack = await make_stack(OFFLINE_LATENCY="0.5")
    process = await start_chat(chat_env(stack), "--json", "Compare Redis and PostgreSQL queues")

    async def started() -> bool:
        return bool(
            await stack.pool.fetchval(
                "SELECT count(*) FROM tasks WHERE user_id = $1 AND status = 'running'",
                stack.user_id,
            )
        )

    await async_wait_for(started, within=30, what="the task to start")
    process.send_signal(signal.SIGINT)
    result = await finish(process, "y\n")
    assert "Cancel the task?" in result.stderr
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["type"] == "task.cancelled"


async def test_no_token_is_a_usage_error() -> None:
    result = await run_chat(jarvis_env(JARVIS_URL="http://127.0.0.1:9"), "hi")
    assert result.returncode == 2
    assert "JARVIS_TOKEN" in result.stdout + result.stderr
