"""The offline model's documented rules, and that it drives agents plainly and streaming."""

from __future__ import annotations

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import FunctionToolCallEvent, ModelResponse

from shared.agents import offline_rules as rules
from shared.agents.offline import build_offline_model
from shared.agents.types import StepReport, TaskPlan, Triage


@pytest.mark.parametrize(
    ("message", "reply_part"),
    [
        ("Hello!", "Hello! I'm Jarvis"),
        ("hey there jarvis", "Hello! I'm Jarvis"),
        ("thanks a lot :)", "You're welcome"),
        ("ok bye", "Goodbye"),
        ("how are you?", "running fine"),
        ("???", "what you need"),
    ],
)
def test_small_talk_is_not_a_task(message, reply_part):
    triage = Triage.model_validate(rules.triage(message, []))
    assert triage.actionable is False
    assert reply_part in (triage.reply or "")


@pytest.mark.parametrize(
    "message",
    [
        "How are budgets enforced?",
        "hello, find the redis stream docs",
        "thanks, now compare arq and celery",
    ],
)
def test_requests_are_tasks(message):
    triage = Triage.model_validate(rules.triage(message, []))
    assert triage.actionable is True
    assert triage.reply is None


def test_questions_about_the_conversation_are_answered_from_it():
    history = [("user", "What is arq?"), ("assistant", "arq is a job queue.")]
    asked = Triage.model_validate(rules.triage("What did I just ask?", history))
    assert asked.actionable is False
    assert "What is arq?" in (asked.reply or "")
    said = Triage.model_validate(rules.triage("what did you say?", history))
    assert "arq is a job queue." in (said.reply or "")
    empty = Triage.model_validate(rules.triage("what was my last question", []))
    assert "haven't talked" in (empty.reply or "")


def test_a_comparison_plans_two_searches_a_comparison_and_a_summary():
    plan = TaskPlan.model_validate(rules.plan("Please compare Redis streams vs Kafka topics"))
    assert [s.tool for s in plan.steps] == ["web_search", "web_search", None, None]
    assert [s.action for s in plan.steps[:2]] == [
        "Search for: Redis streams",
        "Search for: Kafka topics",
    ]
    assert plan.steps[2].title == "Compare Redis streams and Kafka topics"


def test_several_questions_plan_one_search_each_within_the_step_limit():
    plan = TaskPlan.model_validate(rules.plan("What is arq? What is yoyo? How do budgets work?"))
    assert [s.action for s in plan.steps] == [
        "Search for: arq",
        "Search for: yoyo",
        "Search for: budgets work",
        "Summarise what the searches found, citing the sources",
    ]
    many = TaskPlan.model_validate(rules.plan(" ".join(f"What is x{n}?" for n in range(20))))
    assert len(many.steps) == 8


def test_a_plain_request_plans_a_search_and_a_summary():
    plan = TaskPlan.model_validate(rules.plan("Tell me about the embedded postgres wheel."))
    assert [s.action for s in plan.steps] == [
        "Search for: the embedded postgres wheel",
        "Summarise what the searches found, citing the sources",
    ]


async def test_the_streaming_function_gives_the_same_output():
    agent: Agent[None, Triage] = Agent(output_type=Triage)
    model = build_offline_model()
    plain = await agent.run("hi", model=model)
    events = []

    async def handler(ctx, stream):
        async for event in stream:
            events.append(event)

    streamed = await agent.run("hi", model=model, event_stream_handler=handler)
    assert streamed.output == plain.output
    assert streamed.output.actionable is False
    assert events, "the streaming path produced events"
    responses = [m for m in streamed.new_messages() if isinstance(m, ModelResponse)]
    assert [r.model_name for r in responses] == ["offline"]


async def test_a_step_calls_its_tools_and_reports_what_they_returned():
    agent: Agent[None, StepReport] = Agent(output_type=StepReport)
    searched: list[str] = []

    @agent.tool_plain
    def web_search(search_query: str, freshness: str = "pw") -> dict:
        searched.append(search_query)
        return {"results": [{"title": "Doc", "url": "https://d", "snippet": "about kiwis"}]}

    @agent.tool_plain
    def mark_progress(message: str) -> str:
        return "ok"

    prompt = (
        "Task: kiwis\nGoal: kiwis\nCurrent step 1 of 2: Search for kiwis\n"
        "What to do: Search for: kiwi birds\nExpected tool: web_search\nExpected output: results"
    )
    calls = []

    async def handler(ctx, stream):
        async for event in stream:
            if isinstance(event, FunctionToolCallEvent):
                calls.append(event.part.tool_name)

    result = await agent.run(prompt, model=build_offline_model(), event_stream_handler=handler)
    assert searched == ["kiwi birds"]
    assert calls == ["mark_progress", "web_search"]
    assert "[Doc](https://d): about kiwis" in result.output.output
    assert [s.url for s in result.output.sources] == ["https://d"]
