"""GET /healthz (the process is alive) and GET /readyz (it can do its work)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.gateway.keys import DB, REDIS
from shared.schema import missing_migrations

routes = web.RouteTableDef()
CHECK_TIMEOUT = 2.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _check_postgres(request: web.Request) -> str | None:
    missing = await missing_migrations(request.app[DB])
    return f"schema is missing migrations: {', '.join(missing)}" if missing else None


async def _check_redis(request: web.Request) -> str | None:
    await request.app[REDIS].ping()
    return None


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """200 when PostgreSQL and Redis answer and the schema is current; 503 says what is wrong."""
    checks: dict[str, str] = {}
    for name, check in (("postgres", _check_postgres), ("redis", _check_redis)):
        try:
            problem = await asyncio.wait_for(check(request), CHECK_TIMEOUT)
        except Exception as error:  # any failure of a dependency means "not ready"
            problem = f"unreachable: {type(error).__name__}: {error}".rstrip(": ")
        checks[name] = problem or "ok"
    ready = all(value == "ok" for value in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
