"""The executor: an arq worker on its own queue. Run it with `jarvis executor`
(`jarvis executor --check` exits 0 while an executor is healthy)."""

from __future__ import annotations

from typing import Any

from shared.config import Settings
from shared.jobs import run_worker
from shared.redis_keys import RedisKeys


async def execute_plan(ctx: dict[str, Any], task_id: str, plan: dict[str, Any]) -> None:
    """Carry out the plan of one task (the pipeline issue fills this in)."""
    raise NotImplementedError("the executor's pipeline is not built yet")


def run(settings: Settings, *, check: bool = False) -> int:
    queue = RedisKeys(settings.redis_prefix).executor_queue
    return run_worker(settings, name="executor", queue=queue, functions=[execute_plan], check=check)
