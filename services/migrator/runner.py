"""Apply and roll back yoyo migrations safely.

Safety, and why:
- Every run holds a PostgreSQL advisory lock for its whole duration. It dies with the session, so
  two migrators never interleave, and a SIGKILLed migrator never blocks the next one. Under that
  lock, a `yoyo_lock` row can only be a leftover of a killed run, so it is cleared.
- Each migration runs in its own transaction: a migrator killed in the middle leaves the schema
  as it was before that migration.
- `lock_timeout` keeps a migration from queueing every query behind it; a lock timeout is
  retried with backoff. `statement_timeout` bounds a runaway statement, and
  `client_connection_check_interval` ends the statement of a migrator that died.
"""

from __future__ import annotations

import contextlib
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import psycopg.errors
from yoyo import get_backend, read_migrations
from yoyo.backends.base import DatabaseBackend
from yoyo.migrations import MigrationList

from shared.logging import get_logger
from shared.schema import MIGRATIONS_DIR

log = get_logger(__name__)

# Any constant works; it only has to be the same for every migrator of this database.
ADVISORY_LOCK_KEY = 0x4A415256  # "JARV"
LOCK_RETRIES = 5


class MigrationError(RuntimeError):
    """A migration could not be applied or rolled back."""


@dataclass(frozen=True)
class MigratorOptions:
    database_url: str
    lock_timeout: float = 5.0
    statement_timeout: float = 600.0
    wait: float = 300.0  # how long to wait for another migrator to finish
    source: Path = MIGRATIONS_DIR


@dataclass(frozen=True)
class MigrationState:
    id: str
    applied_at: str | None


def _yoyo_uri(options: MigratorOptions) -> str:
    parts = urlsplit(options.database_url)
    settings = (
        f"-c lock_timeout={int(options.lock_timeout * 1000)}"
        f" -c statement_timeout={int(options.statement_timeout * 1000)}"
        " -c client_connection_check_interval=1000"
        " -c application_name=jarvis-migrator"
    )
    query = "&".join(filter(None, [parts.query, "options=" + quote(settings)]))
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, query, ""))


@contextmanager
def exclusive_run(options: MigratorOptions) -> Iterator[None]:
    """Hold the migrators' advisory lock; clear yoyo's lock row left by a killed run."""
    with psycopg.connect(options.database_url, autocommit=True) as conn:
        deadline = time.monotonic() + options.wait
        announced = False
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[
            0
        ]:  # type: ignore[index]
            if time.monotonic() > deadline:
                raise MigrationError(f"another migrator held the lock for over {options.wait:.0f}s")
            if not announced:
                log.info("waiting for another migrator to finish")
                announced = True
            time.sleep(0.2)
        stale = conn.execute("SELECT to_regclass('yoyo_lock') IS NOT NULL").fetchone()
        if stale and stale[0]:
            cleared = conn.execute("DELETE FROM yoyo_lock").rowcount
            if cleared:
                log.warning("cleared a lock left by a migrator that died", rows=cleared)
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


@contextmanager
def _backend(options: MigratorOptions) -> Iterator[tuple[DatabaseBackend, MigrationList]]:
    with exclusive_run(options):
        backend = get_backend(_yoyo_uri(options))
        try:
            with backend.lock():
                yield backend, read_migrations(str(options.source))
        finally:
            backend.connection.close()


def _with_lock_retries(action: str, migration_id: str, run: object) -> None:
    for attempt in range(1, LOCK_RETRIES + 1):
        try:
            run()  # type: ignore[operator]
            return
        except psycopg.errors.LockNotAvailable as error:
            if attempt == LOCK_RETRIES:
                raise MigrationError(
                    f"{action} {migration_id}: a table stayed locked by other sessions "
                    f"after {LOCK_RETRIES} tries"
                ) from error
            delay = min(8.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
            log.warning("lock timeout; retrying", migration=migration_id, attempt=attempt)
            time.sleep(delay)
        except psycopg.Error as error:
            # A failed statement (a statement_timeout, a constraint an old row breaks): its
            # transaction is rolled back; one line naming the migration says more than a trace.
            raise MigrationError(f"{action} {migration_id}: {error}".strip()) from error


def apply(options: MigratorOptions) -> list[str]:
    """Apply every pending migration; returns the ids applied."""
    done: list[str] = []
    # yoyo prints the rows of a migration's SELECTs; stdout is for our summary only.
    with _backend(options) as (backend, migrations), contextlib.redirect_stdout(sys.stderr):
        for migration in backend.to_apply(migrations):
            _with_lock_retries(
                "apply",
                migration.id,
                lambda m=migration: backend.apply_migrations(MigrationList([m])),
            )
            log.info("migration applied", migration=migration.id)
            done.append(migration.id)
    return done


def rollback(options: MigratorOptions, steps: int | None = 1) -> list[str]:
    """Roll back the newest `steps` applied migrations (None: all); returns the ids."""
    done: list[str] = []
    with _backend(options) as (backend, migrations), contextlib.redirect_stdout(sys.stderr):
        applied = list(backend.to_rollback(migrations))
        for migration in applied if steps is None else applied[:steps]:
            _with_lock_retries(
                "roll back",
                migration.id,
                lambda m=migration: backend.rollback_migrations(MigrationList([m])),
            )
            log.info("migration rolled back", migration=migration.id)
            done.append(migration.id)
    return done


def status(options: MigratorOptions) -> list[MigrationState]:
    """Every known migration in order, with when it was applied (None: pending)."""
    with _backend(options) as (backend, migrations):
        applied_at: dict[str, str] = {}
        if "_yoyo_migration" in backend.list_tables():
            rows = backend.execute(
                "SELECT migration_id, applied_at_utc FROM _yoyo_migration"
            ).fetchall()
            applied_at = {row[0]: f"{row[1]:%Y-%m-%d %H:%M:%S} UTC" for row in rows}
        return [MigrationState(m.id, applied_at.get(m.id)) for m in migrations]
