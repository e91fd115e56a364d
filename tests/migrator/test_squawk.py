"""Every migration passes squawk (PyPI squawk-cli) with the rules in .squawk.toml, and every
forward migration can be undone."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from yoyo.migrations import read_sql_migration

from shared.schema import MIGRATIONS_DIR, required_migrations
from tests.fixtures.processes import REPO

SQUAWK = Path(sys.executable).parent / "squawk"
CONFIG = REPO / ".squawk.toml"
# Undoing a migration means dropping what it created (see .squawk.toml). These stay here, not
# in .squawk.toml: squawk 2.x's config has no per-file rules (only excluded_paths, excluded_rules,
# included_rules, pg_version, assume_in_transaction; an [[overrides]] table is ignored), so the
# rollback files get them through --exclude.
ROLLBACK_ALSO_EXCLUDED = ["ban-drop-table", "ban-drop-function"]
FORWARD = sorted(p for p in MIGRATIONS_DIR.glob("*.sql") if not p.name.endswith(".rollback.sql"))
ROLLBACK = sorted(MIGRATIONS_DIR.glob("*.rollback.sql"))


def squawk(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SQUAWK), "--config", str(CONFIG), "--reporter", "gcc", *options, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def rollback_exclusions() -> str:
    # --exclude replaces the config's excluded_rules instead of adding to them.
    configured = tomllib.loads(CONFIG.read_text())["excluded_rules"]
    return ",".join([*configured, *ROLLBACK_ALSO_EXCLUDED])


def test_there_are_migrations_to_lint() -> None:
    assert SQUAWK.exists(), "squawk-cli is not installed in the venv"
    assert [p.stem for p in FORWARD] == required_migrations()
    assert ROLLBACK


@pytest.mark.parametrize("migration", FORWARD, ids=lambda p: p.name)
def test_forward_migration_passes_squawk(migration: Path) -> None:
    result = squawk(migration)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("migration", ROLLBACK, ids=lambda p: p.name)
def test_rollback_migration_passes_squawk(migration: Path) -> None:
    result = squawk(migration, "--exclude", rollback_exclusions())
    assert result.returncode == 0, result.stdout + result.stderr


def test_squawk_rejects_a_dangerous_migration(tmp_path: Path) -> None:
    bad = tmp_path / "0002_bad.sql"
    bad.write_text(
        "ALTER TABLE users ADD COLUMN x integer NOT NULL DEFAULT 1;\n"
        "CREATE INDEX users_x_idx ON users (x);\n"
    )

    result = squawk(bad)

    assert result.returncode != 0
    assert "require-concurrent-index-creation" in result.stdout


def test_squawk_reports_drops_in_a_forward_migration(tmp_path: Path) -> None:
    dropping = tmp_path / "0002_drop.sql"
    dropping.write_text("DROP TABLE documents;\n")

    result = squawk(dropping)

    assert result.returncode != 0
    assert "ban-drop-table" in result.stdout


@pytest.mark.parametrize("migration", FORWARD, ids=lambda p: p.name)
def test_forward_migration_has_a_rollback(migration: Path) -> None:
    rollback = migration.with_name(migration.stem + ".rollback.sql")
    assert rollback.is_file()
    directives, _, statements = read_sql_migration(str(migration))
    if directives.get("transactional", "true").lower() == "false":
        # Outside a transaction yoyo undoes a failed migration's finished statements one by one,
        # pairing them with the rollback's in reverse order: a missing one shifts every pair.
        assert len(read_sql_migration(str(rollback))[2]) == len(statements)


def test_every_rollback_belongs_to_a_forward_migration() -> None:
    assert {p.name.removesuffix(".rollback.sql") for p in ROLLBACK} == {p.stem for p in FORWARD}
