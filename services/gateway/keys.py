"""Typed keys for what the gateway keeps in its aiohttp application and requests."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web
from arq import ArqRedis

from services.gateway.hub import Hub
from services.gateway.metrics import Metrics
from shared.auth import User
from shared.config import Settings
from shared.redis_keys import RedisKeys

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
# One client for streams and for enqueueing arq jobs.
REDIS = web.AppKey("redis", ArqRedis)
KEYS = web.AppKey("keys", RedisKeys)
HUB = web.AppKey("hub", Hub)
METRICS = web.AppKey("metrics", Metrics)
USER = web.RequestKey("user", User)
# The id of the token the request came with: the rate limit counts per token.
TOKEN_ID = web.RequestKey("token_id", uuid.UUID)
