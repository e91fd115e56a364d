"""Every Redis key, queue and stream name we own, under one configurable prefix.

arq's own keys (arq:job:<id>, arq:result:<id>, ...) are fixed by arq; our job ids carry the stage
and the task's UUID (see `plan_job_id`), so they cannot collide.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "jarvis:"

    @property
    def planner_queue(self) -> str:
        return f"{self.prefix}queue:planner"

    @property
    def executor_queue(self) -> str:
        return f"{self.prefix}queue:executor"

    def task_stream(self, task_id: uuid.UUID) -> str:
        return f"{self.prefix}stream:task:{task_id}"

    def chat_stream(self, chat_id: uuid.UUID) -> str:
        return f"{self.prefix}stream:chat:{chat_id}"

    def wake_stream(self, hub_id: uuid.UUID) -> str:
        """A gateway's private stream that interrupts its blocking reads."""
        return f"{self.prefix}stream:wake:{hub_id}"

    def ws_ticket(self, ticket_hash: str) -> str:
        return f"{self.prefix}ws-ticket:{ticket_hash}"

    def rate_limit(self, token_id: uuid.UUID, window: int) -> str:
        return f"{self.prefix}rate:{token_id}:{window}"


def worker_health_key(queue: str, worker: str) -> str:
    """One worker's arq health key: its queue's name plus the worker's identity (see
    shared/jobs.py `worker_identity`), so a healthy replica cannot vouch for a hung one."""
    return f"{queue}:health-check:{worker}"


def plan_job_id(task_id: uuid.UUID) -> str:
    return f"plan:{task_id}"


def execute_job_id(task_id: uuid.UUID) -> str:
    return f"exec:{task_id}"
