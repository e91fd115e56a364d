"""Work the servers did, counted exactly: PostgreSQL write transactions (transaction ids given
out) and WAL bytes, and Redis commands by name (INFO commandstats)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis


@dataclass(frozen=True)
class ServerCounters:
    xid: int
    wal_bytes: int
    redis_calls: Counter[str]

    def since(self, before: ServerCounters) -> dict[str, Any]:
        return {
            "pg_write_transactions": self.xid - before.xid,
            "wal_bytes": self.wal_bytes - before.wal_bytes,
            "redis_commands": self.redis_calls - before.redis_calls,
        }


async def read_counters(pool: asyncpg.Pool, redis: Redis) -> ServerCounters:
    # Reading the next xid gives none out; the WAL position is where the next record will go.
    row = await pool.fetchrow(
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xid,"
        " pg_current_wal_insert_lsn() - '0/0'::pg_lsn AS wal"
    )
    stats = await redis.info("commandstats")
    calls: Counter[str] = Counter()
    for name, value in stats.items():
        calls[name.removeprefix("cmdstat_")] = int(value["calls"])
    # Our own INFO call is not the system's work.
    calls["info"] -= 1
    return ServerCounters(int(row["xid"]), int(row["wal"]), calls)


def per_unit(
    delta: dict[str, Any], units: int, idle: dict[str, float] | None = None, seconds: float = 0.0
) -> dict[str, Any]:
    """Counts per task (or post); with `idle` (Redis commands per second with nothing to do,
    the workers' polling), the idle share over `seconds` is taken out of the Redis counts."""
    if not units:
        return {}
    commands: Counter[str] = Counter(delta["redis_commands"])
    if idle:
        for name, rate in idle.items():
            commands[name] -= round(rate * seconds)
    commands = +commands  # drops zero and negative counts
    top = {name: round(count / units, 1) for name, count in commands.most_common(12)}
    return {
        "pg_write_transactions": round(delta["pg_write_transactions"] / units, 1),
        "wal_kb": round(delta["wal_bytes"] / units / 1024, 1),
        "redis_commands": round(sum(commands.values()) / units, 1),
        "redis_commands_by_name": top,
    }
