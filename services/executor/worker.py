"""The executor: an arq worker on its own queue. Run it with `jarvis executor`
(`jarvis executor --check` exits 0 while an executor is healthy)."""

from __future__ import annotations

from services.executor.jobs import execute_plan_job
from services.executor.tools.providers import check_search
from shared.agents.models import check_models
from shared.config import Settings
from shared.jobs import job_function, run_worker
from shared.queues import EXECUTE_JOB
from shared.redis_keys import RedisKeys
from shared.worker_deps import startup_hooks


def run(settings: Settings, *, check: bool = False) -> int:
    # A bad model or search setting stops the worker at start, not at the first task.
    models = check_models(settings)
    check_search(settings)
    return run_worker(
        settings,
        name="executor",
        queue=RedisKeys(settings.redis_prefix).executor_queue,
        functions=[job_function(execute_plan_job, EXECUTE_JOB, settings)],
        hooks=startup_hooks(settings),
        models=models,
        check=check,
    )
