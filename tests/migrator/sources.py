"""Migration folders of a test's own: the shipped migrations plus a few written for the test."""

from __future__ import annotations

import shutil
from pathlib import Path

from shared.schema import MIGRATIONS_DIR

# {migration id: (forward SQL, rollback SQL)}
ExtraMigrations = dict[str, tuple[str, str]]


def source_with(folder: Path, extra: ExtraMigrations) -> Path:
    """Copy the shipped migrations into `folder` and add `extra`; returns `folder`."""
    shutil.copytree(MIGRATIONS_DIR, folder)
    for migration_id, (forward, backward) in extra.items():
        (folder / f"{migration_id}.sql").write_text(forward)
        (folder / f"{migration_id}.rollback.sql").write_text(backward)
    return folder
