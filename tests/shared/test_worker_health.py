"""`jarvis planner|executor --check` checks its own worker: a hung replica fails its check even
while another worker of the same queue is healthy."""

from __future__ import annotations

import signal
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shared.embedded import free_port
from shared.jobs import worker_identity
from shared.redis_keys import worker_health_key
from tests.fixtures.polling import wait_for
from tests.fixtures.processes import RunningJarvis, jarvis_env, run_jarvis

if TYPE_CHECKING:
    from tests.fixtures.servers import TestServers


def test_health_key_names_the_worker() -> None:
    assert worker_health_key("q", "a") != worker_health_key("q", "b")
    assert worker_identity(None) == socket.gethostname()
    assert worker_identity("w1") == "w1"


@pytest.mark.parametrize("service", ["planner", "executor"])
def test_a_hung_worker_fails_its_check_while_another_on_its_queue_passes(
    service: str,
    migrated_database: str,
    servers: TestServers,
    tmp_path: Path,
    started: list[RunningJarvis],
) -> None:
    base = jarvis_env(
        JARVIS_DATABASE_URL=migrated_database,
        JARVIS_REDIS_URL=servers.redis_url,
        JARVIS_DATA_DIR=str(tmp_path / "data"),
        JARVIS_PORT=str(free_port()),
        # A queue of this test's own: other tests' workers do not count.
        JARVIS_REDIS_PREFIX=f"health-{uuid.uuid4().hex[:8]}:",
        JARVIS_LOG_FORMAT="json",
    )
    env_a = {**base, "JARVIS_WORKER_ID": "a"}
    env_b = {**base, "JARVIS_WORKER_ID": "b"}

    def check(env: dict[str, str]) -> int:
        return run_jarvis(service, "--check", env=env, timeout=60).returncode

    # Before any worker runs, the check fails.
    assert check(env_a) == 1
    worker_a = RunningJarvis(service, env=env_a)
    worker_b = RunningJarvis(service, env=env_b)
    started += [worker_a, worker_b]
    wait_for(lambda: check(env_a) == 0, within=60, interval=0.5, what="worker a healthy")
    wait_for(lambda: check(env_b) == 0, within=60, interval=0.5, what="worker b healthy")

    # Worker a hangs (stopped, not dead): its key lapses, b's is still refreshed.
    worker_a.process.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: check(env_a) == 1, within=40, interval=1, what="worker a unhealthy")
        assert check(env_b) == 0
    finally:
        worker_a.process.kill()
