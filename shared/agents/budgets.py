"""Budgets of one task: model requests, tool calls, tokens and run time.

A task spans several agent runs (triage, planning, each step, the answer). One TaskBudget is
shared by all of them: its RunUsage is handed to every run, which adds to it in place, so the
UsageLimits apply to the whole task and the usage survives a run that fails. Re-runs of a job
start from the usage recorded with the task (`TaskBudget(..., usage=usage_from_dict(...))`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic_ai.exceptions import RunTimedOut, UsageLimitExceeded
from pydantic_ai.usage import RunUsage, UsageLimits

from shared.config import Settings

BudgetName = Literal["requests", "tool_calls", "tokens", "time"]

# UsageLimitExceeded carries only a message; these names in it tell which limit it was.
_LIMIT_NAMES: tuple[tuple[str, BudgetName], ...] = (
    ("request_limit", "requests"),
    ("tool_calls_limit", "tool_calls"),
    ("tokens_limit", "tokens"),
)


class BudgetExceeded(Exception):
    """A task used up one of its budgets; the task ends with stop_reason budget_exceeded."""

    def __init__(self, budget: BudgetName, detail: str = "") -> None:
        self.budget = budget
        self.detail = detail
        super().__init__(f"{budget} budget exceeded" + (f": {detail}" if detail else ""))


@dataclass(frozen=True)
class BudgetLimits:
    requests: int = 30
    tool_calls: int = 40
    tokens: int = 300_000
    seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BudgetLimits:
        return cls(
            requests=settings.budget_requests,
            tool_calls=settings.budget_tool_calls,
            tokens=settings.budget_tokens,
            seconds=settings.budget_seconds,
        )

    def usage_limits(self) -> UsageLimits:
        return UsageLimits(
            request_limit=self.requests,
            tool_calls_limit=self.tool_calls,
            total_tokens_limit=self.tokens,
        )


def usage_to_dict(usage: RunUsage) -> dict[str, int]:
    """The usage recorded with a task."""
    return {
        "requests": usage.requests,
        "tool_calls": usage.tool_calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
    }


def usage_from_dict(data: dict[str, Any] | None) -> RunUsage:
    data = data or {}
    return RunUsage(
        requests=int(data.get("requests", 0)),
        tool_calls=int(data.get("tool_calls", 0)),
        input_tokens=int(data.get("input_tokens", 0)),
        output_tokens=int(data.get("output_tokens", 0)),
    )


@dataclass
class TaskBudget:
    """What is left of one task's budgets, shared by every agent run of the task.

    `deadline` is wall-clock (time.time()) so that a re-run can keep the task's original
    deadline; by default it is `limits.seconds` from now.
    """

    limits: BudgetLimits
    run_timeout: float = 120.0
    usage: RunUsage = field(default_factory=RunUsage)
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.deadline is None:
            self.deadline = time.time() + self.limits.seconds

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        usage: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> TaskBudget:
        return cls(
            limits=BudgetLimits.from_settings(settings),
            run_timeout=settings.agent_run_timeout,
            usage=usage_from_dict(usage),
            deadline=deadline,
        )

    def seconds_left(self) -> float:
        assert self.deadline is not None
        return self.deadline - time.time()

    def run_kwargs(self) -> dict[str, Any]:
        """Arguments for `agent.run` / `agent.iter`: the shared usage, the limits, the timeout.

        Raises BudgetExceeded("time") when the task's time is already used up.
        """
        left = self.seconds_left()
        if left <= 0:
            raise BudgetExceeded("time", f"the task may run {self.limits.seconds:g} s")
        return {
            "usage": self.usage,
            "usage_limits": self.limits.usage_limits(),
            "timeout": min(self.run_timeout, left),
        }

    @contextmanager
    def enforce(self) -> Iterator[None]:
        """Turn pydantic-ai's limit and timeout errors into BudgetExceeded naming the budget."""
        try:
            yield
        except UsageLimitExceeded as error:
            message = str(error)
            budget: BudgetName = next(
                (name for key, name in _LIMIT_NAMES if key in message), "requests"
            )
            raise BudgetExceeded(budget, message.split(". ")[0]) from error
        except RunTimedOut as error:
            if self.seconds_left() <= 0:
                detail = f"the task may run {self.limits.seconds:g} s"
            else:
                detail = f"one agent run may take {self.run_timeout:g} s"
            raise BudgetExceeded("time", detail) from error

    def as_dict(self) -> dict[str, int]:
        return usage_to_dict(self.usage)
