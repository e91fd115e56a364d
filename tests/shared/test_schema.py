"""The schema gate: services wait for the migrations they need and exit 3 when they do not come."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from services.migrator.runner import MigratorOptions, apply, rollback
from shared.embedded import free_port
from shared.schema import (
    EXIT_SCHEMA,
    MIGRATIONS_DIR,
    SchemaNotReady,
    missing_migrations,
    required_migrations,
    wait_for_schema,
)
from tests.fixtures.processes import jarvis_env, run_jarvis

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.fixtures.servers import TestServers


def schema_error(stderr: str) -> dict[str, object]:
    lines = [line for line in stderr.splitlines() if "schema not ready" in line]
    assert len(lines) == 1, stderr
    return json.loads(lines[0])


def test_required_migrations_are_the_forward_files() -> None:
    required = required_migrations()
    assert required[0] == "0001_initial"
    assert required == sorted(required)
    assert not any(m.endswith(".rollback") for m in required)
    assert all((MIGRATIONS_DIR / f"{m}.rollback.sql").is_file() for m in required)


@pytest.mark.parametrize("service", ["gateway", "planner", "executor"])
def test_a_service_on_an_unmigrated_database_exits_naming_the_missing_migration(
    service: str, fresh_database_url: str, servers: TestServers, tmp_path: Path
) -> None:
    env = jarvis_env(
        JARVIS_DATABASE_URL=fresh_database_url,
        JARVIS_REDIS_URL=servers.redis_url,
        JARVIS_DATA_DIR=str(tmp_path / "data"),
        JARVIS_PORT=str(free_port()),
        JARVIS_SCHEMA_WAIT="1",
    )

    result = run_jarvis(service, env=env, timeout=30)

    assert result.returncode == EXIT_SCHEMA, result.stderr
    error = schema_error(result.stderr)
    assert error["service"] == service
    assert error["missing"] == required_migrations()
    assert "0001_initial" in str(error["reason"])
    assert "jarvis migrate apply" in str(error["reason"])


def test_a_service_without_its_database_exits_saying_it_is_unreachable(
    servers: TestServers, tmp_path: Path
) -> None:
    env = jarvis_env(
        JARVIS_DATABASE_URL=f"postgresql://jarvis:x@127.0.0.1:{free_port()}/jarvis",
        JARVIS_REDIS_URL=servers.redis_url,
        JARVIS_DATA_DIR=str(tmp_path / "data"),
        JARVIS_PORT=str(free_port()),
        JARVIS_SCHEMA_WAIT="1",
    )

    result = run_jarvis("gateway", env=env, timeout=30)

    assert result.returncode == EXIT_SCHEMA, result.stderr
    assert str(schema_error(result.stderr)["reason"]).startswith("database not reachable")


async def test_missing_migrations_on_the_migrated_database_is_empty(
    db_pool: asyncpg.Pool,
) -> None:
    assert await missing_migrations(db_pool) == []


async def test_missing_migrations_lists_what_is_not_applied(fresh_database_url: str) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        everything = required_migrations()
        assert await missing_migrations(conn) == everything  # no yoyo tables at all
        options = MigratorOptions(database_url=fresh_database_url)
        await asyncio.to_thread(apply, options)
        assert await missing_migrations(conn) == []
        await asyncio.to_thread(rollback, options)
        assert await missing_migrations(conn) == everything[-1:]
        await asyncio.to_thread(rollback, options, None)
        assert await missing_migrations(conn) == everything  # yoyo's tables, no rows
    finally:
        await conn.close()


async def test_wait_for_schema_returns_once_the_migrator_has_run(fresh_database_url: str) -> None:
    with pytest.raises(SchemaNotReady) as not_ready:
        await wait_for_schema(fresh_database_url, wait=0)
    assert not_ready.value.missing == required_migrations()

    waiting = asyncio.create_task(wait_for_schema(fresh_database_url, wait=30))
    await asyncio.to_thread(apply, MigratorOptions(database_url=fresh_database_url))

    await asyncio.wait_for(waiting, timeout=10)
