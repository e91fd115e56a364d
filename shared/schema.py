"""The schema gate: which migrations this code needs, and whether the database has them.

yoyo records an applied migration as sha256(migration id) in `_yoyo_migration`, so services
check the schema with their own asyncpg connection and never need yoyo. Only the migrator
creates or alters schema.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import asyncpg

# A service exits with this code when the schema it needs did not appear in time.
EXIT_SCHEMA = 3
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "services" / "migrator" / "migrations"


class SchemaNotReady(RuntimeError):
    def __init__(self, missing: list[str], unreachable: str | None = None) -> None:
        self.missing = missing
        if unreachable:
            message = f"database not reachable: {unreachable}"
        else:
            message = "database schema is missing migrations: " + ", ".join(missing)
        super().__init__(message + " (run `jarvis migrate apply`)" if not unreachable else message)


def required_migrations(source: Path = MIGRATIONS_DIR) -> list[str]:
    """Ids of every migration shipped with this code, in order."""
    return sorted(
        path.stem for path in source.glob("*.sql") if not path.name.endswith(".rollback.sql")
    )


def migration_hash(migration_id: str) -> str:
    return hashlib.sha256(migration_id.encode()).hexdigest()


async def missing_migrations(
    conn: asyncpg.Connection | asyncpg.Pool, source: Path = MIGRATIONS_DIR
) -> list[str]:
    """The required migrations not applied to this database, in order. Reads only."""
    required = required_migrations(source)
    if not await conn.fetchval("SELECT to_regclass('_yoyo_migration') IS NOT NULL"):
        return required
    applied = {row[0] for row in await conn.fetch("SELECT migration_hash FROM _yoyo_migration")}
    return [m for m in required if migration_hash(m) not in applied]


async def wait_for_schema(database_url: str, wait: float) -> None:
    """Wait up to `wait` seconds for the database and its migrations; raise SchemaNotReady."""
    deadline = time.monotonic() + wait
    missing = required_migrations()
    while True:
        unreachable = None
        try:
            conn = await asyncpg.connect(database_url, timeout=5)
            try:
                missing = await missing_migrations(conn)
            finally:
                await conn.close()
            if not missing:
                return
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            unreachable = str(error) or type(error).__name__  # keep waiting within the deadline
        if time.monotonic() >= deadline:
            raise SchemaNotReady(missing, unreachable)
        await asyncio.sleep(0.25)
