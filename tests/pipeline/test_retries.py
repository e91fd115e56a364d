"""Transient model errors through the real services: the planner and the executor (subprocesses)
talk to a local fake OpenAI-compatible server (JARVIS_MODEL=openai-chat:..., JARVIS_OPENAI_BASE_URL)
that answers 500 or 429 to the first requests. shared/stage.py retries them with exponential
backoff and jitter (backoff_delay), a bounded number of times (JARVIS_MAX_JOB_TRIES), each retry
recorded as `task.retrying`; past the tries the task ends failed with stop_reason max_retries.

The backoff is not configurable (shared/backoff.py BACKOFF_BASE = 1 s), so these tests wait for it:
N retries cost about 2**N - 1 seconds.
"""

from __future__ import annotations

import random
import time
from datetime import datetime
from typing import Any

import pytest

from shared.backoff import BACKOFF_BASE, BACKOFF_MAX, backoff_delay
from tests.fixtures.fake_openai import FakeOpenAI
from tests.fixtures.stack import Stack, StackFactory
from tests.pipeline.checks import (
    assert_facts_once,
    assert_sound_log,
    assert_steps_once_and_in_order,
    of_type,
    types,
)

RESEARCH = "Research PostgreSQL advisory locks and summarise"
MODEL = "openai-chat:fake-model"


async def fake_stack(make_stack: StackFactory, fake: FakeOpenAI, **settings: str) -> Stack:
    return await make_stack(MODEL=MODEL, OPENAI_BASE_URL=fake.base_url, **settings)


def nominal_delay(attempt: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1))


def ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def assert_backoff_waited(events: list[dict[str, Any]], fake: FakeOpenAI, role: str) -> None:
    """Each task.retrying names a delay within the jittered exponential bounds of the try that
    failed, and the next request of that agent came no sooner than that delay."""
    requests = fake.of(role=role)  # type: ignore[arg-type]
    for event in of_type(events, "task.retrying"):
        failed_try = event["data"]["attempt"] - 1
        delay = event["data"]["delay"]
        nominal = nominal_delay(failed_try)
        assert 0.5 * nominal <= delay <= 1.5 * nominal, (failed_try, delay)
        later = [r.at for r in requests if r.at > ts(event)]
        assert later, f"no {role} request after the retry at {event['ts']}"
        # Small tolerance: the event's time is PostgreSQL's now() at its transaction's start.
        assert later[0] - ts(event) >= delay - 0.1, (later[0] - ts(event), delay)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    random.seed(1234)
    for attempt in range(1, 10):
        samples = [backoff_delay(attempt) for _ in range(200)]
        nominal = nominal_delay(attempt)
        assert all(0.5 * nominal <= s <= 1.5 * nominal for s in samples), attempt
        # Jitter: the delays spread over most of the range, not one fixed value.
        assert max(samples) - min(samples) > 0.5 * nominal, attempt
    assert nominal_delay(2) == 2 * nominal_delay(1)
    assert max(backoff_delay(50) for _ in range(200)) <= 1.5 * BACKOFF_MAX


@pytest.mark.parametrize("status", [500, 429])
async def test_planner_retries_transient_model_errors_then_succeeds(
    make_stack: StackFactory, fake_openai: FakeOpenAI, status: int
) -> None:
    stack = await fake_stack(make_stack, fake_openai, MAX_JOB_TRIES="3")
    fake_openai.fail(2, status)  # the first two requests: both of them triage's
    chat_id, task_id = await stack.submit(RESEARCH)

    task = await stack.wait_for_task_final(task_id, within=60)
    assert task["status"] == "succeeded", task
    assert task["stop_reason"] == "completed"
    assert task["model"] == MODEL

    events = await stack.events(task_id)
    final = assert_sound_log(task_id, events, task["last_seq"])
    assert final["type"] == "task.succeeded"
    retrying = of_type(events, "task.retrying")
    assert [(e["attempt"], e["data"]["stage"], e["data"]["attempt"]) for e in retrying] == [
        (2, "planning", 2),
        (3, "planning", 3),
    ]
    assert all(str(status) in e["data"]["reason"] for e in retrying), retrying
    # Both retries come before anything the third try did.
    triage = of_type(events, "triage.completed")
    assert len(triage) == 1 and triage[0]["attempt"] == 3
    assert retrying[-1]["seq"] < triage[0]["seq"]

    # Each failure reached our code once (no hidden retries: the fake said x-should-retry: false)
    # and was followed by exactly one new try.
    detection = fake_openai.of(role="detection")
    assert [e.status for e in detection] == [status, status, 200]
    assert_backoff_waited(events, fake_openai, "detection")

    assert_facts_once(events)
    assert_steps_once_and_in_order(events, len(task["plan"]["steps"]))
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user", "assistant"]


