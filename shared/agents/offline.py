"""The offline model: a deterministic FunctionModel that drives all three agents with no network.

It goes through pydantic-ai's normal run loop like any model: it reads the prompt and the tool
results in the messages, calls the agents' real tools (web_search, mark_progress) and returns
the structured output by calling the output tool. It tells the agents apart by the output
schema it is asked for. Its name, `offline`, is what the logs and the task record show. The
rules it follows are in offline_rules.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from pydantic_ai.settings import ModelSettings

from shared.agents import offline_rules as rules
from shared.agents.prompts import (
    ACTION_LABEL,
    GOAL_LABEL,
    STEP_LABEL,
    TASK_LABEL,
    TOOL_LABEL,
    json_block,
    prompt_fields,
)

OFFLINE_MODEL_NAME = "offline"


def build_offline_model(
    settings: ModelSettings | None = None, latency: float = 0.0
) -> FunctionModel:
    """`latency`: seconds to wait before each answer, like a real model (demos, fault tests)."""

    # Async on purpose: FunctionModel runs a plain function in a worker thread, and that hop
    # cost more CPU than the answer itself (the profile in docs/benchmarks.md).
    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if latency:
            await asyncio.sleep(latency)
        return offline_response(messages, info)

    async def stream(
        messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        if latency:
            await asyncio.sleep(latency)
        async for delta in offline_stream(messages, info):
            yield delta

    return FunctionModel(
        respond, stream_function=stream, model_name=OFFLINE_MODEL_NAME, settings=settings
    )


def _prompt_index(messages: list[ModelMessage]) -> int:
    """Index of the request holding this run's prompt (the last user prompt)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, ModelRequest) and any(
            isinstance(part, UserPromptPart) for part in message.parts
        ):
            return index
    return 0


def _text(message: ModelMessage) -> str:
    parts = message.parts if isinstance(message, ModelRequest) else []
    texts = [p.content for p in parts if isinstance(p, UserPromptPart)]
    return "\n".join(text for text in texts if isinstance(text, str))


def _history(messages: list[ModelMessage]) -> list[tuple[str, str]]:
    """(role, text) of the conversation before this run's prompt."""
    pairs: list[tuple[str, str]] = []
    for message in messages[: _prompt_index(messages)]:
        if isinstance(message, ModelRequest):
            if text := _text(message):
                pairs.append(("user", text))
        else:
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
            if text:
                pairs.append(("assistant", text))
    return pairs


def _returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    """Tool returns of this run so far, oldest first."""
    found: list[ToolReturnPart] = []
    for message in messages[_prompt_index(messages) :]:
        if isinstance(message, ModelRequest):
            found += [p for p in message.parts if isinstance(p, ToolReturnPart)]
    return found


def _output(info: AgentInfo, fields: dict[str, Any]) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, fields)])


def _output_kind(info: AgentInfo) -> str:
    if not info.output_tools:
        return "text"
    properties = info.output_tools[0].parameters_json_schema.get("properties", {})
    for kind in ("actionable", "steps", "answer", "output"):
        if kind in properties:
            return kind
    return "unknown"


def offline_response(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    kind = _output_kind(info)
    prompt = _text(messages[_prompt_index(messages)]) if messages else ""
    if kind == "actionable":
        return _output(info, rules.triage(prompt, _history(messages)))
    if kind == "steps":
        return _output(info, rules.plan(prompt))
    if kind == "answer":
        fields = prompt_fields(prompt)
        results = json_block(prompt)
        results = results if isinstance(results, list) else []
        return _output(info, rules.answer(fields.get(GOAL_LABEL, "Answer"), results))
    if kind == "output":
        return _step_response(prompt, _returns(messages), info)
    return ModelResponse(parts=[TextPart("The offline model cannot answer this request.")])


def _step_response(prompt: str, returns: list[ToolReturnPart], info: AgentInfo) -> ModelResponse:
    """One step: call the tools it needs first, then report from what they returned."""
    fields = prompt_fields(prompt)
    title = fields.get(STEP_LABEL, "Step")
    tools = {tool.name for tool in info.function_tools}
    called = {part.tool_name for part in returns}
    if fields.get(TOOL_LABEL) == "web_search" and "web_search" in tools:
        query = rules.query_from_action(fields.get(ACTION_LABEL, ""), fields.get(TASK_LABEL, title))
        if "web_search" not in called:
            return ModelResponse(
                parts=[
                    ToolCallPart("mark_progress", {"message": f"Searching for “{query}”"}),
                    ToolCallPart("web_search", {"search_query": query}),
                ]
            )
        search = [part for part in returns if part.tool_name == "web_search"][-1]
        failure = None if search.outcome == "success" else str(search.content)
        return _output(info, rules.search_step_output(query, _as_data(search.content), failure))
    earlier = json_block(prompt)
    earlier = earlier if isinstance(earlier, list) else []
    if "mark_progress" in tools and "mark_progress" not in called:
        message = f"{title}: working from {len(earlier)} earlier step(s)"
        return ModelResponse(parts=[ToolCallPart("mark_progress", {"message": message})])
    if title.lower().startswith("compare"):
        return _output(info, rules.compare_step_output(title, earlier))
    return _output(info, rules.summary_step_output(earlier))


def _as_data(content: Any) -> Any:
    """A tool's return as plain data, whether it came back as an object or as JSON text."""
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:
            return content
    if hasattr(content, "model_dump"):
        return content.model_dump(mode="json")
    return content


async def offline_stream(
    messages: list[ModelMessage], info: AgentInfo
) -> AsyncIterator[str | DeltaToolCalls]:
    """The same response as offline_response, streamed as pydantic-ai's deltas."""
    response = offline_response(messages, info)
    for index, part in enumerate(response.parts):
        if isinstance(part, TextPart):
            yield part.content
        elif isinstance(part, ToolCallPart):
            yield {
                index: DeltaToolCall(
                    part.tool_name, part.args_as_json_str(), tool_call_id=part.tool_call_id
                )
            }
