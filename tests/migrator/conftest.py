from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.processes import jarvis_env
from tests.fixtures.servers import TestServers


@pytest.fixture
def migrate_env(fresh_database_url: str, servers: TestServers, tmp_path: Path) -> dict[str, str]:
    """`jarvis migrate` against this test's empty database; no embedded servers."""
    return jarvis_env(
        JARVIS_DATABASE_URL=fresh_database_url,
        JARVIS_REDIS_URL=servers.redis_url,
        JARVIS_DATA_DIR=str(tmp_path / "data"),
    )
