"""The gateway's Prometheus metrics, in a registry of its own (one per application)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "jarvis_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "jarvis_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.websockets = Gauge(
            "jarvis_open_websockets", "Open WebSocket connections", registry=self.registry
        )
        self.tasks = Gauge("jarvis_tasks", "Tasks by status", ["status"], registry=self.registry)
        self.queue_depth = Gauge(
            "jarvis_queue_depth", "Jobs waiting on each queue", ["queue"], registry=self.registry
        )
