"""With PostgreSQL or Redis down, the API answers 503 in the one error shape, never 500
(services/gateway/middleware.py): an outage is for the client to wait out, not a bug.

Redis "down" is a port nobody listens on; PostgreSQL goes down behind a TCP proxy that the test
closes, dropping the gateway's open connections and refusing new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.app import create_app
from shared.config import load_settings
from shared.embedded import free_port
from tests.fixtures.api import Api, Reply, assert_error


class TcpProxy:
    """Forwards connections to a server until `stop`, which closes every one of them."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def gateway(database_url: str, redis_url: str, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    settings = load_settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"jarvis-outage-{uuid.uuid4().hex[:8]}:",
        rate_limit=0,
    )
    async with TestClient(TestServer(create_app(settings, dispatcher=False))) as client:
        yield Api(client, pool)


@pytest.fixture
async def api_without_redis(database_url: str, db_pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async for api in gateway(database_url, f"redis://127.0.0.1:{free_port()}/0", db_pool):
        yield api


@pytest.fixture
async def postgres_proxy(database_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    parts = urlsplit(database_url)
    assert parts.hostname and parts.port
    proxy = TcpProxy(parts.hostname, parts.port)
    port = await proxy.start()
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    yield proxy, urlunsplit(parts._replace(netloc=netloc))
    with contextlib.suppress(Exception):
        await proxy.stop()


def assert_unavailable(reply: Reply, names: str) -> None:
    error = assert_error(reply, 503, "unavailable")
    assert names in error["message"], error


async def test_without_redis_tickets_are_503(api_without_redis: Api) -> None:
    api = api_without_redis
    alice = await api.user("alice")
    assert_unavailable(await api.request("POST", "/v1/ws-tickets", alice), "Redis")
    # The handshake of a browser's socket needs its ticket redeemed in Redis.
    assert_unavailable(await api.request("GET", "/v1/ws", params={"ticket": "abc"}), "Redis")


async def test_without_redis_the_rest_of_the_api_works(api_without_redis: Api) -> None:
    """PostgreSQL is the truth: everything but tickets and readiness goes on without Redis."""
    api = api_without_redis
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    task = await api.post_message(alice, chat["id"])
    task_path = f"/v1/tasks/{task['task_id']}"
    document = await api.add_document(alice)
    calls: list[tuple[str, str, int]] = [
        ("GET", "/v1/me", 200),
        ("GET", "/v1/chats", 200),
        ("GET", f"/v1/chats/{chat['id']}/messages", 200),
        ("GET", f"/v1/chats/{chat['id']}/tasks", 200),
        ("GET", task_path, 200),
        ("POST", f"{task_path}/cancel", 200),
        ("GET", f"{task_path}/events", 200),
        ("GET", f"{task_path}/stream", 200),  # cancelled: its events, then the response ends
        ("GET", f"/v1/documents/{document['id']}", 200),
        ("GET", "/metrics", 200),
        ("GET", "/readyz", 503),
        ("DELETE", f"/v1/chats/{chat['id']}", 204),
    ]
    for method, path, status in calls:
        reply = await asyncio.wait_for(api.request(method, path, alice), 30)
        assert reply.status == status, (method, path, reply.text)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/me", None),
        ("POST", "/v1/chats", {"title": "x"}),
        ("GET", "/v1/chats", None),
        ("GET", "/v1/documents", None),
        ("POST", "/v1/ws-tickets", None),
        ("GET", "/v1/ws", None),
    ],
)
async def test_without_postgres_requests_are_503(
    postgres_proxy: tuple[TcpProxy, str],
    redis_url: str,
    db_pool: asyncpg.Pool,
    method: str,
    path: str,
    body: Any,
) -> None:
    proxy, proxied_url = postgres_proxy
    async for api in gateway(proxied_url, redis_url, db_pool):
        alice = await api.user("alice")  # straight into PostgreSQL, not through the proxy
        assert (await api.request("GET", "/v1/me", alice)).status == 200
        await proxy.stop()
        reply = await asyncio.wait_for(api.request(method, path, alice, json=body), 30)
        assert_unavailable(reply, "")
        # Readiness says which one is down; liveness is still fine.
        ready = await api.request("GET", "/readyz")
        assert ready.status == 503 and ready.body["checks"]["postgres"] != "ok", ready.text
        assert (await api.request("GET", "/healthz")).status == 200
        # Monitoring goes on: the last task counts, and the requests that failed.
        metrics = await api.request("GET", "/metrics")
        assert metrics.status == 200 and 'status="503"' in metrics.text, metrics.text


async def test_a_socket_says_so_when_postgres_goes_away(
    postgres_proxy: tuple[TcpProxy, str], redis_url: str, db_pool: asyncpg.Pool
) -> None:
    proxy, proxied_url = postgres_proxy
    async for api in gateway(proxied_url, redis_url, db_pool):
        alice = await api.user("alice")
        async with api.client.ws_connect("/v1/ws", headers=alice.headers) as ws:
            await ws.send_json({"type": "ping"})
            assert (await ws.receive_json(timeout=10)) == {"type": "pong"}
            await proxy.stop()
            await ws.send_json({"type": "subscribe", "task_id": str(uuid.uuid4())})
            frame = await ws.receive_json(timeout=30)
            assert frame["type"] == "error" and frame["error"]["code"] == "unavailable", frame
            await ws.send_json({"type": "ping"})  # the socket is still open
            assert (await ws.receive_json(timeout=10)) == {"type": "pong"}
