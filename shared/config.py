"""One settings object for every process, read once at start from JARVIS_* variables.

`load_settings()` is the only reader of the environment; everything else receives a `Settings`.
A bad value stops the process with one line naming the variable and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    task_deadline: float = Field(
        900.0, gt=0, description="Seconds a task may take from posting to its end before it fails"
    )
    worker_concurrency: int = Field(
        10, ge=1, le=1000, description="Jobs one planner or executor process runs at once"
    )
    worker_shutdown_wait: float = Field(
        20.0,
        ge=0,
        le=3600,
        description="Seconds a stopping worker lets its jobs finish before handing them back",
    )
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Other origins allowed to open the WebSocket, comma-separated",
    )
    ws_heartbeat: float = Field(
        30.0, gt=0, description="Seconds between WebSocket pings; a peer that misses one is closed"
    )
    rate_limit: int = Field(
        600, ge=0, description="Requests per minute one token may make (0: no limit)"
    )
    url: str = Field("http://127.0.0.1:8080", description="The gateway `jarvis chat` talks to")
    token: str | None = Field(None, description="The API token `jarvis chat` uses")
    worker_id: str | None = Field(
        None,
        description="Names this worker for `--check`; unset: the host name (one per container)",
    )
    max_job_tries: int = Field(
        3, ge=1, le=20, description="Runs of one stage of a task before it fails (max_retries)"
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

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def embedded(self) -> bool:
        """True when at least one server comes from the embedded stack."""
        return self.database_url is None or self.redis_url is None

    # --- Agents, models, search and budgets (issue 3). ---
    model: str = Field(
        "offline",
        description="Model of every agent: offline, openai:<m>, openai-chat:<m> or anthropic:<m>",
    )
    model_detection: str | None = Field(None, description="Model of task detection; unset: MODEL")
    model_planning: str | None = Field(None, description="Model of planning; unset: MODEL")
    model_execution: str | None = Field(None, description="Model of execution; unset: MODEL")
    openai_base_url: str | None = Field(
        None, description="Base URL of an OpenAI-compatible server (Ollama, vLLM, a gateway)"
    )
    # The providers' own variables, read under their usual names.
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    anthropic_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "anthropic_api_key")
    )
    brave_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("BRAVE_API_KEY", "brave_api_key")
    )
    model_request_timeout: float = Field(
        60.0, gt=0, description="Seconds one model request may take (per HTTP attempt)"
    )
    agent_run_timeout: float = Field(
        120.0, gt=0, description="Seconds one agent run (triage, planning, one step) may take"
    )
    history_max_messages: int = Field(
        20, ge=0, description="Earlier chat messages given to the agents, most recent first"
    )
    history_max_chars: int = Field(
        12000, ge=0, description="Characters of earlier chat messages given to the agents"
    )
    search: Literal["local", "brave", "searxng"] = Field(
        "local", description="web_search provider: local (PostgreSQL full text), brave or searxng"
    )
    searxng_url: str | None = Field(None, description="Base URL of a SearXNG instance (JSON API)")
    search_timeout: float = Field(10.0, gt=0, description="Seconds one search may take")
    search_max_results: int = Field(
        5, ge=1, le=20, description="Search results handed to the model per web_search call"
    )
    budget_requests: int = Field(30, ge=1, description="Model requests one task may make")
    budget_tool_calls: int = Field(40, ge=1, description="Tool calls one task may make")
    budget_tokens: int = Field(
        300_000, ge=1, description="Tokens (input + output) one task may use"
    )
    budget_seconds: float = Field(300.0, gt=0, description="Seconds one task may run")
    offline_latency: float = Field(
        0.0, ge=0, description="Seconds the offline model waits before each answer (demos, tests)"
    )

    @field_validator(
        "openai_api_key",
        "anthropic_api_key",
        "brave_api_key",
        "token",
        "worker_id",
        "model_detection",
        "model_planning",
        "model_execution",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # VAR= (as compose files and .env templates write) means "not set", not "set to nothing".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("openai_base_url", "searxng_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("model")
    @classmethod
    def _default_model(cls, value: str) -> str:
        return value.strip() or "offline"

    @field_validator("model_detection", "model_planning", "model_execution")
    @classmethod
    def _agent_model(cls, value: str | None) -> str | None:
        # Empty means "use JARVIS_MODEL"; the provider itself is checked by check_models at start.
        return (value.strip() or None) if value is not None else None


def describe_error(error: ValidationError) -> str:
    """One line naming each bad variable, its value and what is expected."""
    parts = []
    for item in error.errors():
        name = ENV_PREFIX + "_".join(str(p) for p in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        secret = any(word in name for word in ("URL", "KEY", "TOKEN", "PASSWORD", "SECRET"))
        # A URL or key may hold a password: name the variable, never echo its value.
        shown = f"={value!r}" if isinstance(value, str | int | float) and not secret else ""
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
