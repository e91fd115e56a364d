"""PlanningAgent: the goal of a task and 1 to 8 ordered steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from pydantic_ai import Agent

from shared.agents.budgets import TaskBudget
from shared.agents.conversation import ChatMessage
from shared.agents.models import AgentModel
from shared.agents.prompts import PLANNING_INSTRUCTIONS
from shared.agents.runs import run_agent
from shared.agents.types import TaskPlan


@dataclass(frozen=True)
class PlanningDeps:
    task_id: UUID
    chat_id: UUID
    user_id: UUID


planning_agent: Agent[PlanningDeps, TaskPlan] = Agent(
    output_type=TaskPlan,
    deps_type=PlanningDeps,
    instructions=PLANNING_INSTRUCTIONS,
    name="PlanningAgent",
    retries=2,
)


async def plan_task(
    message: str,
    *,
    deps: PlanningDeps,
    model: AgentModel,
    budget: TaskBudget,
    history: Sequence[ChatMessage] = (),
) -> TaskPlan:
    """Plan how to carry out `message`, with the conversation so far as context."""
    return await run_agent(
        planning_agent, message, deps=deps, model=model, budget=budget, history=history
    )
