"""An arq worker process for the primitive measurements, with the worker settings Jarvis uses
(shared/jobs.py: poll delay, JSON serializer, concurrency, our Worker class).

    python -m bench.arq_worker REDIS_URL QUEUE READY_KEY

Its jobs: `noop`; `signal(list_key)` pushes to a list (for latency); `hop(queue, name, *args)`
enqueues job `name` on another queue (job A of a two-hop chain).
"""

from __future__ import annotations

import sys
from typing import Any

from arq.worker import func

from shared.config import Settings
from shared.jobs import PatientWorker, worker_options


async def noop(ctx: dict[str, Any]) -> None:
    return None


async def signal_done(ctx: dict[str, Any], list_key: str) -> None:
    await ctx["redis"].rpush(list_key, b"1")


async def hop(ctx: dict[str, Any], queue: str, name: str, *args: Any) -> None:
    await ctx["redis"].enqueue_job(name, *args, _queue_name=queue)


def build_worker(redis_url: str, queue: str, ready_key: str) -> PatientWorker:
    async def on_startup(ctx: dict[str, Any]) -> None:
        await ctx["redis"].set(ready_key, b"1", ex=600)

    # As shared/jobs.py job_function: no kept result.
    functions = [
        func(noop, name="noop", keep_result=0),
        func(signal_done, name="signal", keep_result=0),
        func(hop, name="hop", keep_result=0),
    ]
    return PatientWorker(
        functions=functions,
        job_completion_wait=Settings.model_fields["worker_shutdown_wait"].default,
        max_jobs=Settings.model_fields["worker_concurrency"].default,
        on_startup=on_startup,
        **worker_options(redis_url, queue),
    )


def main(argv: list[str]) -> None:
    redis_url, queue, ready_key = argv
    build_worker(redis_url, queue, ready_key).run()


if __name__ == "__main__":
    main(sys.argv[1:])
