"""The planner: an arq worker on its own queue. Run it with `jarvis planner`
(`jarvis planner --check` exits 0 while a planner is healthy)."""

from __future__ import annotations

from typing import Any

from shared.config import Settings
from shared.jobs import run_worker
from shared.redis_keys import RedisKeys


async def plan_task(ctx: dict[str, Any], task_id: str) -> None:
    """Triage and plan one task (the pipeline issue fills this in)."""
    raise NotImplementedError("the planner's pipeline is not built yet")


def run(settings: Settings, *, check: bool = False) -> int:
    queue = RedisKeys(settings.redis_prefix).planner_queue
    return run_worker(settings, name="planner", queue=queue, functions=[plan_task], check=check)
