"""The planner: an arq worker on its own queue. Run it with `jarvis planner`
(`jarvis planner --check` exits 0 while a planner is healthy)."""

from __future__ import annotations

from services.planner.jobs import plan_task
from shared.agents.models import check_models
from shared.config import Settings
from shared.jobs import job_function, run_worker
from shared.queues import PLAN_JOB
from shared.redis_keys import RedisKeys
from shared.worker_deps import startup_hooks


def run(settings: Settings, *, check: bool = False) -> int:
    models = check_models(settings)  # a bad model setting stops the worker at start
    return run_worker(
        settings,
        name="planner",
        queue=RedisKeys(settings.redis_prefix).planner_queue,
        functions=[job_function(plan_task, PLAN_JOB, settings)],
        hooks=startup_hooks(settings),
        models=models,
        check=check,
    )
