"""Choose the web_search provider from JARVIS_SEARCH."""

from __future__ import annotations

import asyncpg

from services.executor.tools.brave import BraveSearch
from services.executor.tools.local_search import LocalSearch
from services.executor.tools.search import SearchProvider
from services.executor.tools.searxng import SearxngSearch
from shared.config import ConfigError, Settings


def check_search(settings: Settings) -> None:
    """Fail at start when the chosen provider lacks what it needs."""
    if settings.search == "brave" and settings.brave_api_key is None:
        raise ConfigError("configuration error: JARVIS_SEARCH=brave needs BRAVE_API_KEY")
    if settings.search == "searxng" and settings.searxng_url is None:
        raise ConfigError("configuration error: JARVIS_SEARCH=searxng needs JARVIS_SEARXNG_URL")


def build_search_provider(settings: Settings, pool: asyncpg.Pool) -> SearchProvider:
    """The configured provider; call `await provider.aclose()` when done."""
    check_search(settings)
    if settings.search == "brave":
        assert settings.brave_api_key is not None
        key = settings.brave_api_key.get_secret_value()
        return BraveSearch(key, timeout=settings.search_timeout)
    if settings.search == "searxng":
        assert settings.searxng_url is not None
        return SearxngSearch(settings.searxng_url, timeout=settings.search_timeout)
    return LocalSearch(pool, timeout=settings.search_timeout)
