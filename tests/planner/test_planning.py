"""PlanningAgent with the offline model; the TaskPlan schema's limits."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from services.planner.agents.planning import PlanningDeps, plan_task
from shared.agents.budgets import BudgetLimits, TaskBudget
from shared.agents.models import build_model
from shared.agents.types import PlanStep, TaskPlan
from shared.config import Settings


@pytest.fixture
def deps() -> PlanningDeps:
    return PlanningDeps(task_id=uuid.uuid4(), chat_id=uuid.uuid4(), user_id=uuid.uuid4())


async def test_the_offline_planner_plans_from_the_message(deps):
    model = build_model(Settings(model="offline"), "planning")
    plan = await plan_task(
        "What is the difference between arq and celery?",
        deps=deps,
        model=model,
        budget=TaskBudget(BudgetLimits()),
    )
    assert plan.goal == "What is the difference between arq and celery?"
    assert [(s.tool, s.action) for s in plan.steps[:2]] == [
        ("web_search", "Search for: arq"),
        ("web_search", "Search for: celery"),
    ]
    assert plan.steps[2].title.startswith("Compare")
    assert plan.steps[-1].tool is None
    # The plan travels as JSON in the executor's job.
    assert TaskPlan.model_validate_json(plan.model_dump_json()) == plan


def step(n: int) -> PlanStep:
    return PlanStep(title=f"s{n}", action="do", expected_output="out")


def test_a_plan_has_one_to_eight_steps():
    TaskPlan(goal="g", steps=[step(n) for n in range(8)])
    with pytest.raises(ValidationError):
        TaskPlan(goal="g", steps=[])
    with pytest.raises(ValidationError):
        TaskPlan(goal="g", steps=[step(n) for n in range(9)])
    with pytest.raises(ValidationError):
        PlanStep(title="t", action="a", tool="shell", expected_output="o")  # type: ignore[arg-type]
