"""Schemathesis against the gateway's own OpenAPI document (GET /v1/openapi.json).

A real `jarvis gateway` process and the `st` CLI, with every check, a fixed seed and two users
(Web Fuzzing Commons auth with both as `peers`, so object_level_authorization replays one user's
reads as the other). It runs once as each user; both users' data coexist, so what one run learns
cannot leak into the other's requests. Afterwards, SQL shows that no row of user A's was changed
or deleted by the run authenticated as user B.

Known, intended answers that a schema cannot tell apart from errors are dropped one by one in
schemathesis_hooks.py (filter_failure); nothing else is turned off.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from services.gateway.openapi import build_openapi
from shared.auth import create_user
from shared.embedded import free_port
from tests.fixtures.polling import async_wait_for
from tests.fixtures.processes import REPO, RunningJarvis, jarvis_env

SEED = 20240611
MAX_EXAMPLES = 15
RUN_TIMEOUT = 150.0  # seconds one `st run` may take; it takes about 40
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# A queued task's event stream stays open (no workers run here): read it for a bounded time.
STREAM_OPERATION = "/v1/tasks/{task_id}/stream"
# An upgrade to a WebSocket, which schemathesis does not speak: a schema-valid handshake opens a
# socket its HTTP client would wait on. tests/gateway/test_ws.py tests the feed.
WEBSOCKET_OPERATION = "/v1/ws"


@dataclass(frozen=True)
class Gateway:
    url: str
    tokens: dict[str, str]  # user name -> bearer token
    user_ids: dict[str, uuid.UUID]


async def wait_until_answering(process: RunningJarvis, url: str) -> None:
    async def answering() -> bool:
        if process.process.poll() is not None:
            raise AssertionError("the gateway exited:\n" + process.output())
        try:
            async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await async_wait_for(answering, within=60, interval=0.1, what="the gateway to answer")


@pytest.fixture
async def gateway(
    database_url: str,
    redis_url: str,
    db_pool: asyncpg.Pool,
    tmp_path: Path,
    started: list[RunningJarvis],
) -> AsyncIterator[Gateway]:
    port = free_port()
    env = jarvis_env(
        JARVIS_DATABASE_URL=database_url,
        JARVIS_REDIS_URL=redis_url,
        JARVIS_DATA_DIR=str(tmp_path / "data"),
        JARVIS_PORT=str(port),
        JARVIS_RATE_LIMIT="0",
        JARVIS_REDIS_PREFIX=f"jarvis-st-{uuid.uuid4().hex[:8]}:",
        JARVIS_LOG_FORMAT="json",
    )
    process = RunningJarvis("gateway", env=env)
    started.append(process)  # killed at the end if still running
    url = f"http://127.0.0.1:{port}"
    await wait_until_answering(process, url)
    users = {name: await create_user(db_pool, name) for name in ("alice", "bob")}
    yield Gateway(
        url,
        tokens={name: token for name, (_, token) in users.items()},
        user_ids={name: user.id for name, (user, _) in users.items()},
    )
    await asyncio.to_thread(process.stop, signal.SIGTERM, 30)


def write_config(directory: Path, gateway: Gateway, user: str) -> Path:
    wfc = directory / "users.json"
    wfc.write_text(
        json.dumps(
            {
                "schemaVersion": "1.0",
                "auth": [
                    {
                        "name": name,
                        "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}],
                    }
                    for name, token in gateway.tokens.items()
                ],
            }
        )
    )
    config = directory / f"schemathesis-{user}.toml"
    config.write_text(
        f"""
hooks = {json.dumps(str(HOOKS))}
request-timeout = 20

[auth.wfc]
path = {json.dumps(str(wfc))}
user = {json.dumps(user)}
peers = {json.dumps(list(gateway.tokens))}

[[operations]]
include-path = "{STREAM_OPERATION}"
request-timeout = 2
max-stream-events = 2

[[operations]]
include-path = "{WEBSOCKET_OPERATION}"
enabled = false
"""
    )
    return config


async def run_schemathesis(directory: Path, gateway: Gateway, user: str) -> None:
    config = write_config(directory, gateway, user)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{gateway.url}/v1/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-database",
        "none",
        "--continue-on-failure",
        "--no-color",
    ]
    # The hooks import the gateway's limits, so the project must be importable.
    env = jarvis_env(PYTHONPATH=str(REPO), NO_COLOR="1")
    result = await asyncio.to_thread(
        subprocess.run,
        command,
        cwd=directory,  # st keeps nothing in the repository
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"schemathesis as {user} failed:\n{output[-20000:]}"
    # Every operation but GET /v1/openapi.json, which schemathesis leaves out as the document
    # it loaded, and the WebSocket, turned off above.
    total = sum(len(methods) for methods in build_openapi()["paths"].values()) - 1
    assert f"{total - 1} selected / {total} total" in output, output[-3000:]


async def add_data(gateway: Gateway, user: str) -> None:
    """One of everything, so user A has rows the other run must leave alone."""
    headers = {"Authorization": f"Bearer {gateway.tokens[user]}"}
    async with aiohttp.ClientSession(gateway.url, headers=headers) as session:
        async with session.post("/v1/chats", json={"title": "keep"}) as response:
            assert response.status == 201
            chat = await response.json()
        path = f"/v1/chats/{chat['id']}/messages"
        async with session.post(path, json={"content": "keep"}) as response:
            assert response.status == 202
            task_id = (await response.json())["task_id"]
        async with session.post(path, json={"content": "stays queued"}) as response:
            assert response.status == 202
        async with session.post(f"/v1/tasks/{task_id}/cancel") as response:
            assert response.status == 200
        document = {"title": "keep", "body": "kept", "source": "keep.md"}
        async with session.post("/v1/documents", json=document) as response:
            assert response.status == 201


async def rows_of(pool: asyncpg.Pool, user_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row the user owns, all columns, in a stable order."""
    queries = {
        "chats": "SELECT * FROM chats WHERE user_id = $1 ORDER BY id",
        "messages": "SELECT m.* FROM messages m JOIN chats c ON c.id = m.chat_id"
        " WHERE c.user_id = $1 ORDER BY m.id",
        "tasks": "SELECT * FROM tasks WHERE user_id = $1 ORDER BY id",
        "task_events": "SELECT e.* FROM task_events e JOIN tasks t ON t.id = e.task_id"
        " WHERE t.user_id = $1 ORDER BY e.task_id, e.seq",
        "documents": "SELECT id, user_id, title, body, source, created_at FROM documents"
        " WHERE user_id = $1 ORDER BY id",
    }
    return {
        name: [dict(row) for row in await pool.fetch(query, user_id)]
        for name, query in queries.items()
    }


@pytest.mark.timeout(2 * RUN_TIMEOUT + 60)
async def test_the_api_matches_its_openapi_document(
    gateway: Gateway, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    alice, bob = gateway.user_ids["alice"], gateway.user_ids["bob"]
    await run_schemathesis(tmp_path, gateway, "alice")
    await add_data(gateway, "alice")
    before = await rows_of(db_pool, alice)
    assert all(before.values()), {name: len(rows) for name, rows in before.items()}

    await run_schemathesis(tmp_path, gateway, "bob")

    assert await rows_of(db_pool, alice) == before
    # Bob's run did reach the API as bob.
    assert any((await rows_of(db_pool, bob)).values())
