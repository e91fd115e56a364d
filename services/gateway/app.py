"""The gateway's aiohttp application. `create_app` opens nothing; resources open in cleanup_ctx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.gateway.dispatcher import run_dispatcher
from services.gateway.hub import Hub
from services.gateway.keys import DB, HUB, KEYS, METRICS, REDIS, SETTINGS
from services.gateway.metrics import Metrics
from services.gateway.middleware import auth_middleware, errors_middleware
from services.gateway.rate_limit import rate_limit_middleware
from services.gateway.routes import (
    chats,
    docs,
    documents,
    health,
    me,
    metrics,
    stream,
    tasks,
    ws,
)
from services.gateway.routes import web as web_page
from services.gateway.routes.metrics import metrics_middleware
from shared.config import Settings
from shared.db import create_pool
from shared.redis_conn import create_redis
from shared.redis_keys import RedisKeys

MAX_BODY_BYTES = 1024 * 1024


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.database_url
    app[DB] = await create_pool(settings.database_url)
    yield
    await app[DB].close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.redis_url
    # Connects lazily, so the gateway starts (and accepts tasks) while Redis is down.
    app[REDIS] = create_redis(settings.redis_url)
    yield
    await app[REDIS].aclose()


async def _hub(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.redis_url
    app[HUB] = Hub(settings.redis_url, app[KEYS], app[DB])
    yield
    await app[HUB].close()


async def _end_feeds(app: web.Application) -> None:
    # on_shutdown runs before aiohttp waits for open requests; sockets never end on their own.
    await app[HUB].shut_down_subscribers(within=5.0)


async def _dispatcher(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_dispatcher(app[DB], app[REDIS], app[KEYS], stop))
    yield
    stop.set()
    await task


def create_app(settings: Settings, *, dispatcher: bool = True) -> web.Application:
    app = web.Application(
        # Outermost first: metrics see the final status; errors render everything below them.
        middlewares=[
            metrics_middleware,
            web_page.security_headers,
            errors_middleware,
            auth_middleware,
            rate_limit_middleware,
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[KEYS] = RedisKeys(settings.redis_prefix)
    app.cleanup_ctx.extend([_postgres, _redis, _hub])
    app.on_shutdown.append(_end_feeds)
    if dispatcher:
        app.cleanup_ctx.append(_dispatcher)
    for module in (health, docs, me, chats, tasks, stream, ws, documents, metrics, web_page):
        app.add_routes(module.routes)
    return app
