"""Structured logging for every process: JSON lines off a terminal, readable lines on one.

Both our structlog loggers and the standard library's (arq, aiohttp, asyncpg) go through the
same processors, so every line has the same shape and carries the service name.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from shared.config import Settings


def _renderer(log_format: str) -> Any:
    use_console = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    if use_console:
        return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.processors.JSONRenderer(ensure_ascii=False)


def configure_logging(settings: Settings, service: str) -> None:
    """Set up structlog and the standard library's logging for one process."""
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.contextvars.bind_contextvars(service=service)
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _renderer(settings.log_format),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # aiohttp's access log duplicates what our middleware will log; keep it quiet.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # yoyo logs every statement it runs; the migrator logs each migration itself.
    logging.getLogger("yoyo").setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
