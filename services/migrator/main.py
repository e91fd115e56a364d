"""The migrator: `jarvis migrate apply | rollback [--steps N | --all] | status | check`.

One-shot: it does its work and exits (0 on success). `check` only reads: exit 0 at the newest
migration, 1 with the pending ones (or the database unreachable), 2 on a configuration error.
In containers `apply` runs before every other service, which wait for it (see
docker-compose.yml; the Kubernetes init containers poll `check`).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg

from services.migrator.runner import MigrationError, MigratorOptions, apply, rollback, status
from shared.config import Settings
from shared.logging import get_logger
from shared.schema import MIGRATIONS_DIR, missing_migrations

log = get_logger(__name__)

# `check` exit codes: init containers poll it until 0, retry on 1, and give up on 2.
EXIT_PENDING = 1
EXIT_CONFIG = 2


async def check(database_url: str, source: Path) -> int:
    """Read-only: is the database at the newest migration? No locks, no yoyo tables created,
    so many pods may poll it at once while a migrator runs."""
    try:
        conn = await asyncpg.connect(
            database_url,
            timeout=10,
            server_settings={
                "default_transaction_read_only": "on",
                "application_name": "jarvis-migrate-check",
            },
        )
    except asyncpg.InvalidAuthorizationSpecificationError as error:
        # A wrong user or password will not fix itself by waiting.
        print(f"configuration error: JARVIS_DATABASE_URL: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        print(f"database not reachable: {error or type(error).__name__}", file=sys.stderr)
        return EXIT_PENDING
    try:
        pending = await missing_migrations(conn, source)
    finally:
        await conn.close()
    if pending:
        print("pending migrations: " + ", ".join(pending))
        return EXIT_PENDING
    print("database is at the newest migration")
    return 0


def options_from(settings: Settings, source: Path | None = None) -> MigratorOptions:
    assert settings.database_url
    return MigratorOptions(
        database_url=settings.database_url,
        lock_timeout=settings.migrate_lock_timeout,
        statement_timeout=settings.migrate_statement_timeout,
        source=source or MIGRATIONS_DIR,
    )


def run(
    settings: Settings,
    command: str,
    *,
    steps: int | None = 1,
    source: Path | None = None,
) -> int:
    """Run one migrator command; returns the process exit code."""
    options = options_from(settings, source)
    if command == "check":
        return asyncio.run(check(options.database_url, options.source))
    try:
        if command == "apply":
            applied = apply(options)
            print(
                f"applied {len(applied)} migration(s)"
                + (": " + ", ".join(applied) if applied else "")
            )
            return 0
        if command == "rollback":
            undone = rollback(options, steps)
            print(
                f"rolled back {len(undone)} migration(s)"
                + (": " + ", ".join(undone) if undone else "")
            )
            return 0
        states = status(options)
        for state in states:  # status
            print(
                f"{'applied' if state.applied_at else 'pending':8} {state.id}"
                + (f"  ({state.applied_at})" if state.applied_at else "")
            )
        return 0
    except MigrationError as error:
        log.error("migration failed", reason=str(error))
        return 1
