"""The agents' typed inputs and outputs, shared by the planner, the executor and the offline model.

TaskPlan travels in the executor's job as JSON and is stored with the task, so every type here is
a pydantic model that round-trips through `model_dump(mode="json")`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

MAX_PLAN_STEPS = 8


def one_line(value: str, limit: int) -> str:
    """Collapse whitespace to single spaces and cap the length (models like to add newlines)."""
    text = " ".join(value.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class Triage(BaseModel):
    """TaskDetectionAgent's verdict on the newest message."""

    actionable: bool = Field(description="True when the message asks for work: research, a plan")
    reason: str = Field(description="One line saying why")
    reply: str | None = Field(
        None,
        description="When not actionable: the direct reply to the user (greeting, small talk, "
        "or a question answered from the conversation alone). Empty when actionable.",
    )

    @field_validator("reason")
    @classmethod
    def _one_line_reason(cls, value: str) -> str:
        return one_line(value, 300)

    @model_validator(mode="after")
    def _reply_when_not_actionable(self) -> Triage:
        if not self.actionable and not (self.reply and self.reply.strip()):
            raise ValueError("a message that is not a task needs a direct `reply`")
        if self.actionable:
            self.reply = None
        return self


class PlanStep(BaseModel):
    title: str = Field(description="A short title for the step")
    action: str = Field(description="What to do in this step")
    tool: Literal["web_search"] | None = Field(
        None, description="The tool the step expects to use, if any"
    )
    expected_output: str = Field(description="What the step should produce")

    @field_validator("title")
    @classmethod
    def _short_title(cls, value: str) -> str:
        return one_line(value, 200)


class TaskPlan(BaseModel):
    """PlanningAgent's output: the goal and 1 to 8 ordered steps."""

    goal: str = Field(description="What the user wants, in one sentence")
    steps: list[PlanStep] = Field(min_length=1, max_length=MAX_PLAN_STEPS)


class Source(BaseModel):
    title: str
    url: str


class SearchResult(BaseModel):
    """One normalised search hit; every text field is cleaned and capped before a model sees it."""

    title: str
    url: str
    snippet: str
    published: str | None = None


class StepReport(BaseModel):
    """What ExecutionAgent returns for one step."""

    output: str = Field(description="What the step produced, in Markdown")
    sources: list[Source] = Field(
        default_factory=list, description="The search results this step used"
    )


class StepResult(BaseModel):
    """A finished step as the runner records it; re-runs skip steps that have one."""

    index: int = Field(ge=0)
    title: str
    output: str
    sources: list[Source] = Field(default_factory=list)


class ExecutionResult(BaseModel):
    """The task's final answer."""

    answer: str = Field(description="The answer to the user, in Markdown, citing its sources")
    sources: list[Source] = Field(
        default_factory=list, description="The sources the answer cites (title, url)"
    )
