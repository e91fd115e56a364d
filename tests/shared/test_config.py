"""Settings: read once from JARVIS_* variables; a bad value stops a process with one line
naming the variable, and exit code 2."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import AliasChoices

from shared.config import ENV_PREFIX, ConfigError, Settings, load_settings
from tests.fixtures.processes import jarvis_env, run_jarvis

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.fixtures.servers import TestServers


@pytest.fixture
def good_env(servers: TestServers, tmp_path: Path) -> dict[str, str]:
    """Working settings (test servers, no embedded ones) that each test spoils one value of."""
    return jarvis_env(
        JARVIS_DATABASE_URL=servers.postgres_url,
        JARVIS_REDIS_URL=servers.redis_url,
        JARVIS_DATA_DIR=str(tmp_path / "data"),
        JARVIS_SCHEMA_WAIT="0",
    )


@pytest.mark.parametrize(
    ("command", "variable", "value", "expected"),
    [
        (["migrate", "status"], "JARVIS_DATABASE_URL", "mysql://x", "expected a postgresql://"),
        (["gateway"], "JARVIS_DATABASE_URL", "mysql://x", "expected a postgresql://"),
        (["gateway"], "JARVIS_PORT", "abc", "valid integer"),
        (["gateway"], "JARVIS_PORT", "70000", "less than or equal to 65535"),
        (["migrate", "status"], "JARVIS_LOG_LEVEL", "loud", "'INFO', 'WARNING' or 'ERROR'"),
    ],
    ids=["migrate-database-url", "gateway-database-url", "port-abc", "port-70000", "log-level"],
)
def test_a_bad_value_exits_2_with_one_line_naming_the_variable(
    good_env: dict[str, str], command: list[str], variable: str, value: str, expected: str
) -> None:
    result = run_jarvis(*command, env=good_env | {variable: value}, timeout=30)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}")
    assert expected in lines[0]
    assert result.stdout == ""
    if variable.endswith("_URL"):
        assert value not in lines[0]  # a URL may hold a password: never echoed


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("JARVIS_"):
            monkeypatch.delenv(name)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)

    settings = load_settings()

    assert settings.data_dir == Path(".jarvis")
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.redis_prefix == "jarvis:"
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.embedded


def test_values_come_from_jarvis_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)
    monkeypatch.setenv("JARVIS_PORT", "9001")
    monkeypatch.setenv("JARVIS_LOG_LEVEL", "debug")
    monkeypatch.setenv("JARVIS_DATABASE_URL", "postgres://u:p@db:5432/jarvis")
    monkeypatch.setenv("JARVIS_REDIS_URL", "redis://cache:6379/0")

    settings = load_settings()

    assert settings.port == 9001
    assert settings.log_level == "DEBUG"
    assert settings.database_url == "postgres://u:p@db:5432/jarvis"
    assert not settings.embedded


def test_every_bad_variable_is_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)
    monkeypatch.setenv("JARVIS_PORT", "0")
    monkeypatch.setenv("JARVIS_REDIS_URL", "http://cache")

    with pytest.raises(ConfigError) as error:
        load_settings()

    message = str(error.value)
    assert "\n" not in message
    assert "JARVIS_PORT='0'" in message
    assert "JARVIS_REDIS_URL: expected a redis://" in message
    assert "http://cache" not in message


def test_an_empty_key_or_model_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("JARVIS_MODEL_PLANNING", " ")
    settings = load_settings()
    assert settings.openai_api_key is None
    assert settings.model_planning is None


def test_the_readme_lists_every_variable() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = alias.choices[:1] if isinstance(alias, AliasChoices) else [ENV_PREFIX + name]
        variable = str(names[0]).upper()
        assert f"`{variable}`" in table, f"{variable} is missing from the README's table"
