"""One agent run within a task's budget, logged with the model that made it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic_ai import Agent

from shared.agents.budgets import TaskBudget
from shared.agents.conversation import ChatMessage, to_model_history
from shared.agents.models import AgentModel
from shared.logging import get_logger

OutputT = TypeVar("OutputT")
DepsT = TypeVar("DepsT")

log = get_logger(__name__)


async def run_agent(
    agent: Agent[DepsT, OutputT],
    prompt: str,
    *,
    deps: DepsT,
    model: AgentModel,
    budget: TaskBudget,
    history: Sequence[ChatMessage] = (),
) -> OutputT:
    """Run `agent` to its output; raise BudgetExceeded when the task's budget runs out.

    Model and provider errors (pydantic_ai.exceptions.AgentRunError subclasses) propagate.
    """
    kwargs: dict[str, Any] = budget.run_kwargs()
    with budget.enforce():
        result = await agent.run(
            prompt,
            deps=deps,
            model=model.model,
            message_history=to_model_history(history),
            **kwargs,
        )
    log.info("agent run finished", agent=agent.name, model=model.label, usage=budget.as_dict())
    return result.output
