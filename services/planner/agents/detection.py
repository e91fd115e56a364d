"""TaskDetectionAgent: is the newest message a task, and if not, the direct reply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from pydantic_ai import Agent

from shared.agents.budgets import TaskBudget
from shared.agents.conversation import ChatMessage
from shared.agents.models import AgentModel
from shared.agents.prompts import DETECTION_INSTRUCTIONS
from shared.agents.runs import run_agent
from shared.agents.types import Triage


@dataclass(frozen=True)
class DetectionDeps:
    task_id: UUID
    chat_id: UUID
    user_id: UUID


# No model here: it comes from configuration with each run.
detection_agent: Agent[DetectionDeps, Triage] = Agent(
    output_type=Triage,
    deps_type=DetectionDeps,
    instructions=DETECTION_INSTRUCTIONS,
    name="TaskDetectionAgent",
    retries=2,
)


async def detect_task(
    message: str,
    *,
    deps: DetectionDeps,
    model: AgentModel,
    budget: TaskBudget,
    history: Sequence[ChatMessage] = (),
) -> Triage:
    """Triage `message` in the light of the conversation so far (`history`, oldest first)."""
    return await run_agent(
        detection_agent, message, deps=deps, model=model, budget=budget, history=history
    )
