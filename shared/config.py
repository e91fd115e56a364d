"""One settings object for every process, read once at start from JARVIS_* variables.

`load_settings()` is the only reader of the environment; everything else receives a `Settings`.
A bad value stops the process with one line naming the variable and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "JARVIS_"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["auto", "json", "console"]


class ConfigError(Exception):
    """A setting has a value we cannot use; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, validate_default=True
    )

    database_url: str | None = Field(
        None, description="PostgreSQL URL; unset: the embedded server under the data directory"
    )
    redis_url: str | None = Field(
        None, description="Redis URL; unset: the embedded server under the data directory"
    )
    data_dir: Path = Field(
        Path(".jarvis"), description="Where embedded servers keep their data and run files"
    )
    host: str = Field("127.0.0.1", min_length=1, description="Address the gateway listens on")
    port: int = Field(8080, ge=1, le=65535, description="Port the gateway listens on")
    log_level: LogLevel = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: LogFormat = Field(
        "auto", description="json, console, or auto (console on a terminal, else json)"
    )
    redis_prefix: str = Field(
        "jarvis:", min_length=1, description="Prefix of every Redis key, queue and stream we own"
    )
    schema_wait: float = Field(
        30.0, ge=0, description="Seconds a service waits at start for the migrations it needs"
    )
    migrate_lock_timeout: float = Field(
        5.0, gt=0, description="Seconds a migration waits for a table lock before retrying"
    )
    migrate_statement_timeout: float = Field(
        600.0, gt=0, description="Seconds one migration statement may run"
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("expected a postgresql://user:password@host:port/database URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://host:port/db URL")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def embedded(self) -> bool:
        """True when at least one server comes from the embedded stack."""
        return self.database_url is None or self.redis_url is None


def describe_error(error: ValidationError) -> str:
    """One line naming each bad variable, its value and what is expected."""
    parts = []
    for item in error.errors():
        name = ENV_PREFIX + "_".join(str(p) for p in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        shown = f"={value!r}" if isinstance(value, str | int | float) else ""
        parts.append(f"{name}{shown}: {message}")
    return "configuration error: " + "; ".join(parts)


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; raise ConfigError with a one-line message on a bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_error(error)) from None


def load_settings_or_exit(**overrides: object) -> Settings:
    """For entrypoints: print the one-line reason and exit 2 on a bad value."""
    try:
        return load_settings(**overrides)
    except ConfigError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
