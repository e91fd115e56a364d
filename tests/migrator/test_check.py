"""`jarvis migrate check` only reads: it creates nothing, waits for no lock, and tells a
configuration error (exit 2, give up) from a database that is not ready yet (exit 1, retry)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import psycopg

from services.migrator.runner import ADVISORY_LOCK_KEY
from shared.embedded import free_port
from tests.fixtures.processes import run_jarvis
from tests.migrator.probes import public_tables


def test_check_on_an_empty_database_creates_nothing(
    migrate_env: dict[str, str], fresh_database_url: str
) -> None:
    check = run_jarvis("migrate", "check", env=migrate_env)

    assert check.returncode == 1, check.stderr
    assert check.stdout.startswith("pending migrations: 0001_initial")
    assert public_tables(fresh_database_url) == set()  # no yoyo tables, no lock row


def test_check_does_not_wait_for_a_running_migrator(
    migrate_env: dict[str, str], fresh_database_url: str
) -> None:
    assert run_jarvis("migrate", "apply", env=migrate_env).returncode == 0
    with psycopg.connect(fresh_database_url, autocommit=True) as migrator:
        migrator.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        began = time.monotonic()
        check = run_jarvis("migrate", "check", env=migrate_env, timeout=30)
    assert check.returncode == 0, check.stderr
    assert time.monotonic() - began < 15


def test_check_with_a_wrong_password_is_a_configuration_error(
    migrate_env: dict[str, str], fresh_database_url: str
) -> None:
    parts = urlsplit(fresh_database_url)
    wrong = parts._replace(netloc=f"{parts.username}:wrong@{parts.hostname}:{parts.port}")
    env = {**migrate_env, "JARVIS_DATABASE_URL": urlunsplit(wrong)}

    check = run_jarvis("migrate", "check", env=env)

    assert check.returncode == 2, check.stderr
    assert "JARVIS_DATABASE_URL" in check.stderr
    assert "wrong" not in check.stderr


def test_check_with_a_bad_url_exits_2_and_without_a_database_exits_1(
    migrate_env: dict[str, str],
) -> None:
    bad = run_jarvis("migrate", "check", env={**migrate_env, "JARVIS_DATABASE_URL": "mysql://x"})
    assert bad.returncode == 2, bad.stderr
    assert "JARVIS_DATABASE_URL" in bad.stderr

    down = f"postgresql://jarvis:x@127.0.0.1:{free_port()}/jarvis"
    waiting = run_jarvis("migrate", "check", env={**migrate_env, "JARVIS_DATABASE_URL": down})
    assert waiting.returncode == 1, waiting.stderr
    assert "not reachable" in waiting.stderr
