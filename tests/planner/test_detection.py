"""TaskDetectionAgent with the offline model and with a scripted model."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import FunctionModel

from services.planner.agents.detection import DetectionDeps, detect_task
from shared.agents.budgets import BudgetLimits, TaskBudget
from shared.agents.conversation import ChatMessage
from shared.agents.models import AgentModel, build_model
from shared.agents.types import Triage
from shared.config import Settings


@pytest.fixture
def deps() -> DetectionDeps:
    return DetectionDeps(task_id=uuid.uuid4(), chat_id=uuid.uuid4(), user_id=uuid.uuid4())


@pytest.fixture
def offline() -> AgentModel:
    return build_model(Settings(model="offline"), "detection")


def budget() -> TaskBudget:
    return TaskBudget(BudgetLimits())


async def test_a_greeting_gets_a_direct_reply(deps, offline):
    triage = await detect_task("Good morning!", deps=deps, model=offline, budget=budget())
    assert triage.actionable is False
    assert triage.reply and "Jarvis" in triage.reply
    assert offline.label == "offline"


async def test_a_request_is_a_task(deps, offline):
    task_budget = budget()
    triage = await detect_task(
        "Find out how the gateway streams events", deps=deps, model=offline, budget=task_budget
    )
    assert triage.actionable is True
    assert "\n" not in triage.reason
    assert task_budget.as_dict()["requests"] == 1


async def test_a_question_about_the_conversation_is_answered_from_the_history(deps, offline):
    history = [
        ChatMessage("user", "Which queue library do we use?"),
        ChatMessage("assistant", "We use arq."),
    ]
    triage = await detect_task(
        "What did you just say?", deps=deps, model=offline, budget=budget(), history=history
    )
    assert triage.actionable is False
    assert "We use arq." in (triage.reply or "")


async def test_not_a_task_without_a_reply_is_sent_back_to_the_model(deps):
    outputs = [
        {"actionable": False, "reason": "small talk"},
        {"actionable": False, "reason": "small talk", "reply": "Hi!"},
    ]

    def scripted(messages, info):
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, outputs.pop(0))])

    model = AgentModel("detection", "scripted", FunctionModel(scripted))
    triage = await detect_task("hi", deps=deps, model=model, budget=budget())
    assert triage.reply == "Hi!"
    assert outputs == []


def test_triage_rules():
    with pytest.raises(ValidationError, match="needs a direct `reply`"):
        Triage(actionable=False, reason="x")
    triage = Triage(actionable=True, reason="line one\nline two", reply="dropped")
    assert triage.reason == "line one line two"
    assert triage.reply is None
