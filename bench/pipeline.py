"""End to end: real gateway, planner and executor processes, the offline model, local search.

- throughput: a closed loop keeps a fixed number of tasks in flight (each in a new chat, followed
  on a WebSocket to its final event) and counts the tasks that end within the window, for each
  worker configuration (workers are added, never restarted, between configurations);
- latency: one task at a time (low load), then arrivals at 80% of the best throughput (Poisson),
  from the POST to its 202, to the first WebSocket event, to plan.created and to the final event;
- steps: how one task's latency, events and CPU grow with the steps of its plan.

CPU seconds per task per part of the system come from psutil over each window.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import psutil
from redis.asyncio import Redis

from bench.client import FINAL_TYPES, TaskClient, TaskTiming
from bench.counters import ServerCounters, per_unit, read_counters
from bench.cpu import CpuMeter
from bench.stack import BenchStack, Service
from bench.stats import per_second, percentiles_ms

RESEARCH = "Research PostgreSQL advisory locks and summarise"
TOPICS = (
    "PostgreSQL advisory locks",
    "Redis streams",
    "arq worker poll delay",
    "WebSocket feed",
    "yoyo migrations",
    "docker compose services",
    "embedded servers",
)
PREFIX = "jarvis-bench:"


def message_with_steps(steps: int) -> str:
    """A message the offline planner turns into `steps` steps: one search per question (up to
    seven) and a summary."""
    if steps <= 2:
        return RESEARCH
    return " ".join(f"What is {topic}?" for topic in TOPICS[: steps - 1])


@dataclass
class ChatSupply:
    """A fresh chat for every task, made in batches straight in PostgreSQL."""

    stack: BenchStack
    batch: int = 500
    ready: list[str] = field(default_factory=list)
    used: list[str] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def next(self) -> str:
        async with self._lock:
            if not self.ready:
                self.ready = await self.stack.make_chats(self.batch)
            chat = self.ready.pop()
        self.used.append(chat)
        return chat


@dataclass
class Pipeline:
    stack: BenchStack
    gateway: Service
    client: TaskClient
    chats: ChatSupply
    redis: Redis
    workers: list[Service] = field(default_factory=list)

    def processes(self) -> dict[str, list[psutil.Process]]:
        def of(name: str) -> list[psutil.Process]:
            return [psutil.Process(w.pid) for w in self.workers if w.name == name and w.alive]

        redis = self.stack.redis_process()
        return {
            "gateway": [psutil.Process(self.gateway.pid)],
            "planner": of("planner"),
            "executor": of("executor"),
            "postgres": self.stack.postgres_processes(),
            "redis": [redis] if redis else [],
            "bench_client": [psutil.Process()],
        }

    async def scale_to(self, planners: int, executors: int) -> None:
        have_p = sum(w.name == "planner" for w in self.workers)
        have_e = sum(w.name == "executor" for w in self.workers)
        self.workers += await self.stack.start_workers(
            PREFIX, planners=max(0, planners - have_p), executors=max(0, executors - have_e)
        )

    async def counters(self) -> ServerCounters:
        return await read_counters(self.stack.pool, self.redis)

    async def task(self, content: str = RESEARCH) -> TaskTiming:
        return await self.client.run_task(await self.chats.next(), content)


def _summary(timings: list[TaskTiming]) -> dict[str, Any]:
    ended = [t for t in timings if t.final is not None]
    return {
        "tasks": len(timings),
        "succeeded": sum(t.final_type == "task.succeeded" for t in ended),
        "unfinished": len(timings) - len(ended),
        "events_per_task": round(sum(t.events for t in ended) / len(ended), 1) if ended else None,
        "post_to_202_ms": percentiles_ms([t.accepted for t in timings if t.accepted is not None]),
        "post_to_first_event_ms": percentiles_ms(
            [t.first_event for t in ended if t.first_event is not None]
        ),
        "post_to_plan_created_ms": percentiles_ms(
            [t.plan_created for t in ended if t.plan_created is not None]
        ),
        "post_to_final_ms": percentiles_ms([t.final for t in ended if t.final is not None]),
    }


def _cpu_per_task(seconds: dict[str, float], tasks: int) -> dict[str, float | None]:
    if not tasks:
        return {role: None for role in seconds}
    return {role: round(value / tasks * 1e3, 2) for role, value in seconds.items()}


async def _sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.perf_counter()))


async def throughput(
    pipeline: Pipeline, *, inflight: int, warmup: float, window: float
) -> dict[str, Any]:
    """Tasks per second ending within `window` with `inflight` always in flight. The window opens
    once as many tasks as are in flight have ended (the pipeline is full), or after `warmup`
    seconds at the latest."""
    started = time.perf_counter()
    ends: list[float] = []
    timings: list[TaskTiming] = []
    full = asyncio.Event()
    window_open = asyncio.Event()
    bounds = [started + warmup, started + warmup + window]
    meter = CpuMeter(pipeline.processes)

    async def keep_one_in_flight() -> None:
        while not window_open.is_set() or time.perf_counter() < bounds[1]:
            timing = await pipeline.task()
            timings.append(timing)
            if timing.final is not None:
                ends.append(timing.posted_at + timing.final)
                if len(ends) >= inflight:
                    full.set()

    async def measure_cpu() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(full.wait(), warmup)
        bounds[0] = time.perf_counter()
        bounds[1] = bounds[0] + window
        window_open.set()
        meter.start()
        await _sleep_until(bounds[1])
        meter.stop()

    await asyncio.gather(measure_cpu(), *(keep_one_in_flight() for _ in range(inflight)))
    measure_from, measure_to = bounds
    done = sum(measure_from <= end <= measure_to for end in ends)
    in_window = [
        t
        for t in timings
        if t.final is not None and measure_from <= t.posted_at + t.final <= measure_to
    ]
    return {
        "tasks_per_s": per_second(done, window),
        "tasks_in_window": done,
        "inflight": inflight,
        "warmup_s": round(measure_from - started, 2),
        "window_s": window,
        "failed_or_unfinished": sum(t.final_type != "task.succeeded" for t in timings),
        "post_to_final_ms": percentiles_ms([t.final for t in in_window if t.final is not None]),
        "cpu_ms_per_task": _cpu_per_task(meter.seconds, done),
        "cpu_utilisation": {
            role: round(value / window, 2) for role, value in meter.seconds.items()
        },
    }


# Consecutive moments of a task, from its events' timestamps in PostgreSQL (each event's ts is
# its transaction's start): where a task's time goes at low load.
STAGES = (
    ("gateway: enqueue after the commit", "task.created", "task.queued"),
    ("hop 1 + triage", "task.queued", "triage.completed"),
    ("planning", "triage.completed", "plan.created"),
    ("hop 2 + executor start", "plan.created", "task.started"),
    ("steps", "task.started", "last step.completed"),
    ("answer + final", "last step.completed", "final"),
)


async def stage_breakdown(pool: asyncpg.Pool, task_ids: list[str]) -> dict[str, Any]:
    """Median milliseconds of each stage over the tasks."""
    rows = await pool.fetch(
        "SELECT task_id, type, ts FROM task_events WHERE task_id = ANY($1::uuid[]) ORDER BY seq",
        [uuid.UUID(t) for t in task_ids],
    )
    moments: dict[uuid.UUID, dict[str, float]] = {}
    for row in rows:
        seen = moments.setdefault(row["task_id"], {})
        kind = row["type"]
        when = row["ts"].timestamp()
        if kind == "step.completed":
            seen["last step.completed"] = when
        elif kind in FINAL_TYPES:
            seen["final"] = when
        else:
            seen.setdefault(kind, when)
    stages: dict[str, Any] = {}
    for label, start, end in STAGES:
        gaps = [m[end] - m[start] for m in moments.values() if start in m and end in m]
        stages[label] = percentiles_ms(gaps)["p50"]
    return stages


async def idle_commands(pipeline: Pipeline, seconds: float) -> dict[str, float]:
    """Redis commands per second, by name, with every service idle (the workers' polling)."""
    before = await pipeline.counters()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    delta = (await pipeline.counters()).since(before)["redis_commands"]
    elapsed = time.perf_counter() - started
    return {name: count / elapsed for name, count in delta.items()}


async def sequential(
    pipeline: Pipeline,
    count: int,
    *,
    within: float,
    content: str = RESEARCH,
    idle: dict[str, float] | None = None,
) -> dict[str, Any]:
    """`count` tasks one at a time (low load), a random pause of up to 100 ms between them;
    their latencies, and the CPU and server work per task."""
    timings: list[TaskTiming] = []
    deadline = time.perf_counter() + within
    meter = CpuMeter(pipeline.processes)
    before = await pipeline.counters()
    started = time.perf_counter()
    meter.start()
    while len(timings) < count and time.perf_counter() < deadline:
        await asyncio.sleep(random.uniform(0, 0.1))
        timings.append(await pipeline.task(content))
    seconds = meter.stop()
    work = (await pipeline.counters()).since(before)
    elapsed = time.perf_counter() - started
    task_ids = [t.task_id for t in timings if t.task_id]
    return _summary(timings) | {
        "cpu_ms_per_task": _cpu_per_task(seconds, len(timings)),
        "server_work_per_task": per_unit(work, len(timings), idle, elapsed),
        "stages_p50_ms": await stage_breakdown(pipeline.stack.pool, task_ids),
    }


async def open_loop(pipeline: Pipeline, rate: float, *, duration: float) -> dict[str, Any]:
    """Poisson arrivals at `rate` tasks per second for `duration` seconds."""
    rng = random.Random(7)
    started = time.perf_counter()
    running: list[asyncio.Task[TaskTiming]] = []
    moment = started
    while True:
        moment += rng.expovariate(rate)
        if moment > started + duration:
            break
        await _sleep_until(moment)
        running.append(asyncio.create_task(pipeline.task()))
    timings = list(await asyncio.gather(*running))
    return _summary(timings) | {"offered_per_s": round(rate, 1), "duration_s": duration}


@dataclass(frozen=True)
class PipelinePlan:
    configs: tuple[tuple[int, int], ...]  # (planners, executors), in growing order
    warmup: float
    window: float
    low_load_tasks: int
    loaded_seconds: float
    step_counts: tuple[int, ...]
    tasks_per_step_count: int
    inflight_per_worker: int  # tasks kept in flight per worker process when measuring throughput


QUICK = PipelinePlan(((1, 1), (1, 2)), 4.0, 2.0, 5, 2.0, (2, 4), 1, 2)
FULL = PipelinePlan(((1, 1), (1, 2), (2, 4)), 20.0, 10.0, 60, 15.0, (2, 4, 8), 10, 8)


def inflight_for(planners: int, executors: int, per_worker: int = 8) -> int:
    return per_worker * (planners + executors)


async def measure_pipeline(
    stack: BenchStack, *, quick: bool, on_best: Callable[[Pipeline], Any] | None = None
) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    first_planners, first_executors = plan.configs[0]
    (gateway, base_url), first_workers = await asyncio.gather(
        stack.start_gateway(PREFIX),
        stack.start_workers(PREFIX, planners=first_planners, executors=first_executors),
    )
    chats = ChatSupply(stack)
    redis = Redis.from_url(stack.redis_url)
    results: dict[str, Any] = {"throughput": []}
    try:
        async with TaskClient(base_url, stack.token, sockets=4) as client:
            pipeline = Pipeline(stack, gateway, client, chats, redis, first_workers)
            for planners, executors in plan.configs:
                setup_started = time.perf_counter()
                await pipeline.scale_to(planners, executors)
                # First tasks on new workers build their agents: not counted.
                await asyncio.gather(*(pipeline.task() for _ in range(planners + executors)))
                setup = round(time.perf_counter() - setup_started, 2)
                result = await throughput(
                    pipeline,
                    inflight=inflight_for(planners, executors, plan.inflight_per_worker),
                    warmup=plan.warmup,
                    window=plan.window,
                )
                results["throughput"].append(
                    {"planners": planners, "executors": executors, "setup_s": setup} | result
                )
            best = max(results["throughput"], key=lambda r: r["tasks_per_s"])
            results["best"] = {
                k: best[k] for k in ("planners", "executors", "tasks_per_s", "inflight")
            }
            # Latency on the configuration that went fastest: shed the extra workers.
            extra = pipeline.workers[:]
            keep = _pick(extra, best["planners"], best["executors"])
            await stack.stop([w for w in extra if w not in keep])
            pipeline.workers = keep
            if on_best is not None:
                await on_best(pipeline)
            idle = await idle_commands(pipeline, 0.5 if quick else 2.0)
            results["idle_redis_commands_per_s"] = round(sum(idle.values()), 1)
            results["low_load"] = await sequential(
                pipeline, plan.low_load_tasks, within=120 if not quick else 20, idle=idle
            )
            rate = max(0.5, 0.8 * best["tasks_per_s"])
            results["at_80_percent"] = await open_loop(pipeline, rate, duration=plan.loaded_seconds)
            results["steps"] = []
            for steps in plan.step_counts:
                row = await sequential(
                    pipeline,
                    plan.tasks_per_step_count,
                    within=60,
                    content=message_with_steps(steps),
                    idle=idle,
                )
                results["steps"].append({"steps": steps} | row)
    finally:
        await stack.stop(list(stack.services))
        await stack.delete_chats(chats.used + chats.ready)
        await redis.aclose()
    return results


def _pick(workers: list[Service], planners: int, executors: int) -> list[Service]:
    chosen = [w for w in workers if w.name == "planner"][:planners]
    return chosen + [w for w in workers if w.name == "executor"][:executors]
