"""The migrator's own session settings: statement_timeout (JARVIS_MIGRATE_STATEMENT_TIMEOUT)
and lock_timeout (JARVIS_MIGRATE_LOCK_TIMEOUT) hold inside every migration."""

from __future__ import annotations

import time
from pathlib import Path

from tests.fixtures.processes import run_jarvis
from tests.migrator.probes import scalar, table_exists
from tests.migrator.sources import source_with

RECORD_SETTINGS = (
    "CREATE TABLE settings_probe AS SELECT current_setting('statement_timeout') AS statement,"
    " current_setting('lock_timeout') AS lock;",
    "DROP TABLE settings_probe;",
)
RUNAWAY = (
    "CREATE TABLE runaway_probe (id bigint PRIMARY KEY);\nSELECT pg_sleep(30);",
    "DROP TABLE runaway_probe;",
)


def test_migrations_run_with_the_configured_timeouts(
    migrate_env: dict[str, str], fresh_database_url: str, tmp_path: Path
) -> None:
    source = source_with(tmp_path / "migrations", {"9997_settings": RECORD_SETTINGS})
    env = {
        **migrate_env,
        "JARVIS_MIGRATE_STATEMENT_TIMEOUT": "7",
        "JARVIS_MIGRATE_LOCK_TIMEOUT": "3",
    }

    applied = run_jarvis("migrate", "apply", "--source", str(source), env=env)

    assert applied.returncode == 0, applied.stderr
    assert scalar(fresh_database_url, "SELECT statement FROM settings_probe") == "7s"
    assert scalar(fresh_database_url, "SELECT lock FROM settings_probe") == "3s"


def test_a_runaway_statement_is_stopped_and_its_migration_undone(
    migrate_env: dict[str, str], fresh_database_url: str, tmp_path: Path
) -> None:
    source = source_with(tmp_path / "migrations", {"9997_runaway": RUNAWAY})
    env = {**migrate_env, "JARVIS_MIGRATE_STATEMENT_TIMEOUT": "1"}

    began = time.monotonic()
    applied = run_jarvis("migrate", "apply", "--source", str(source), env=env, timeout=60)

    assert time.monotonic() - began < 25  # not the 30 s the statement asked for
    assert applied.returncode == 1
    assert "Traceback" not in applied.stderr
    assert "9997_runaway" in applied.stderr
    assert "statement timeout" in applied.stderr
    assert not table_exists(fresh_database_url, "runaway_probe")
    assert table_exists(fresh_database_url, "users")  # the shipped migrations stay applied
