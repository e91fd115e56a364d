"""Budgets: which one ran out, usage shared across runs, and nothing hangs."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from shared.agents.budgets import (
    BudgetExceeded,
    BudgetLimits,
    TaskBudget,
    usage_from_dict,
    usage_to_dict,
)
from shared.agents.models import AgentModel
from shared.agents.runs import run_agent
from shared.config import Settings


def looping_agent() -> tuple[Agent[None, str], list[int]]:
    """An agent whose model calls its tool forever; `calls` counts the tool's runs."""
    calls: list[int] = []
    agent: Agent[None, str] = Agent(output_type=str)

    @agent.tool_plain
    def ping() -> str:
        calls.append(1)
        return "pong"

    return agent, calls


def model(function) -> AgentModel:
    async def no_stream(messages, info):  # pragma: no cover - these runs do not stream
        raise AssertionError("unexpected streaming")
        yield ""

    return AgentModel("execution", "test", FunctionModel(function, stream_function=no_stream))


def call_ping(messages, info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart("ping", {})])


async def test_tool_call_budget_stops_before_the_tool_runs_past_it():
    agent, calls = looping_agent()
    budget = TaskBudget(BudgetLimits(requests=100, tool_calls=3, tokens=10**9, seconds=30))
    with pytest.raises(BudgetExceeded) as caught:
        await run_agent(agent, "go", deps=None, model=model(call_ping), budget=budget)
    assert caught.value.budget == "tool_calls"
    assert len(calls) == 3
    assert budget.as_dict()["tool_calls"] == 3


async def test_request_budget():
    agent, _ = looping_agent()
    budget = TaskBudget(BudgetLimits(requests=4, tool_calls=100, tokens=10**9, seconds=30))
    with pytest.raises(BudgetExceeded) as caught:
        await run_agent(agent, "go", deps=None, model=model(call_ping), budget=budget)
    assert caught.value.budget == "requests"
    assert budget.usage.requests == 4


async def test_token_budget():
    def wordy(messages, info):
        return ModelResponse(
            parts=[ToolCallPart("ping", {})],
            usage=RequestUsage(input_tokens=400, output_tokens=200),
        )

    agent, _ = looping_agent()
    budget = TaskBudget(BudgetLimits(requests=100, tool_calls=100, tokens=1000, seconds=30))
    with pytest.raises(BudgetExceeded) as caught:
        await run_agent(agent, "go", deps=None, model=model(wordy), budget=budget)
    assert caught.value.budget == "tokens"


async def test_a_hanging_model_ends_at_the_run_timeout():
    async def hang(messages, info):
        await asyncio.Event().wait()

    agent, _ = looping_agent()
    budget = TaskBudget(BudgetLimits(seconds=30), run_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(BudgetExceeded) as caught:
        await run_agent(agent, "go", deps=None, model=model(hang), budget=budget)
    assert caught.value.budget == "time"
    assert "one agent run may take 0.2 s" in str(caught.value)
    assert time.monotonic() - started < 5


async def test_the_task_deadline_bounds_every_run():
    agent, _ = looping_agent()
    budget = TaskBudget(BudgetLimits(seconds=30), deadline=time.time() - 1)
    with pytest.raises(BudgetExceeded, match="time budget exceeded"):
        await run_agent(agent, "go", deps=None, model=model(call_ping), budget=budget)


async def test_usage_accumulates_across_the_runs_of_a_task():
    def answer(messages, info):
        return ModelResponse(
            parts=[TextPart("done")], usage=RequestUsage(input_tokens=10, output_tokens=5)
        )

    agent: Agent[None, str] = Agent(output_type=str)
    budget = TaskBudget(BudgetLimits(requests=2, tool_calls=10, tokens=10**6, seconds=30))
    for _ in range(2):
        assert await run_agent(agent, "go", deps=None, model=model(answer), budget=budget) == "done"
    assert budget.as_dict() == {
        "requests": 2,
        "tool_calls": 0,
        "input_tokens": 20,
        "output_tokens": 10,
    }
    with pytest.raises(BudgetExceeded, match="requests"):
        await run_agent(agent, "go", deps=None, model=model(answer), budget=budget)


def test_usage_round_trips_and_resumes_from_the_record():
    recorded = {"requests": 3, "tool_calls": 2, "input_tokens": 100, "output_tokens": 40}
    assert usage_to_dict(usage_from_dict(recorded)) == recorded
    budget = TaskBudget.from_settings(Settings(budget_requests=5), usage=recorded)
    assert budget.usage.requests == 3
    assert budget.run_kwargs()["usage_limits"].request_limit == 5


def test_defaults_stop_a_runaway_task():
    limits = BudgetLimits.from_settings(Settings())
    assert 0 < limits.requests <= 100
    assert 0 < limits.tool_calls <= 100
    assert 0 < limits.seconds <= 600
