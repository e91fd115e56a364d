"""JARVIS_SEARCH picks the web_search provider; a provider without what it needs stops the
executor at start with one clear line and exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from services.executor.tools.brave import BraveSearch
from services.executor.tools.local_search import LocalSearch
from services.executor.tools.providers import build_search_provider
from services.executor.tools.searxng import SearxngSearch
from shared.config import ConfigError, load_settings
from tests.fixtures.processes import jarvis_env, run_jarvis

if TYPE_CHECKING:
    from tests.fixtures.servers import TestServers

NO_PROVIDER_KEYS = {"brave_api_key": None, "searxng_url": None}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, LocalSearch),
        ({"search": "local"}, LocalSearch),
        ({"search": "brave", "brave_api_key": "k"}, BraveSearch),
        ({"search": "searxng", "searxng_url": "http://127.0.0.1:9/"}, SearxngSearch),
    ],
    ids=["default", "local", "brave", "searxng"],
)
async def test_jarvis_search_picks_the_provider(
    db_pool: asyncpg.Pool, overrides: dict[str, str], expected: type
) -> None:
    settings = load_settings(**{**NO_PROVIDER_KEYS, **overrides})

    provider = build_search_provider(settings, db_pool)
    try:
        assert type(provider) is expected
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    ("search", "needed"), [("brave", "BRAVE_API_KEY"), ("searxng", "JARVIS_SEARXNG_URL")]
)
def test_a_provider_without_its_setting_is_a_configuration_error(
    db_pool: asyncpg.Pool, search: str, needed: str
) -> None:
    settings = load_settings(**NO_PROVIDER_KEYS, search=search)

    with pytest.raises(ConfigError, match=needed):
        build_search_provider(settings, db_pool)


@pytest.mark.parametrize(
    ("search", "needed"), [("brave", "BRAVE_API_KEY"), ("searxng", "JARVIS_SEARXNG_URL")]
)
def test_the_executor_stops_at_start_without_its_provider_setting(
    migrated_database: str, servers: TestServers, tmp_path: Path, search: str, needed: str
) -> None:
    env = jarvis_env(
        JARVIS_DATABASE_URL=migrated_database,
        JARVIS_REDIS_URL=servers.redis_url,
        JARVIS_DATA_DIR=str(tmp_path / "data"),
        JARVIS_SEARCH=search,
    )
    env.pop("BRAVE_API_KEY", None)

    result = run_jarvis("executor", env=env, timeout=60)

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"configuration error: JARVIS_SEARCH={search} needs {needed}"
    ]
