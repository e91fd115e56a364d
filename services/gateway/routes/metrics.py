"""GET /metrics (Prometheus): requests by route and status, latency, open WebSockets, tasks by
status and queue depth (the last two read when scraped; while PostgreSQL or Redis is down,
their last values)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from services.gateway.keys import DB, KEYS, METRICS, REDIS
from services.gateway.middleware import as_unavailable
from shared.tasks import TaskStatus

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()


def route_name(request: web.Request) -> str:
    """The route's template, so ids do not explode the label's values."""
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        route = route_name(request)
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)


@routes.get("/metrics")
async def metrics_endpoint(request: web.Request) -> web.Response:
    app = request.app
    metrics = app[METRICS]
    try:
        rows = await app[DB].fetch("SELECT status, count(*) AS n FROM tasks GROUP BY status")
    except Exception as error:
        if as_unavailable(error) is None:
            raise
        rows = None  # PostgreSQL down: keep the last counts, and still serve the rest
    if rows is not None:
        # Every status, not only those with rows: one whose tasks are all gone reads 0, not the
        # count it had when last seen.
        counts = {status.value: 0 for status in TaskStatus} | {r["status"]: r["n"] for r in rows}
        for status, count in counts.items():
            metrics.tasks.labels(status).set(count)
    keys = app[KEYS]
    for queue in (keys.planner_queue, keys.executor_queue):
        # Redis down: keep the last value; /readyz says why.
        with contextlib.suppress(RedisError, OSError):
            metrics.queue_depth.labels(queue).set(await app[REDIS].zcard(queue))
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
