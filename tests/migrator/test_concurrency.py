"""Migrators that race, die or wait: one applies, a killed one leaves nothing half done, and a
locked table is waited for with retries instead of queueing everyone behind the migration."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from services.migrator.runner import LOCK_RETRIES, MigratorOptions, apply
from shared.schema import required_migrations
from tests.fixtures.polling import wait_for
from tests.fixtures.processes import RunningJarvis, run_jarvis
from tests.migrator.probes import scalar, table_exists, times_recorded
from tests.migrator.sources import source_with

SLOW = {
    "9999_slow": (
        "CREATE TABLE killed_probe (id bigint PRIMARY KEY);\n"
        "SELECT pg_sleep(CASE WHEN to_regclass('sleep_gate') IS NOT NULL THEN 60 ELSE 0 END);\n",
        "SELECT 1;\nDROP TABLE killed_probe;\n",
    )
}
ALTER = {
    "9998_alter": (
        "ALTER TABLE users ADD COLUMN nickname text;\n",
        "ALTER TABLE users DROP COLUMN nickname;\n",
    )
}
NICKNAME = (
    "SELECT count(*) FROM information_schema.columns"
    " WHERE table_name = 'users' AND column_name = 'nickname'"
)


def finish(running: RunningJarvis, within: float) -> int:
    code = running.process.wait(within)
    running.close()
    return code


def migrator_sessions(database_url: str, query_like: str = "%") -> int:
    return int(
        scalar(  # type: ignore[call-overload]
            database_url,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'jarvis-migrator'"
            " AND datname = current_database() AND state = 'active' AND query LIKE %s",
            query_like,
        )
    )


def test_two_migrators_at_once_apply_each_migration_once(
    migrate_env: dict[str, str], fresh_database_url: str, started: list[RunningJarvis]
) -> None:
    started += [RunningJarvis("migrate", "apply", env=migrate_env) for _ in range(2)]

    codes = [finish(running, within=60) for running in started]

    assert codes == [0, 0], [running.output() for running in started]
    assert times_recorded(fresh_database_url, "0001_initial") == 1
    reports = sorted(running.stdout[-1] for running in started)
    shipped = required_migrations()
    applied = f"applied {len(shipped)} migration(s): " + ", ".join(shipped)
    assert reports == ["applied 0 migration(s)", applied]


def test_a_killed_migrator_leaves_nothing_half_done_and_the_next_run_finishes(
    migrate_env: dict[str, str],
    fresh_database_url: str,
    tmp_path: Path,
    started: list[RunningJarvis],
) -> None:
    source = str(source_with(tmp_path / "migrations", SLOW))
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE sleep_gate ()")
    victim = RunningJarvis("migrate", "apply", "--source", source, env=migrate_env)
    started.append(victim)
    wait_for(
        lambda: migrator_sessions(fresh_database_url, "%pg_sleep%") == 1,
        within=30,
        what="the migration to reach pg_sleep",
    )

    victim.process.kill()
    assert finish(victim, within=10) == -9
    # client_connection_check_interval ends the dead migrator's statement within seconds,
    # where the statement alone would run for a minute.
    wait_for(lambda: migrator_sessions(fresh_database_url) == 0, within=10, what="dead session")

    assert not table_exists(fresh_database_url, "killed_probe")
    assert times_recorded(fresh_database_url, "9999_slow") == 0
    assert times_recorded(fresh_database_url, "0001_initial") == 1
    assert scalar(fresh_database_url, "SELECT count(*) FROM yoyo_lock") == 1  # yoyo's leftover

    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE sleep_gate")
    rerun = run_jarvis("migrate", "apply", "--source", source, env=migrate_env, timeout=60)

    assert rerun.returncode == 0, rerun.stderr
    # yoyo itself prints the rows of a migration's SELECT before our summary line.
    assert rerun.stdout.splitlines()[-1] == "applied 1 migration(s): 9999_slow"
    assert "cleared a lock left by a migrator that died" in rerun.stderr
    assert table_exists(fresh_database_url, "killed_probe")
    assert times_recorded(fresh_database_url, "9999_slow") == 1
    assert scalar(fresh_database_url, "SELECT count(*) FROM yoyo_lock") == 0


def retry_events(running: RunningJarvis) -> list[dict[str, object]]:
    lines = [line for line in running.stderr if "lock timeout; retrying" in line]
    return [json.loads(line) for line in lines]


def test_a_locked_table_is_retried_until_it_is_free(
    migrate_env: dict[str, str],
    fresh_database_url: str,
    tmp_path: Path,
    started: list[RunningJarvis],
) -> None:
    apply(MigratorOptions(database_url=fresh_database_url))
    source = str(source_with(tmp_path / "migrations", ALTER))
    env = migrate_env | {"JARVIS_MIGRATE_LOCK_TIMEOUT": "0.2"}
    with psycopg.connect(fresh_database_url) as holder:
        holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        migrator = RunningJarvis("migrate", "apply", "--source", source, env=env)
        started.append(migrator)
        wait_for(lambda: retry_events(migrator), within=20, what="a lock-timeout retry")
        holder.rollback()  # releases the lock

        assert finish(migrator, within=30) == 0, migrator.output()

    assert migrator.stdout[-1] == "applied 1 migration(s): 9998_alter"
    assert retry_events(migrator)[0]["migration"] == "9998_alter"
    assert scalar(fresh_database_url, NICKNAME) == 1


def test_a_table_that_stays_locked_fails_the_migration_after_the_retries(
    migrate_env: dict[str, str],
    fresh_database_url: str,
    tmp_path: Path,
    started: list[RunningJarvis],
) -> None:
    apply(MigratorOptions(database_url=fresh_database_url))
    source = str(source_with(tmp_path / "migrations", ALTER))
    env = migrate_env | {"JARVIS_MIGRATE_LOCK_TIMEOUT": "0.2"}
    with psycopg.connect(fresh_database_url) as holder:
        holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        migrator = RunningJarvis("migrate", "apply", "--source", source, env=env)
        started.append(migrator)

        # Backoff 0.5-1 s, 1-2, 2-4, 4-8 between the 5 tries: at most ~16 s with the timeouts.
        assert finish(migrator, within=40) == 1, migrator.output()

    assert len(retry_events(migrator)) == LOCK_RETRIES - 1
    failure = json.loads(next(line for line in migrator.stderr if "migration failed" in line))
    assert failure["reason"] == (
        f"apply 9998_alter: a table stayed locked by other sessions after {LOCK_RETRIES} tries"
    )
    assert migrator.stdout == []
    assert scalar(fresh_database_url, NICKNAME) == 0
    assert times_recorded(fresh_database_url, "9998_alter") == 0
    assert scalar(fresh_database_url, "SELECT count(*) FROM yoyo_lock") == 0
