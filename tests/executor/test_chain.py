"""detect → plan → execute in-process: with the offline model, and with a fake OpenAI-compatible
server reached by configuration alone. The tools really run and their results reach the answer."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic_ai.models

from services.executor.agents.execution import ExecutionDeps, execute_plan
from services.executor.tools.providers import build_search_provider
from services.planner.agents.detection import DetectionDeps, detect_task
from services.planner.agents.planning import PlanningDeps, plan_task
from shared.agents.budgets import TaskBudget
from shared.agents.models import check_models, open_models
from shared.agents.publisher import RecordingPublisher
from shared.agents.types import ExecutionResult
from shared.config import Settings
from shared.documents import add_paths
from tests.fixtures.agent_doubles import ids

STREAMS_DOC = """# Event streams

Jarvis publishes every task event to a Redis stream; the gateway reads the streams with a few
multiplexed XREAD calls and forwards events to WebSocket clients.
"""
BUDGETS_DOC = """# Budgets

Every task has budgets for model requests, tool calls, tokens and time.
"""


async def run_chain(settings: Settings, pool, message: str) -> tuple[ExecutionResult, list]:
    async with open_models(settings) as models:
        return await _chain(settings, models, pool, message)


async def _chain(settings, models, pool, message) -> tuple[ExecutionResult, list]:
    context = ids()
    budget = TaskBudget.from_settings(settings)
    triage = await detect_task(
        message, deps=DetectionDeps(**context), model=models["detection"], budget=budget
    )
    assert triage.actionable, triage
    plan = await plan_task(
        message, deps=PlanningDeps(**context), model=models["planning"], budget=budget
    )
    publisher = RecordingPublisher()
    search = build_search_provider(settings, pool)
    deps = ExecutionDeps(**context, publisher=publisher, search=search, pool=pool)
    try:
        result = await execute_plan(
            plan, message, deps=deps, model=models["execution"], budget=budget
        )
    finally:
        await search.aclose()
    return result, publisher.events


async def test_offline_chain_over_the_local_knowledge_base(db_pool, tmp_path: Path):
    (tmp_path / "streams.md").write_text(STREAMS_DOC)
    (tmp_path / "budgets.md").write_text(BUDGETS_DOC)
    await add_paths(db_pool, [tmp_path])
    settings = Settings(model="offline", search="local")
    result, events = await run_chain(settings, db_pool, "How does the gateway read Redis streams?")
    url = (tmp_path / "streams.md").resolve().as_uri()
    assert f"[Event streams]({url})" in result.answer
    assert "multiplexed XREAD calls" in result.answer
    assert [s.url for s in result.sources] == [url]
    completed = [d for t, d in events if t == "tool_call.completed" and d["tool"] == "web_search"]
    assert completed == [{**completed[0], "summary": "1 results"}]


async def test_openai_compatible_chain_by_configuration_alone(db_pool, tmp_path, fake_openai):
    (tmp_path / "streams.md").write_text(STREAMS_DOC)
    await add_paths(db_pool, [tmp_path])
    settings = Settings(
        model="openai-chat:fake-model",
        openai_base_url=fake_openai.base_url,
        openai_api_key=None,
        search="local",
    )
    assert check_models(settings)["execution"] == "openai-chat:fake-model"
    # Tests refuse real model requests; this one goes to the local fake server.
    with pydantic_ai.models.override_allow_model_requests(True):
        result, events = await run_chain(settings, db_pool, "redis streams XREAD")
    # triage, plan, the step's search call and its report, the answer
    assert len(fake_openai.requests) == 5
    assert all(r["model"] == "fake-model" for r in fake_openai.requests)
    tool_messages = [m for m in fake_openai.requests[3]["messages"] if m["role"] == "tool"]
    payload = json.loads(tool_messages[0]["content"])
    assert payload["untrusted"] is True
    assert payload["results"][0]["title"] == "Event streams"
    assert "Found: Event streams (file://" in result.answer
    assert result.sources[0].title == "Event streams"
    started = [d for t, d in events if t == "tool_call.started"]
    assert [(d["tool"], d["args"]) for d in started] == [
        ("web_search", {"search_query": "redis streams XREAD"})
    ]