async def test_executor_retries_a_transient_error_and_resumes_the_step(
    make_stack: StackFactory, fake_openai: FakeOpenAI
) -> None:
    stack = await fake_stack(make_stack, fake_openai, MAX_JOB_TRIES="3")
    fake_openai.fail(1, 429, role="step")
    chat_id, task_id = await stack.submit(RESEARCH)

    task = await stack.wait_for_task_final(task_id, within=60)
    assert task["status"] == "succeeded", task
    events = await stack.events(task_id)
    assert_sound_log(task_id, events, task["last_seq"])
    assert types(events)[-1] == "task.succeeded"

    retrying = of_type(events, "task.retrying")
    assert [(e["attempt"], e["data"]["stage"], e["data"]["attempt"]) for e in retrying] == [
        (2, "executing", 2)
    ]
    assert [e.status for e in fake_openai.of(role="step")][:2] == [429, 200]
    assert_backoff_waited(events, fake_openai, "step")
    # The planner's work is not redone: one triage, one plan.
    assert len(fake_openai.of(role="detection")) == 1
    assert len(fake_openai.of(role="planning")) == 1
    assert_facts_once(events)
    # The step that failed says so once, then completes on the next try.
    failed = of_type(events, "step.failed")
    assert [(e["data"]["step"], e["attempt"]) for e in failed] == [(0, 1)]
    assert failed[0]["seq"] < retrying[0]["seq"]
    completed = of_type(events, "step.completed")
    assert completed[0]["attempt"] == 2
    assert_steps_once_and_in_order(events, len(task["plan"]["steps"]))
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user", "assistant"]


async def test_a_retry_of_the_answer_keeps_the_finished_steps(
    make_stack: StackFactory, fake_openai: FakeOpenAI
) -> None:
    stack = await fake_stack(make_stack, fake_openai, MAX_JOB_TRIES="3")
    fake_openai.fail(1, 503, role="answer")
    chat_id, task_id = await stack.submit(RESEARCH)

    task = await stack.wait_for_task_final(task_id, within=60)
    assert task["status"] == "succeeded", task
    events = await stack.events(task_id)
    assert_sound_log(task_id, events, task["last_seq"])
    retrying = of_type(events, "task.retrying")
    assert [(e["attempt"], e["data"]["stage"]) for e in retrying] == [(2, "executing")]
    assert [e.status for e in fake_openai.of(role="answer")] == [503, 200]
    assert_backoff_waited(events, fake_openai, "answer")
    # Every step finished in the first try and was not run again.
    steps = len(task["plan"]["steps"])
    step_requests = [e for e in fake_openai.exchanges if e.role == "step"]
    assert all(e.at < ts(retrying[0]) for e in step_requests), "a finished step ran again"
    assert {e["attempt"] for e in of_type(events, "step.completed")} == {1}
    assert not of_type(events, "step.failed")
    assert_steps_once_and_in_order(events, steps)
    assert of_type(events, "message.created")[0]["attempt"] == 2
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user", "assistant"]


async def cancel_during_backoff(stack: Stack, fake: FakeOpenAI) -> tuple[str, float]:
    """A task whose model keeps failing, cancelled while its job waits out a retry's backoff;
    returns the task id and when the cancel was made."""
    fake.fail(1000, 500)
    _, task_id = await stack.submit(RESEARCH)
    await stack.wait_for_event(task_id, "task.retrying", within=30)
    await stack.cancel(task_id)
    return task_id, time.time()


