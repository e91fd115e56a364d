"""Redis clients for the services (redis-py asyncio)."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(redis_url: str) -> Redis:
    # Connections open lazily on first use; health_check_interval revives dead sockets.
    return Redis.from_url(redis_url, health_check_interval=30, socket_connect_timeout=5)
