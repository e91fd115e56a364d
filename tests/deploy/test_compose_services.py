"""Every Jarvis service of docker-compose.yml, run as a local process with the command and the
environment the compose file gives it, in the order it says, completes a task; then SIGTERM
stops each one within its stop_grace_period.

What Docker would provide is replaced by the tests': the postgres and redis services by the test
servers (their URLs' host, credentials and database), the container's network by 127.0.0.1 and a
free port, and the image's `jarvis` entrypoint by `python -m cli` from this checkout.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from shared.auth import create_user
from shared.embedded import free_port
from tests.deploy.compose_file import (
    SERVERS,
    compose,
    depends_on,
    duration,
    enabled_services,
    image,
    jarvis_services,
    service_environment,
    start_order,
)
from tests.fixtures.polling import wait_for
from tests.fixtures.processes import REPO, RunningJarvis, jarvis_env

CONTAINER_PORT = "8080"
TASK_DEADLINE = 120.0


def local_url(compose_url: str, server_urls: dict[str, str]) -> str:
    """A URL naming a compose server (postgres, redis) → the test server's URL."""
    host = urlsplit(compose_url).hostname
    return server_urls.get(host, compose_url) if host else compose_url


def local_environment(
    service: dict[str, Any], env: dict[str, str], server_urls: dict[str, str], port: int
) -> dict[str, str]:
    variables = service_environment(service, env)
    for name, value in variables.items():
        if "://" in value:
            variables[name] = local_url(value, server_urls)
    variables["JARVIS_HOST"] = "127.0.0.1"
    variables["JARVIS_PORT"] = str(port)
    return jarvis_env(**variables)


def local_argv(argv: list[str], port: int) -> list[str]:
    """A container command → the same here: jarvis and python from this venv, our port."""
    programs = {"jarvis": [sys.executable, "-m", "cli"], "python": [sys.executable]}
    head = programs.get(argv[0], [argv[0]])
    return [*head, *(arg.replace(f":{CONTAINER_PORT}/", f":{port}/") for arg in argv[1:])]


def healthy(service: dict[str, Any], env: dict[str, str], port: int) -> bool:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", "only exec-form health checks can run here"
    result = subprocess.run(
        local_argv(test[1:], port), env=env, cwd=REPO, capture_output=True, timeout=60
    )
    return result.returncode == 0


def get_json(url: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


async def new_user(database_url: str) -> str:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        _, token = await create_user(pool, "compose-user")
        return token
    finally:
        await pool.close()


async def knowledge_sources(database_url: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        return [row[0] for row in await connection.fetch("SELECT source FROM documents")]
    finally:
        await connection.close()


@pytest.mark.timeout(420)
def test_the_compose_services_complete_a_task_and_stop(
    fresh_database_url: str,
    redis_url: str,
    started: list[RunningJarvis],
    tmp_path: Path,
) -> None:
    env = {"POSTGRES_PASSWORD": "not-used-here", "REDIS_PASSWORD": "not-used-here"}
    data = compose(env)
    enabled = enabled_services(data)  # no profile: no searxng
    ours = {name for name in jarvis_services(data) if name in enabled}
    assert set(SERVERS) <= enabled
    assert {"migrator", "gateway", "planner", "executor"} <= ours
    server_urls = {"postgres": fresh_database_url, "redis": redis_url}
    port = free_port()
    data_dir = tmp_path / "data"
    envs = {n: local_environment(data["services"][n], env, server_urls, port) for n in ours}
    for variables in envs.values():
        # Instead of the image's /var/lib/jarvis; given database and Redis URLs, nothing is written
        # there (the Kubernetes manifests make the root filesystem read-only).
        variables["JARVIS_DATA_DIR"] = str(data_dir)
    running: dict[str, RunningJarvis] = {}

    def finished_ok(name: str, within: float = 120) -> None:
        process = running[name].process
        try:
            code = process.wait(within)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} still runs after {within}s") from None
        assert code == 0, f"{name} exited {code}:\n{running[name].output()}"

    def wait_healthy(name: str) -> None:
        service = data["services"][name]
        within = duration(service["healthcheck"]["start_period"]) + 60

        def check() -> bool:
            process = running[name].process
            if process.poll() is not None:
                raise AssertionError(
                    f"{name} exited {process.returncode}:\n{running[name].output()}"
                )
            return healthy(service, envs[name], port)

        wait_for(check, within=within, interval=0.5, what=f"{name} to be healthy")

    # The health checks say "unhealthy" while nothing runs: they are not always true.
    for name in ours:
        if "healthcheck" in data["services"][name]:
            assert not healthy(data["services"][name], envs[name], port), name

    # In the compose file's order, each service once what it depends on is there.
    for name in start_order(data, ours):
        service = data["services"][name]
        for dependency, how in depends_on(service).items():
            if dependency in SERVERS or dependency not in ours:
                continue  # the test servers run already; profile services are off
            if how["condition"] == "service_completed_successfully":
                finished_ok(dependency)
            elif how["condition"] == "service_healthy":
                wait_healthy(dependency)
        command = service.get("command", image().command)
        assert (service.get("entrypoint") or image().entrypoint) == ["jarvis"]
        running[name] = RunningJarvis(*command, env=envs[name])
        started.append(running[name])

    one_shots = [n for n in ours if data["services"][n].get("restart") == "no"]
    services = [n for n in ours if n not in one_shots]
    for name in one_shots:
        finished_ok(name)
    for name in services:
        if "healthcheck" in data["services"][name]:
            wait_healthy(name)

    # The knowledge service loaded the README and docs/.
    sources = asyncio.run(knowledge_sources(fresh_database_url))
    assert str(REPO / "README.md") in sources
    assert str(REPO / "docs" / "deploy.md") in sources

    # A task, through the gateway, the planner and the executor.
    token = asyncio.run(new_user(fresh_database_url))
    base = f"http://127.0.0.1:{port}"
    status, chat = get_json(f"{base}/v1/chats", token, {"title": "compose"})
    assert status == 201, chat
    status, accepted = get_json(
        f"{base}/v1/chats/{chat['id']}/messages",
        token,
        {"content": "Research PostgreSQL advisory locks and summarise"},
    )
    assert status == 202, accepted

    def task_ended() -> dict[str, Any] | None:
        status, task = get_json(f"{base}/v1/tasks/{accepted['task_id']}", token)
        assert status == 200, task
        return task if task["status"] in ("succeeded", "failed", "cancelled") else None

    task = wait_for(task_ended, within=TASK_DEADLINE, interval=0.2, what="the task to end")
    assert task["status"] == "succeeded", (task, {n: running[n].output() for n in services})

    # docker compose stop: one SIGTERM each, and SIGKILL after stop_grace_period (default 10 s).
    began = time.monotonic()
    for name in services:
        running[name].process.send_signal(signal.SIGTERM)
    for name in services:
        grace = duration(data["services"][name].get("stop_grace_period", "10s"))
        left = max(0.0, began + grace - time.monotonic())
        try:
            code = running[name].process.wait(left)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} still runs {grace}s after SIGTERM") from None
        running[name].close()
        assert code == 0, f"{name} exited {code}:\n{running[name].output()}"
    assert not data_dir.exists()
