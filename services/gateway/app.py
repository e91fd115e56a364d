"""The gateway's aiohttp application. `create_app` opens nothing; resources open in cleanup_ctx."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.gateway.keys import DB, REDIS, SETTINGS
from services.gateway.routes import health
from shared.config import Settings
from shared.db import create_pool
from shared.redis_conn import create_redis


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.database_url
    app[DB] = await create_pool(settings.database_url)
    yield
    await app[DB].close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.redis_url
    app[REDIS] = create_redis(settings.redis_url)
    yield
    await app[REDIS].aclose()


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([_postgres, _redis])
    app.add_routes(health.routes)
    return app
