"""GET /metrics: Prometheus text (services/gateway/routes/metrics.py)."""

from __future__ import annotations

import uuid

from prometheus_client.parser import text_string_to_metric_families

from services.gateway.keys import KEYS
from shared.tasks import TaskStatus
from tests.fixtures.api import Api


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_requests_by_route_and_tasks_by_status(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    cancelled = await api.post_message(alice, chat["id"])
    await api.post_message(alice, chat["id"])
    assert (
        await api.request("POST", f"/v1/tasks/{cancelled['task_id']}/cancel", alice)
    ).status == 200
    await api.request("GET", f"/v1/chats/{uuid.uuid4()}", alice)

    reply = await api.request("GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    found = samples(reply.text)

    def value(name: str, **labels: str) -> float | None:
        return found.get((name, frozenset(labels.items())))

    assert value("jarvis_http_requests_total", method="POST", route="/v1/chats", status="201") == 1
    posted = value(
        "jarvis_http_requests_total",
        method="POST",
        route="/v1/chats/{chat_id}/messages",
        status="202",
    )
    assert posted == 2
    # Ids are not labels: the route's template is.
    assert (
        value("jarvis_http_requests_total", method="GET", route="/v1/chats/{chat_id}", status="404")
        == 1
    )
    assert value("jarvis_tasks", status="queued") == 1
    assert value("jarvis_tasks", status="cancelled") == 1
    assert any(name == "jarvis_http_request_seconds_count" for name, _ in found)
    assert ("jarvis_open_websockets", frozenset()) in found


async def scrape(api: Api) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    reply = await api.request("GET", "/metrics")
    assert reply.status == 200, reply.text
    return samples(reply.text)


async def test_every_status_is_counted_even_when_it_falls_to_zero(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    task = await api.post_message(alice, chat["id"])
    found = await scrape(api)
    counts = {s: found.get(("jarvis_tasks", frozenset({("status", s)}))) for s in TaskStatus}
    assert counts == {s: 1 if s == "queued" else 0 for s in TaskStatus}

    assert (await api.request("POST", f"/v1/tasks/{task['task_id']}/cancel", alice)).status == 200
    found = await scrape(api)
    assert found[("jarvis_tasks", frozenset({("status", "queued")}))] == 0
    assert found[("jarvis_tasks", frozenset({("status", "cancelled")}))] == 1


async def test_queue_depth_is_the_jobs_waiting_on_each_queue(api: Api) -> None:
    keys = api.client.app[KEYS]
    planner = frozenset({("queue", keys.planner_queue)})
    executor = frozenset({("queue", keys.executor_queue)})
    found = await scrape(api)
    assert found[("jarvis_queue_depth", planner)] == 0
    assert found[("jarvis_queue_depth", executor)] == 0

    # No worker runs here: each posted message's planning job waits on the planner's queue.
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    for expected in (1, 2):
        await api.post_message(alice, chat["id"])
        found = await scrape(api)
        assert found[("jarvis_queue_depth", planner)] == expected
        assert found[("jarvis_queue_depth", executor)] == 0
