"""Looking at a database from the side while the migrator works on it."""

from __future__ import annotations

import psycopg


def scalar(database_url: str, query: str, *params: object) -> object:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def table_exists(database_url: str, name: str) -> bool:
    return bool(scalar(database_url, "SELECT to_regclass(%s) IS NOT NULL", name))


def times_recorded(database_url: str, migration_id: str) -> int:
    """How many rows yoyo keeps for `migration_id` as applied."""
    count = scalar(
        database_url, "SELECT count(*) FROM _yoyo_migration WHERE migration_id = %s", migration_id
    )
    return int(count)  # type: ignore[call-overload]


def public_tables(database_url: str) -> set[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}
