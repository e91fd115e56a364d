"""Job arguments travel as JSON, never pickle (shared/jobs.py): what the gateway and the planner
put in Redis is JSON, and a pickle planted on the planner's queue is refused by a real planner
worker without running it, while the worker keeps taking real tasks."""

from __future__ import annotations

import json
import pickle
import time
import uuid
from pathlib import Path
from typing import Any

from arq.constants import job_key_prefix
from redis.asyncio import Redis

from shared.redis_keys import RedisKeys, execute_job_id, plan_job_id
from tests.fixtures.stack import StackFactory
from tests.pipeline.checks import assert_sound_log

RESEARCH = "Research PostgreSQL advisory locks and summarise"


async def job_payload(redis: Redis, job_id: str) -> bytes:
    raw = await redis.get(job_key_prefix + job_id)
    assert raw is not None, f"no arq job {job_id} in Redis"
    return bytes(raw)


def parse_json_job(raw: bytes) -> dict[str, Any]:
    assert not raw.startswith(b"\x80"), f"a pickle: {raw[:40]!r}"
    job = json.loads(raw)
    assert isinstance(job, dict), job
    return job


async def test_jobs_in_redis_are_json(make_stack: StackFactory, redis_url: str) -> None:
    # No worker at first, then a planner but no executor: each stage's job stays to be read.
    stack = await make_stack(services=["gateway"])
    _, task_id = await stack.submit(RESEARCH)
    keys = RedisKeys(stack.prefix)
    redis = Redis.from_url(redis_url)
    try:
        plan_id = plan_job_id(uuid.UUID(task_id))
        assert plan_id == f"plan:{task_id}"
        plan_job = parse_json_job(await job_payload(redis, plan_id))
        assert plan_job["f"] == "plan_task", plan_job
        assert plan_job["a"] == [task_id], plan_job
        assert plan_job["k"] == {}, plan_job
        assert await redis.zscore(keys.planner_queue, plan_id) is not None

        await stack.start("planner")
        created = await stack.wait_for_event(task_id, "plan.created", within=30)
        exec_id = execute_job_id(uuid.UUID(task_id))
        assert exec_id == f"exec:{task_id}"

        exec_job = parse_json_job(await job_payload(redis, exec_id))
        assert exec_job["f"] == "execute_plan", exec_job
        # The plan travels in the job, as JSON, equal to the plan recorded with the task.
        assert exec_job["a"] == [task_id, created["data"]], exec_job
        assert await redis.zscore(keys.executor_queue, exec_id) is not None
    finally:
        await redis.aclose()

    # And the JSON job runs: an executor takes it through to the answer.
    await stack.start("executor")
    task = await stack.wait_for_task_final(task_id)
    assert task["status"] == "succeeded", task


class _OpensAFile:
    """Unpickling this creates a file: a stand-in for any code an attacker would run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


async def test_a_pickled_job_is_refused_and_not_run(
    make_stack: StackFactory, redis_url: str, tmp_path: Path
) -> None:
    stack = await make_stack()
    [planner] = stack.running("planner")
    keys = RedisKeys(stack.prefix)
    marker = tmp_path / "pickle-was-loaded"
    job_id = plan_job_id(uuid.uuid4())
    now_ms = int(time.time() * 1000)
    # A complete arq job, as arq's default (pickle) serializer would write it.
    planted = pickle.dumps(
        {"t": 1, "f": "plan_task", "a": [_OpensAFile(marker)], "k": {}, "et": now_ms}
    )
    # The payload works when something unpickles it.
    pickle.loads(pickle.dumps(_OpensAFile(tmp_path / "probe"))).close()
    assert (tmp_path / "probe").exists()

    redis = Redis.from_url(redis_url)
    try:
        await redis.set(job_key_prefix + job_id, planted)
        await redis.zadd(keys.planner_queue, {job_id: now_ms})
        # The planner took the job and could not read it (arq's log line for a job that does
        # not deserialize): it did look at it, and refused it.
        await planner.wait_for_log(f"deserializing job {job_id} failed", within=30)
        assert not marker.exists(), "the planner unpickled a job from Redis"
        assert await redis.zscore(keys.planner_queue, job_id) is None, "the job is still queued"
    finally:
        await redis.aclose()
    assert planner.alive
    assert not planner.log_count("stage started"), "a stage ran for the planted job"

    # The worker is none the worse: the next real task goes through.
    _, task_id = await stack.submit(RESEARCH)
    task = await stack.wait_for_task_final(task_id)
    assert task["status"] == "succeeded", task
    assert_sound_log(task_id, await stack.events(task_id), task["last_seq"])
    assert planner.alive and planner.log_count(task_id)
    assert not marker.exists()
