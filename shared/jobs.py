"""How jobs travel through arq: JSON only (never pickle), and the worker settings we share."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from arq import Worker
from arq.connections import RedisSettings
from arq.worker import Function, async_check_health, func
from redis.exceptions import RedisError

from shared.config import Settings
from shared.logging import get_logger
from shared.redis_keys import worker_health_key
from shared.schema import EXIT_SCHEMA, SchemaNotReady, wait_for_schema

log = get_logger(__name__)

# How often an idle worker looks for jobs: each hop of a task waits up to this long.
POLL_DELAY = 0.05
REDIS_RETRY_DELAY = 1.0
# A started job's claim (arq's in-progress key) lapses after this long unless the job lease
# (shared/worker_deps.py) renews it, so a dead worker's job is soon run elsewhere.
JOB_LEASE_SECONDS = 10.0


def job_serializer(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def job_deserializer(data: bytes) -> Any:
    return json.loads(data)


def redis_settings(redis_url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(redis_url)
    # Workers wait for Redis to come back instead of crashing.
    settings.conn_retries = 60
    settings.conn_retry_delay = 1
    return settings


def worker_options(redis_url: str, queue_name: str) -> dict[str, Any]:
    """Keyword arguments every Jarvis arq Worker shares."""
    return {
        "queue_name": queue_name,
        "redis_settings": redis_settings(redis_url),
        "job_serializer": job_serializer,
        "job_deserializer": job_deserializer,
        "poll_delay": POLL_DELAY,
        "allow_abort_jobs": True,
        "health_check_interval": 10,
        "handle_signals": True,
    }


class PatientWorker(Worker):
    """An arq Worker that lives through a Redis outage.

    arq retries only its first connection; afterwards one failed Redis call in its poll loop ends
    the worker process. This one logs it, waits and polls again; redis-py reconnects once Redis
    is back. Jobs running meanwhile carry on (their events reach PostgreSQL); if arq cannot
    record their end, it runs them again later and they find their task finished.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # arq claims a job for its whole timeout plus 10 s; a worker killed before its job took
        # the lease would keep the task waiting that long.
        self.in_progress_timeout_s = JOB_LEASE_SECONDS

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except (RedisError, OSError) as error:
            log.warning("Redis unavailable; polling again shortly", error=str(error))
            await asyncio.sleep(REDIS_RETRY_DELAY)


def worker_identity(worker_id: str | None) -> str:
    """Who a worker is, for its health key: JARVIS_WORKER_ID, else the host name.

    The check (`jarvis planner|executor --check`) is a separate process, so a pid cannot name
    the worker it asks about; the host name can: a docker compose healthcheck and a Kubernetes
    exec probe run inside the worker's own container, whose host name is unique (the container
    id; the pod name). Several workers on one host outside containers each need their own
    JARVIS_WORKER_ID, given to the check too.
    """
    return worker_id or socket.gethostname()


def job_function(coroutine: Any, name: str, settings: Settings) -> Function:
    """An arq function with our rules: no kept result (a finished task's job id can be enqueued
    again by the dispatcher), a timeout past the task's time budget, and one try more than
    max_job_tries so that our code records max_retries itself."""
    return func(
        coroutine,
        name=name,
        keep_result=0,
        timeout=settings.budget_seconds + 60,
        max_tries=settings.max_job_tries + 1,
    )


def run_worker(
    settings: Settings,
    *,
    name: str,
    queue: str,
    functions: Sequence[Function],
    hooks: dict[str, Any],
    models: Mapping[str, str] | None = None,
    check: bool = False,
) -> int:
    """Run one arq worker process until SIGTERM/SIGINT; with check, report the health (0/1)
    of the worker with this host name or JARVIS_WORKER_ID (see worker_identity).

    On SIGTERM, running jobs get JARVIS_WORKER_SHUTDOWN_WAIT seconds to finish; then they are handed
    back to the queue and run again elsewhere.
    """
    assert settings.database_url and settings.redis_url
    own_health_key = worker_health_key(queue, worker_identity(settings.worker_id))
    if check:
        # A health check answers at once: no waiting for Redis to come back.
        check_settings = redis_settings(settings.redis_url)
        check_settings.conn_retries = 0
        try:
            return asyncio.run(async_check_health(check_settings, own_health_key, queue))
        except (OSError, RedisError) as error:
            log.warning("health check failed: Redis unreachable", reason=str(error))
            return 1
    try:
        asyncio.run(wait_for_schema(settings.database_url, settings.schema_wait))
    except SchemaNotReady as error:
        log.error("schema not ready", reason=str(error), missing=error.missing)
        return EXIT_SCHEMA
    worker = PatientWorker(
        functions=list(functions),
        health_check_key=own_health_key,
        job_completion_wait=settings.worker_shutdown_wait,
        max_jobs=settings.worker_concurrency,
        **worker_options(settings.redis_url, queue),
        **hooks,
    )
    # The models by name, so that nobody takes the offline model's answers for a language model's.
    log.info(
        "worker started",
        worker=name,
        queue=queue,
        health_key=own_health_key,
        models=dict(models or {}),
    )
    worker.run()
    return 0
