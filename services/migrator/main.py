"""The migrator: `jarvis migrate apply | rollback [--steps N | --all] | status | check`.

One-shot: it does its work and exits (0 on success). In containers it runs before every other
service, which wait for it (see docker-compose.yml).
"""

from __future__ import annotations

from pathlib import Path

from services.migrator.runner import MigrationError, MigratorOptions, apply, rollback, status
from shared.config import Settings
from shared.logging import get_logger
from shared.schema import MIGRATIONS_DIR

log = get_logger(__name__)


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
        pending = [s.id for s in states if s.applied_at is None]
        if command == "status":
            for state in states:
                print(
                    f"{'applied' if state.applied_at else 'pending':8} {state.id}"
                    + (f"  ({state.applied_at})" if state.applied_at else "")
                )
            return 0
        if pending:  # check
            print("pending migrations: " + ", ".join(pending))
            return 1
        print("database is at the newest migration")
        return 0
    except MigrationError as error:
        log.error("migration failed", reason=str(error))
        return 1