async def test_a_cancel_during_the_backoff_ends_the_task_cancelled(
    make_stack: StackFactory, fake_openai: FakeOpenAI
) -> None:
    stack = await fake_stack(make_stack, fake_openai, MAX_JOB_TRIES="5")
    task_id, cancelled_at = await cancel_during_backoff(stack, fake_openai)

    task = await stack.wait_for_task_final(task_id, within=30)
    assert task["status"] == "cancelled", task
    assert task["stop_reason"] == "user_cancelled"
    events = await stack.events(task_id)
    final = assert_sound_log(task_id, events, task["last_seq"])
    assert final["type"] == "task.cancelled"
    # At most the try already under way when the cancel came asked the model again.
    assert len([e for e in fake_openai.exchanges if e.at > cancelled_at]) <= 1


async def test_a_cancel_during_the_backoff_takes_effect_when_the_retry_was_due(
    make_stack: StackFactory, fake_openai: FakeOpenAI
) -> None:
    stack = await fake_stack(make_stack, fake_openai, MAX_JOB_TRIES="5")
    task_id, _ = await cancel_during_backoff(stack, fake_openai)
    # The first retry's backoff is at most 1.5 s; then the job starts and finds the cancel.
    task = await stack.wait_for_task_final(task_id, within=4)
    assert task["status"] == "cancelled", task


async def test_a_model_that_keeps_failing_ends_the_task_with_max_retries(
    make_stack: StackFactory, fake_openai: FakeOpenAI
) -> None:
    stack = await fake_stack(make_stack, fake_openai, MAX_JOB_TRIES="2")
    fake_openai.fail(1000, 500)
    chat_id, task_id = await stack.submit(RESEARCH)

    task = await stack.wait_for_task_final(task_id, within=60)
    assert task["status"] == "failed", task
    assert task["stop_reason"] == "max_retries"
    assert task["error"]["code"] == "max_retries"
    assert "500" in task["error"]["message"], task["error"]
    assert task["result"] is None

    events = await stack.events(task_id)
    final = assert_sound_log(task_id, events, task["last_seq"])
    assert final["type"] == "task.failed"
    assert final["data"]["stop_reason"] == "max_retries"
    assert final["attempt"] == 2
    retrying = of_type(events, "task.retrying")
    assert [(e["attempt"], e["data"]["stage"]) for e in retrying] == [(2, "planning")]
    assert types(events) == ["task.created", "task.queued", "task.retrying", "task.failed"]
    assert [m["role"] for m in await stack.messages(chat_id)] == ["user"]
    # Bounded: one request per try, JARVIS_MAX_JOB_TRIES tries.
    assert [e.status for e in fake_openai.exchanges] == [500, 500]

    # The provider recovers; the pipeline is none the worse and the failed task stays failed.
    fake_openai.stop_failing()
    _, next_task = await stack.submit(RESEARCH, chat_id)
    done = await stack.wait_for_task_final(next_task, within=60)
    assert done["status"] == "succeeded", done
    assert done["attempt"] == 1
    assert not of_type(await stack.events(next_task), "task.retrying")
    assert (await stack.task(task_id))["status"] == "failed"
    assert len(fake_openai.of(status=500)) == 2


async def test_every_transient_error_a_provider_returns_is_a_visible_retry(
    make_stack: StackFactory, fake_openai: FakeOpenAI
) -> None:
    stack = await fake_stack(make_stack, fake_openai, MAX_JOB_TRIES="3")
    # As real providers answer: no x-should-retry header, so a client may retry on its own.
    fake_openai.fail(2, 500, sdk_may_retry=True)
    _, task_id = await stack.submit(RESEARCH)

    task = await stack.wait_for_task_final(task_id, within=60)
    assert task["status"] == "succeeded", task
    events = await stack.events(task_id)
    assert_sound_log(task_id, events, task["last_seq"])
    failures = fake_openai.of(status=500)
    assert len(failures) == 2
    assert [e.sdk_retry for e in fake_openai.exchanges] == [0] * len(fake_openai.exchanges), (
        "requests retried inside the model client"
    )
    assert len(of_type(events, "task.retrying")) == len(failures)
