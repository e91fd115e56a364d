"""Typed keys for what the gateway keeps in its aiohttp application."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from shared.config import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
