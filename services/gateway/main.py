"""The gateway process. Run it with `jarvis gateway` (or let `jarvis up` start it)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.gateway.app import create_app
from shared.config import Settings
from shared.logging import get_logger
from shared.schema import EXIT_SCHEMA, SchemaNotReady, wait_for_schema

log = get_logger(__name__)


def run(settings: Settings) -> int:
    assert settings.database_url and settings.redis_url
    try:
        asyncio.run(wait_for_schema(settings.database_url, settings.schema_wait))
    except SchemaNotReady as error:
        log.error("schema not ready", reason=str(error), missing=error.missing)
        return EXIT_SCHEMA
    log.info("gateway listening", host=settings.host, port=settings.port)
    # run_app handles SIGINT and SIGTERM: it stops accepting, finishes requests, then cleans up.
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            print=None,
            shutdown_timeout=10,
            access_log=None,
        )
    except OSError as error:  # the address is taken or not ours: one line, not a traceback
        log.error("gateway cannot listen", host=settings.host, port=settings.port, error=str(error))
        return 1
    return 0
