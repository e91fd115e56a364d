"""Which model drives which agent, from configuration.

JARVIS_MODEL sets every agent's model; JARVIS_MODEL_DETECTION / _PLANNING / _EXECUTION override
one agent. Supported: `offline` (the default, no network), `openai:<model>` (Responses API),
`openai-chat:<model>` (Chat Completions; with JARVIS_OPENAI_BASE_URL any OpenAI-compatible server)
and `anthropic:<model>`. Keys come from OPENAI_API_KEY and ANTHROPIC_API_KEY. Call
`check_models(settings)` at start so a bad value stops the process, not the first task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings

from shared.agents.offline import OFFLINE_MODEL_NAME, build_offline_model
from shared.config import ENV_PREFIX, ConfigError, Settings

AgentRole = Literal["detection", "planning", "execution"]
ROLES: tuple[AgentRole, ...] = ("detection", "planning", "execution")
PROVIDERS = ("openai", "openai-chat", "anthropic")


@dataclass(frozen=True)
class AgentModel:
    role: AgentRole
    label: str  # what logs and the task record show: "offline", "openai-chat:gpt-4o-mini"
    model: Model


def model_spec(settings: Settings, role: AgentRole) -> tuple[str, str]:
    """(variable, value) of the model configured for `role`."""
    specific: str | None = getattr(settings, f"model_{role}")
    if specific:
        return f"{ENV_PREFIX}MODEL_{role.upper()}", specific
    return f"{ENV_PREFIX}MODEL", settings.model


def model_label(settings: Settings, role: AgentRole) -> str:
    """The model's name to record with the task, e.g. "offline" or "openai-chat:gpt-4o-mini"."""
    return model_spec(settings, role)[1]


def _parse(variable: str, spec: str) -> tuple[str, str]:
    if spec == OFFLINE_MODEL_NAME:
        return OFFLINE_MODEL_NAME, ""
    provider, _, name = spec.partition(":")
    if provider not in PROVIDERS:
        raise ConfigError(
            f"configuration error: {variable}={spec!r}: unknown provider {provider!r}; expected "
            "offline, openai:<model>, openai-chat:<model> or anthropic:<model>"
        )
    if not name.strip():
        raise ConfigError(f"configuration error: {variable}={spec!r}: the model name is missing")
    return provider, name.strip()


def build_model(settings: Settings, role: AgentRole) -> AgentModel:
    """The model for `role`; raises ConfigError on an unknown provider or a missing key."""
    variable, spec = model_spec(settings, role)
    provider, name = _parse(variable, spec)
    model_settings = ModelSettings(timeout=settings.model_request_timeout)
    model: Model
    if provider == OFFLINE_MODEL_NAME:
        model = build_offline_model(model_settings, latency=settings.offline_latency)
    elif provider in ("openai", "openai-chat"):
        from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if key is None and settings.openai_base_url is None:
            raise ConfigError(
                f"configuration error: {variable}={spec!r} needs OPENAI_API_KEY "
                f"(or {ENV_PREFIX}OPENAI_BASE_URL for a local OpenAI-compatible server)"
            )
        # Local OpenAI-compatible servers often need no key, but the client wants one.
        openai = OpenAIProvider(base_url=settings.openai_base_url, api_key=key or "not-needed")
        # Our stages are the one retry policy (backoff, task.retrying, JARVIS_MAX_JOB_TRIES): the
        # SDK's own silent retries would multiply the tries and hide them.
        openai.client.max_retries = 0
        model_class = OpenAIChatModel if provider == "openai-chat" else OpenAIResponsesModel
        model = model_class(name, provider=openai, settings=model_settings)
    else:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        if settings.anthropic_api_key is None:
            raise ConfigError(f"configuration error: {variable}={spec!r} needs ANTHROPIC_API_KEY")
        anthropic = AnthropicProvider(api_key=settings.anthropic_api_key.get_secret_value())
        anthropic.client.max_retries = 0  # as for OpenAI above
        model = AnthropicModel(name, provider=anthropic, settings=model_settings)
    return AgentModel(role=role, label=spec, model=model)


def build_models(settings: Settings) -> dict[AgentRole, AgentModel]:
    """Every agent's model; one per distinct specification is enough, but each is cheap."""
    return {role: build_model(settings, role) for role in ROLES}


@asynccontextmanager
async def open_models(settings: Settings) -> AsyncIterator[dict[AgentRole, AgentModel]]:
    """Every agent's model, with the providers' HTTP clients closed on exit (for workers)."""
    models = build_models(settings)
    async with AsyncExitStack() as stack:
        for agent_model in models.values():
            await stack.enter_async_context(agent_model.model)
        yield models


def check_models(settings: Settings) -> dict[AgentRole, str]:
    """Fail at start on a bad model configuration; returns each agent's model label."""
    return {role: agent_model.label for role, agent_model in build_models(settings).items()}
