"""ExecutionAgent's runner with the offline model: events, tools, resuming, failures."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from services.executor.agents.execution import (
    ExecutionDeps,
    execute_plan,
    execution_agent,
    result_event,
)
from shared.agents.budgets import BudgetExceeded, BudgetLimits, TaskBudget
from shared.agents.models import AgentModel, build_model
from shared.agents.offline import offline_response
from shared.agents.publisher import RecordingPublisher
from shared.agents.types import PlanStep, SearchResult, Source, StepResult, TaskPlan
from shared.config import Settings
from tests.fixtures.agent_doubles import StaticSearch, ids

PLAN = TaskPlan(
    goal="Learn about kiwis",
    steps=[
        PlanStep(
            title="Search for kiwis",
            action="Search for: kiwi birds",
            tool="web_search",
            expected_output="results",
        ),
        PlanStep(title="Summarise the findings", action="Summarise", expected_output="summary"),
    ],
)
KIWI = SearchResult(title="Kiwi", url="https://birds.example/kiwi", snippet="Kiwis cannot fly.")


@pytest.fixture
def model():
    return build_model(Settings(model="offline"), "execution")


def deps_for(search, publisher=None) -> ExecutionDeps:
    return ExecutionDeps(**ids(), publisher=publisher or RecordingPublisher(), search=search)


def budget(**limits) -> TaskBudget:
    return TaskBudget(BudgetLimits(**limits))


async def test_the_plan_runs_step_by_step_with_events_and_a_cited_answer(model):
    search = StaticSearch({"kiwi": [KIWI]})
    publisher = RecordingPublisher()
    deps = deps_for(search, publisher)
    persisted: list[tuple[int, int]] = []

    async def persist(result: StepResult) -> None:
        # As the executor's job does: store the result, and step.completed with it.
        persisted.append((result.index, len(publisher.events)))
        await publisher.publish("step.completed", result_event(result))

    task_budget = budget()
    result = await execute_plan(
        PLAN, "Tell me about kiwis", deps=deps, model=model, budget=task_budget,
        on_step_completed=persist,
    )  # fmt: skip
    assert search.calls == [{"query": "kiwi birds", "freshness": "pw", "user_id": deps.user_id}]
    assert publisher.types() == [
        "step.started",
        "tool_call.started",
        "tool_call.started",
        "progress",
        "tool_call.completed",
        "tool_call.completed",
        "step.completed",
        "step.started",
        "tool_call.started",
        "progress",
        "tool_call.completed",
        "step.completed",
    ]
    # Each result is handed over before its step.completed and before the next step starts.
    assert persisted == [(0, 6), (1, 11)]
    started = publisher.of_type("tool_call.started")
    assert [e["tool"] for e in started] == ["mark_progress", "web_search", "mark_progress"]
    assert started[1]["args"] == {"search_query": "kiwi birds"}
    assert publisher.of_type("tool_call.completed")[1]["summary"] == "1 results"
    assert publisher.of_type("step.completed")[0]["sources"] == [
        {"title": "Kiwi", "url": "https://birds.example/kiwi"}
    ]
    assert "[Kiwi](https://birds.example/kiwi)" in result.answer
    assert "Kiwis cannot fly." in result.answer
    assert result.sources == [Source(title="Kiwi", url="https://birds.example/kiwi")]
    assert task_budget.as_dict()["tool_calls"] == 3


async def test_completed_steps_are_skipped_when_the_job_runs_again(model):
    search = StaticSearch({"kiwi": [KIWI]})
    publisher = RecordingPublisher()
    done = StepResult(
        index=0,
        title="Search for kiwis",
        output="Search results:\n\n1. [Kiwi](https://birds.example/kiwi): Kiwis cannot fly.",
        sources=[Source(title="Kiwi", url="https://birds.example/kiwi")],
    )
    result = await execute_plan(
        PLAN, "kiwis", deps=deps_for(search, publisher), model=model, budget=budget(),
        completed={0: done},
    )  # fmt: skip
    assert search.calls == []
    assert [e["step"] for e in publisher.of_type("step.started")] == [1]
    assert "Kiwis cannot fly." in result.answer
    assert result.sources[0].url == "https://birds.example/kiwi"


async def test_a_failing_provider_is_a_tool_error_the_model_works_around(model):
    publisher = RecordingPublisher()
    result = await execute_plan(
        PLAN, "kiwis", deps=deps_for(StaticSearch(fail=True), publisher), model=model,
        budget=budget(),
    )  # fmt: skip
    failed = publisher.of_type("tool_call.failed")
    assert [(e["tool"], e["step"]) for e in failed] == [("web_search", 0)]
    assert "static search is down" in failed[0]["error"]
    assert "step.failed" not in publisher.types()
    assert (
        "failed: web_search failed: static search is down"
        in publisher.of_type("step.completed")[0]["output"]
    )
    assert result.sources == []


async def test_a_budget_running_out_fails_the_step_and_names_the_budget(model):
    publisher = RecordingPublisher()
    persisted: list[int] = []

    async def persist(result: StepResult) -> None:
        persisted.append(result.index)

    with pytest.raises(BudgetExceeded) as caught:
        await execute_plan(
            PLAN, "kiwis", deps=deps_for(StaticSearch(), publisher), model=model,
            budget=budget(requests=3), on_step_completed=persist,
        )  # fmt: skip
    assert caught.value.budget == "requests"
    assert persisted == [0]
    failed = publisher.of_type("step.failed")
    assert [e["step"] for e in failed] == [1]
    assert "requests budget exceeded" in failed[0]["error"]
    assert publisher.types()[-1] == "step.failed"


async def test_before_step_can_stop_the_run_between_steps(model):
    class Cancelled(Exception):
        pass

    async def before_step(index: int) -> None:
        if index == 1:
            raise Cancelled

    publisher = RecordingPublisher()
    with pytest.raises(Cancelled):
        await execute_plan(
            PLAN, "kiwis", deps=deps_for(StaticSearch(), publisher), model=model,
            budget=budget(), before_step=before_step,
        )  # fmt: skip
    assert [e["step"] for e in publisher.of_type("step.started")] == [0]


async def test_the_model_cannot_supply_context_to_the_tools():
    seen: dict[str, set[str]] = {}

    def record(messages, info: AgentInfo) -> ModelResponse:
        for tool in info.function_tools:
            seen[tool.name] = set(tool.parameters_json_schema["properties"])
        report = {"output": "nothing", "sources": []}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, report)])

    await execution_agent.run("x", model=FunctionModel(record), deps=deps_for(StaticSearch()))
    assert seen == {"web_search": {"search_query", "freshness"}, "mark_progress": {"message"}}


async def test_a_hanging_tool_ends_the_run_at_its_timeout(model):
    class HangingSearch(StaticSearch):
        async def search(self, query, **kwargs):
            await asyncio.Event().wait()

    publisher = RecordingPublisher()
    deps = dataclasses.replace(deps_for(HangingSearch(), publisher), search_timeout=60)
    started = time.monotonic()
    with pytest.raises(BudgetExceeded) as caught:
        await execute_plan(
            PLAN, "kiwis", deps=deps, model=model,
            budget=TaskBudget(BudgetLimits(), run_timeout=0.3),
        )  # fmt: skip
    assert caught.value.budget == "time"
    assert time.monotonic() - started < 10
    assert publisher.types()[-1] == "step.failed"


async def test_progress_notes_are_numbered_within_each_step_run():
    """A note's number (with its step) is its dedupe key: a re-run step's notes are the ones
    already shown. Numbers start at 0 in each step's run."""

    def chatty(messages, info: AgentInfo) -> ModelResponse:
        # Two notes before the step's own work, then as the offline model would go on.
        if not any(isinstance(message, ModelResponse) for message in messages):
            notes = [ToolCallPart("mark_progress", {"message": m}) for m in ("one", "two")]
            return ModelResponse(parts=notes)
        return offline_response(messages, info)

    publisher = RecordingPublisher()
    model = AgentModel("execution", "chatty", FunctionModel(chatty))
    deps = deps_for(StaticSearch({"kiwi": [KIWI]}), publisher)
    await execute_plan(PLAN, "Tell me about kiwis", deps=deps, model=model, budget=budget())

    notes = [(e["step"], e["note"], e["message"]) for e in publisher.of_type("progress")]
    assert notes[:2] == [(0, 0, "one"), (0, 1, "two")]
    numbers = [(step, note) for step, note, _ in notes]
    # Step 0 adds the offline model's own note; the answer's run (step None) counts anew too.
    assert numbers == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (None, 0), (None, 1)], notes


async def test_a_transient_search_failure_is_retried_and_each_retry_is_visible(model):
    publisher = RecordingPublisher()
    search = StaticSearch({"kiwi": [KIWI]}, transient_failures=1)
    result = await execute_plan(
        PLAN, "kiwis", deps=deps_for(search, publisher), model=model, budget=budget()
    )
    [retry] = publisher.of_type("task.retrying")
    assert retry["tool"] == "web_search" and retry["attempt"] == 2 and retry["step"] == 0
    assert "HTTP 503" in retry["reason"] and retry["delay"] > 0
    started = publisher.of_type("tool_call.started")
    assert retry["tool_call_id"] in {e["tool_call_id"] for e in started}
    # The retried call succeeded: no failed tool call, and its results reached the answer.
    assert "tool_call.failed" not in publisher.types()
    assert KIWI.url in {source.url for source in result.sources}
