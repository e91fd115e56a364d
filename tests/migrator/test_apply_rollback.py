"""`jarvis migrate apply | rollback | status | check` on real databases, through the real CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

from shared.embedded import postgres_tool
from shared.schema import required_migrations
from tests.fixtures.processes import run_jarvis
from tests.migrator.probes import public_tables, scalar, table_exists, times_recorded
from tests.migrator.sources import ExtraMigrations, source_with

YOYO_TABLES = {"_yoyo_log", "_yoyo_migration", "_yoyo_version", "yoyo_lock"}
EXTRA: ExtraMigrations = {
    "9997_extra": ("CREATE TABLE extra_probe (id bigint PRIMARY KEY);", "DROP TABLE extra_probe;")
}


def schema_dump(database_url: str) -> list[str]:
    dump = subprocess.run(
        [str(postgres_tool("pg_dump")), "--schema-only", "--dbname", database_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    # pg_dump 18 fences its output with a random key on each run; nothing else differs.
    fence = ("\\restrict", "\\unrestrict")
    return [line for line in dump.splitlines() if not line.startswith(fence)]


def applied_report(ids: list[str]) -> str:
    return f"applied {len(ids)} migration(s): " + ", ".join(ids)


def test_check_reports_pending_then_apply_brings_the_database_up_to_date(
    migrate_env: dict[str, str], fresh_database_url: str
) -> None:
    check = run_jarvis("migrate", "check", env=migrate_env)
    assert check.returncode == 1, check.stderr
    assert check.stdout.strip() == "pending migrations: " + ", ".join(required_migrations())

    applied = run_jarvis("migrate", "apply", env=migrate_env)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == applied_report(required_migrations())
    assert table_exists(fresh_database_url, "users")
    assert times_recorded(fresh_database_url, "0001_initial") == 1

    check = run_jarvis("migrate", "check", env=migrate_env)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "database is at the newest migration"

    again = run_jarvis("migrate", "apply", env=migrate_env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "applied 0 migration(s)"


def test_status_lists_applied_and_pending(migrate_env: dict[str, str], tmp_path: Path) -> None:
    source = source_with(tmp_path / "migrations", EXTRA)
    assert run_jarvis("migrate", "apply", env=migrate_env).returncode == 0  # the shipped ones

    status = run_jarvis("migrate", "status", "--source", str(source), env=migrate_env)

    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert len(lines) == len(required_migrations()) + 1, status.stdout
    assert lines[0].split()[:2] == ["applied", "0001_initial"]
    assert lines[0].endswith(" UTC)")
    assert lines[-1].split() == ["pending", "9997_extra"]


def test_rollback_all_then_apply_gives_the_same_schema(
    migrate_env: dict[str, str], fresh_database_url: str
) -> None:
    assert run_jarvis("migrate", "apply", env=migrate_env).returncode == 0
    before = schema_dump(fresh_database_url)
    assert any("CREATE TABLE public.tasks" in line for line in before)

    undone = run_jarvis("migrate", "rollback", "--all", env=migrate_env)

    assert undone.returncode == 0, undone.stderr
    shipped = required_migrations()
    assert undone.stdout.strip() == (
        f"rolled back {len(shipped)} migration(s): " + ", ".join(reversed(shipped))
    )
    assert public_tables(fresh_database_url) == YOYO_TABLES
    functions = scalar(
        fresh_database_url,
        "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
    )
    assert functions == 0
    assert times_recorded(fresh_database_url, "0001_initial") == 0

    assert run_jarvis("migrate", "apply", env=migrate_env).returncode == 0
    assert schema_dump(fresh_database_url) == before


def test_rollback_steps_undoes_exactly_that_many(
    migrate_env: dict[str, str],
    fresh_database_url: str,
    tmp_path: Path,
) -> None:
    source = str(source_with(tmp_path / "migrations", EXTRA))
    applied = run_jarvis("migrate", "apply", "--source", source, env=migrate_env)
    assert applied.stdout.strip() == applied_report([*required_migrations(), "9997_extra"])

    undone = run_jarvis("migrate", "rollback", "--steps", "1", "--source", source, env=migrate_env)

    assert undone.returncode == 0, undone.stderr
    assert undone.stdout.strip() == "rolled back 1 migration(s): 9997_extra"
    assert not table_exists(fresh_database_url, "extra_probe")
    assert table_exists(fresh_database_url, "users")
    assert times_recorded(fresh_database_url, "9997_extra") == 0
    assert times_recorded(fresh_database_url, "0001_initial") == 1


def test_rollback_zero_steps_is_refused(migrate_env: dict[str, str]) -> None:
    refused = run_jarvis("migrate", "rollback", "--steps", "0", env=migrate_env)

    assert refused.returncode == 2
    assert "--steps: must be 1 or more" in refused.stderr
    assert refused.stdout == ""
