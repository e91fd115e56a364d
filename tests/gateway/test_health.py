"""GET /healthz and GET /readyz of the gateway, against real PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp.test_utils import TestClient, TestServer

from services.gateway.app import create_app
from shared.config import load_settings
from shared.embedded import free_port


@asynccontextmanager
async def gateway(database_url: str, redis_url: str) -> AsyncIterator[TestClient]:
    settings = load_settings(database_url=database_url, redis_url=redis_url)
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def test_ready_when_everything_answers(database_url: str, redis_url: str) -> None:
    async with gateway(database_url, redis_url) as client:
        health = await client.get("/healthz")
        assert health.status == 200
        assert await health.json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status == 200
        assert await ready.json() == {
            "status": "ready",
            "checks": {"postgres": "ok", "redis": "ok"},
        }


async def test_not_ready_on_an_unmigrated_database(fresh_database_url: str, redis_url: str) -> None:
    async with gateway(fresh_database_url, redis_url) as client:
        ready = await client.get("/readyz")
        assert ready.status == 503
        body = await ready.json()
        assert body["status"] == "unavailable"
        assert "0001_initial" in body["checks"]["postgres"]
        assert body["checks"]["redis"] == "ok"
        # Alive all the same.
        assert (await client.get("/healthz")).status == 200


async def test_not_ready_when_redis_is_down(database_url: str) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    async with gateway(database_url, dead_redis) as client:
        ready = await client.get("/readyz")
        assert ready.status == 503
        body = await ready.json()
        assert body["checks"]["postgres"] == "ok"
        assert body["checks"]["redis"].startswith("unreachable")
