"""GET /metrics: Prometheus text (services/gateway/routes/metrics.py)."""

from __future__ import annotations

import uuid

from prometheus_client.parser import text_string_to_metric_families

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
