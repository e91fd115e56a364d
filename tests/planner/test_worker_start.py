"""A worker names its models when it starts (the offline model says it is `offline`), and a bad
model setting stops it at start with one line and exit code 2, not at the first task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fixtures.polling import wait_for
from tests.fixtures.processes import RunningJarvis, jarvis_env, run_jarvis

if TYPE_CHECKING:
    from tests.fixtures.servers import TestServers


def worker_env(database: str, servers: TestServers, tmp_path: Path, **values: str) -> dict:
    return jarvis_env(
        JARVIS_DATABASE_URL=database,
        JARVIS_REDIS_URL=servers.redis_url,
        JARVIS_DATA_DIR=str(tmp_path / "data"),
        JARVIS_LOG_FORMAT="json",
        **values,
    )


@pytest.mark.parametrize("service", ["planner", "executor"])
def test_a_worker_names_the_offline_model_in_its_log(
    migrated_database: str,
    servers: TestServers,
    tmp_path: Path,
    started: list[RunningJarvis],
    service: str,
) -> None:
    worker = RunningJarvis(service, env=worker_env(migrated_database, servers, tmp_path))
    started.append(worker)

    def start_record() -> dict | None:
        for line in worker.stdout + worker.stderr:
            if line.startswith("{") and '"worker started"' in line:
                return json.loads(line)
        return None

    record = wait_for(start_record, within=60, what=f"{service} started")
    assert set(record["models"].values()) == {"offline"}, record
    assert set(record["models"]) == {"detection", "planning", "execution"}
    assert worker.stop() == 0


@pytest.mark.parametrize("service", ["planner", "executor"])
def test_a_model_without_its_key_stops_the_worker_at_start(
    migrated_database: str, servers: TestServers, tmp_path: Path, service: str
) -> None:
    env = worker_env(migrated_database, servers, tmp_path, JARVIS_MODEL="anthropic:claude-x")
    env.pop("ANTHROPIC_API_KEY", None)

    result = run_jarvis(service, env=env, timeout=60)

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "configuration error: JARVIS_MODEL='anthropic:claude-x' needs ANTHROPIC_API_KEY"
    ]
