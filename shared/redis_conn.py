"""Redis clients for the services (redis-py asyncio)."""

from __future__ import annotations

from arq import ArqRedis
from redis.asyncio import ConnectionPool

from shared.jobs import job_deserializer, job_serializer

REDIS_TIMEOUT = 2.0


def create_redis(redis_url: str) -> ArqRedis:
    """One client for streams, keys and enqueueing arq jobs (JSON, never pickle).

    Connections open lazily on first use, so a service starts while Redis is down;
    health_check_interval revives dead sockets. Every command here is quick (no blocking reads),
    so a Redis that hangs fails a command after REDIS_TIMEOUT instead of holding up a request
    that PostgreSQL alone can answer.
    """
    pool = ConnectionPool.from_url(
        redis_url,
        health_check_interval=30,
        socket_connect_timeout=REDIS_TIMEOUT,
        socket_timeout=REDIS_TIMEOUT,
    )
    redis = ArqRedis(
        connection_pool=pool, job_serializer=job_serializer, job_deserializer=job_deserializer
    )
    # The client owns its pool: aclose() closes the connections too (as Redis.from_pool does).
    redis.auto_close_connection_pool = True
    return redis
