"""Models by configuration: labels, per-agent overrides, and errors at start."""

from __future__ import annotations

import pytest
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel

from shared.agents.models import build_model, check_models, model_label
from shared.config import ConfigError, Settings

NO_KEYS = {"openai_api_key": None, "anthropic_api_key": None, "brave_api_key": None}


def settings(**values: object) -> Settings:
    return Settings(**{**NO_KEYS, **values})  # type: ignore[arg-type]


def test_offline_is_the_default_for_every_agent():
    config = settings(model="offline")
    assert check_models(config) == {
        "detection": "offline",
        "planning": "offline",
        "execution": "offline",
    }
    model = build_model(config, "execution").model
    assert isinstance(model, FunctionModel)
    assert model.model_name == "offline"
    assert model.function is not None and model.stream_function is not None


def test_an_empty_model_means_offline():
    assert model_label(settings(model=" "), "planning") == "offline"


def test_per_agent_models_override_the_shared_one():
    config = settings(
        model="offline",
        model_planning="openai-chat:llama3",
        openai_base_url="http://127.0.0.1:11434/v1",
        model_execution="anthropic:claude-sonnet-4-5",
        anthropic_api_key="test-key",
        model_request_timeout=7.5,
    )
    assert check_models(config) == {
        "detection": "offline",
        "planning": "openai-chat:llama3",
        "execution": "anthropic:claude-sonnet-4-5",
    }
    planning = build_model(config, "planning").model
    assert isinstance(planning, OpenAIChatModel)
    assert planning.model_name == "llama3"
    assert str(planning.client.base_url) == "http://127.0.0.1:11434/v1/"
    assert planning.settings == {"timeout": 7.5}
    assert isinstance(build_model(config, "execution").model, AnthropicModel)


def test_openai_means_the_responses_api():
    model = build_model(settings(model="openai:gpt-4o-mini", openai_api_key="k"), "detection")
    assert isinstance(model.model, OpenAIResponsesModel)
    assert model.label == "openai:gpt-4o-mini"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"model": "gemini:pro"}, "JARVIS_MODEL='gemini:pro': unknown provider 'gemini'"),
        ({"model_detection": "nope"}, "JARVIS_MODEL_DETECTION='nope': unknown provider"),
        ({"model": "openai-chat:"}, "the model name is missing"),
        ({"model": "openai:gpt-4o"}, "needs OPENAI_API_KEY"),
        ({"model_execution": "anthropic:x"}, "JARVIS_MODEL_EXECUTION=.* needs ANTHROPIC_API_KEY"),
    ],
)
def test_bad_configuration_is_a_one_line_error_at_start(values, message):
    with pytest.raises(ConfigError, match=message) as caught:
        check_models(settings(**values))
    assert "\n" not in str(caught.value)
