"""ExecutionAgent and the runner that carries out a plan step by step.

Each step is one agent run with the tools web_search and mark_progress; a last run writes the
answer from every step's result. The runner publishes step.* and tool_call.* events as the tools
run, and is resumable: steps already completed (their StepResult recorded by the caller through
`on_step_completed`) are skipped when a job runs again.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from pydantic_ai import Agent, RunContext
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.messages import FunctionToolCallEvent, FunctionToolResultEvent

from services.executor.tools import progress
from services.executor.tools.search import SearchError, SearchProvider
from services.executor.tools.search import web_search as search_web
from shared.agents.budgets import TaskBudget
from shared.agents.conversation import ChatMessage, to_model_history
from shared.agents.models import AgentModel
from shared.agents.prompts import EXECUTION_INSTRUCTIONS, answer_prompt, step_prompt
from shared.agents.publisher import (
    STEP_COMPLETED,
    STEP_FAILED,
    STEP_STARTED,
    TASK_RETRYING,
    TOOL_CALL_COMPLETED,
    TOOL_CALL_FAILED,
    TOOL_CALL_STARTED,
    EventPublisher,
)
from shared.agents.types import ExecutionResult, StepReport, StepResult, TaskPlan
from shared.event_log import TaskEnded
from shared.logging import get_logger

log = get_logger(__name__)

MAX_EVENT_TEXT = 1000


@dataclass(frozen=True)
class ExecutionDeps:
    task_id: UUID
    chat_id: UUID
    user_id: UUID
    publisher: EventPublisher
    search: SearchProvider
    pool: asyncpg.Pool | None = None
    search_max_results: int = 5
    search_timeout: float = 10.0
    step: int | None = None  # the step being carried out; None while writing the answer
    # Numbers this run's mark_progress calls 0, 1, 2...: with the step, the note's dedupe key,
    # so a step run again (after a SIGKILL) does not show its notes twice. New for each run.
    progress_notes: Iterator[int] = field(default_factory=itertools.count)


execution_agent: Agent[ExecutionDeps, StepReport] = Agent(
    output_type=StepReport,
    deps_type=ExecutionDeps,
    instructions=EXECUTION_INSTRUCTIONS,
    name="ExecutionAgent",
    retries=2,
)


@execution_agent.tool
async def web_search(
    ctx: RunContext[ExecutionDeps], search_query: str, freshness: str = "pw"
) -> dict[str, Any]:
    """Search the web (or the local knowledge base) and return results as untrusted data.

    Args:
        search_query: What to search for.
        freshness: How recent results must be: pd (day), pw (week), pm (month), py (year).
    """
    deps = ctx.deps

    async def retrying(attempt: int, delay: float, error: SearchError) -> None:
        # A transient search failure is tried again after a backoff; the user sees each retry.
        await deps.publisher.publish(
            TASK_RETRYING,
            {
                "stage": "executing",
                "step": deps.step,
                "tool": "web_search",
                "tool_call_id": ctx.tool_call_id,
                "attempt": attempt,
                "reason": str(error),
                "delay": round(delay, 3),
            },
        )

    try:
        return await search_web(
            deps.search,
            search_query,
            freshness,
            user_id=deps.user_id,
            max_results=deps.search_max_results,
            seconds=deps.search_timeout,
            on_retry=retrying,
        )
    except SearchError as error:
        # The model sees the failure and can try another query or go on without results.
        raise ToolFailed(f"web_search failed: {error}") from error


@execution_agent.tool
async def mark_progress(ctx: RunContext[ExecutionDeps], message: str) -> str:
    """Show the user a short note on what you are doing now.

    Args:
        message: One short sentence.
    """
    note = next(ctx.deps.progress_notes)
    return await progress.mark_progress(ctx.deps.publisher, ctx.deps.step, note, message)


def _capped(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= MAX_EVENT_TEXT:
        return value
    return text[: MAX_EVENT_TEXT - 1] + "…"


def _summary(content: Any) -> str:
    if isinstance(content, dict) and isinstance(content.get("results"), list):
        return f"{len(content['results'])} results"
    return str(_capped(content))


async def publish_tool_event(publisher: EventPublisher, step: int | None, event: Any) -> None:
    """tool_call.started / .completed / .failed for a function tool event."""
    if isinstance(event, FunctionToolCallEvent):
        try:
            args: Any = event.part.args_as_dict()
        except ValueError:
            args = event.part.args
        data = {"step": step, "tool": event.part.tool_name, "tool_call_id": event.tool_call_id}
        await publisher.publish(TOOL_CALL_STARTED, {**data, "args": _capped(args)})
    elif isinstance(event, FunctionToolResultEvent):
        part = event.part
        data = {"step": step, "tool": part.tool_name, "tool_call_id": part.tool_call_id}
        if part.outcome == "success":
            summary = _summary(part.content)
            await publisher.publish(TOOL_CALL_COMPLETED, {**data, "summary": summary})
        else:
            error = _capped(str(part.content))
            await publisher.publish(TOOL_CALL_FAILED, {**data, "error": error})


async def _run(
    prompt: str,
    *,
    deps: ExecutionDeps,
    model: AgentModel,
    budget: TaskBudget,
    history: Sequence[ChatMessage],
    output_type: type[Any],
) -> Any:
    """One run of ExecutionAgent, publishing tool events as the tools run."""
    kwargs = budget.run_kwargs()
    with budget.enforce():
        async with execution_agent.iter(
            prompt,
            deps=deps,
            model=model.model,
            output_type=output_type,
            message_history=to_model_history(history),
            **kwargs,
        ) as run:
            async for node in run:
                if Agent.is_call_tools_node(node):
                    async with node.stream(run.ctx) as events:
                        async for event in events:
                            await publish_tool_event(deps.publisher, deps.step, event)
    assert run.result is not None
    return run.result.output


StepCallback = Callable[[StepResult], Awaitable[None]]
BeforeStep = Callable[[int], Awaitable[None]]


async def execute_plan(
    plan: TaskPlan,
    message: str,
    *,
    deps: ExecutionDeps,
    model: AgentModel,
    budget: TaskBudget,
    history: Sequence[ChatMessage] = (),
    completed: Mapping[int, StepResult] | None = None,
    on_step_completed: StepCallback | None = None,
    before_step: BeforeStep | None = None,
) -> ExecutionResult:
    """Carry out `plan` for `message` step by step and write the answer.

    `completed` holds the results of steps finished by an earlier attempt; they are skipped.
    `on_step_completed` is awaited with each new result before the next step starts (persist it
    there, with its step.completed event; without it the runner publishes that event);
    `before_step(index)` is awaited before each step (check for cancellation there).
    Raises BudgetExceeded when a budget runs out; model errors propagate. A failing step
    publishes step.failed before the error propagates.
    """
    results: dict[int, StepResult] = dict(completed or {})
    for index, step in enumerate(plan.steps):
        if index in results:
            continue
        if before_step is not None:
            await before_step(index)
        await deps.publisher.publish(STEP_STARTED, {"step": index, "title": step.title})
        earlier = [results[i] for i in sorted(results) if i < index]
        try:
            report: StepReport = await _run(
                step_prompt(message, plan, index, earlier),
                deps=dataclasses.replace(deps, step=index, progress_notes=itertools.count()),
                model=model,
                budget=budget,
                history=history,
                output_type=StepReport,
            )
        except TaskEnded:
            raise  # ended from outside (deadline, cancel): nothing more can be recorded
        except Exception as error:
            data = {"step": index, "title": step.title, "error": _capped(str(error))}
            await deps.publisher.publish(STEP_FAILED, data)
            raise
        result = StepResult(
            index=index, title=step.title, output=report.output, sources=report.sources
        )
        results[index] = result
        if on_step_completed is not None:
            await on_step_completed(result)  # records step.completed with the step's result
        else:
            await deps.publisher.publish(STEP_COMPLETED, result_event(result))
        log.info("step completed", task_id=str(deps.task_id), step=index, model=model.label)
    ordered = [results[i] for i in sorted(results) if i < len(plan.steps)]
    answer: ExecutionResult = await _run(
        answer_prompt(message, plan, ordered),
        deps=dataclasses.replace(deps, step=None, progress_notes=itertools.count()),
        model=model,
        budget=budget,
        history=history,
        output_type=ExecutionResult,
    )
    log.info("plan executed", task_id=str(deps.task_id), model=model.label, usage=budget.as_dict())
    return answer


def result_event(result: StepResult) -> dict[str, Any]:
    """The data of step.completed: the step's index, title, output (capped) and sources."""
    return {
        "step": result.index,
        "title": result.title,
        "output": _capped(result.output),
        "sources": [source.model_dump() for source in result.sources],
    }
