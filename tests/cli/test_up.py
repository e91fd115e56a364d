"""`jarvis up` with no configuration: embedded servers, migrations, first user, services,
data kept across a restart, one instance per data directory, nothing left after SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from pathlib import Path

import psutil
import pytest

from shared.embedded import free_port
from tests.fixtures.polling import wait_for
from tests.fixtures.processes import RunningJarvis, jarvis_env, run_jarvis


def get_json(url: str) -> tuple[int, dict]:
    return call_api("GET", url)


def call_api(
    method: str, url: str, token: str | None = None, body: dict | None = None
) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            **({"Authorization": f"Bearer {token}"} if token else {}),
            **({"Content-Type": "application/json"} if body is not None else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if running(p)]


def running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # it ended between the two questions
        return False


@pytest.fixture
def up_env(tmp_path: Path) -> dict[str, str]:
    return jarvis_env(JARVIS_DATA_DIR=str(tmp_path / "data"), JARVIS_PORT=str(free_port()))


def start_up(env: dict[str, str], started: list[RunningJarvis]) -> RunningJarvis:
    up = RunningJarvis("up", env=env)
    started.append(up)
    up.wait_for_line("Jarvis is up", within=120)
    return up


def test_up_runs_keeps_data_refuses_a_second_and_stops_cleanly(
    up_env: dict[str, str], started: list[RunningJarvis]
) -> None:
    base = f"http://127.0.0.1:{up_env['JARVIS_PORT']}"
    up = start_up(up_env, started)

    # The first start on an empty database creates a user and prints its token last.
    banner = up.wait_for_line("First user 'admin' created")
    assert base in banner
    token = wait_for(lambda: up.stdout[up.stdout.index(banner) + 1 :], what="token line")[0]
    assert token.startswith("jv_")

    assert get_json(base + "/healthz") == (200, {"status": "ok"})
    status, body = get_json(base + "/readyz")
    assert status == 200, body
    assert body["checks"] == {"postgres": "ok", "redis": "ok"}

    # Each service's lines carry its name.
    for name in ("migrate", "gateway", "planner", "executor"):
        wait_for(lambda n=name: any(line.startswith(f"{n:<8} | ") for line in up.stdout), what=name)

    # A chat with a message, and the task it started, run to its end.
    status, chat = call_api("POST", base + "/v1/chats", token, {"title": "kept"})
    assert status == 201, chat
    status, posted = call_api(
        "POST",
        f"{base}/v1/chats/{chat['id']}/messages",
        token,
        {"content": "Compare PostgreSQL and Redis for Jarvis"},
    )
    assert status == 202, posted
    task_url = f"{base}/v1/tasks/{posted['task_id']}"
    finished = wait_for(
        lambda: (t := call_api("GET", task_url, token)[1])["finished_at"] and t,
        within=90,
        interval=0.5,
        what="the task to finish",
    )
    messages_url = f"{base}/v1/chats/{chat['id']}/messages"
    messages = call_api("GET", messages_url, token)[1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]

    # The first start loaded the project's README and docs/ into the knowledge base.
    listed = run_jarvis("docs", "list", env=up_env)
    assert listed.returncode == 0, listed.stderr
    assert "README.md" in listed.stdout

    # Another command on the same data directory talks to the running servers.
    created = run_jarvis("users", "create", "carol", env=up_env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().splitlines()[-1].startswith("jv_")

    # A second `jarvis up` on the same data directory refuses to run.
    second = run_jarvis("up", env=up_env, timeout=60)
    assert second.returncode == 1
    assert "already running" in second.stderr

    children = descendants(up.process.pid)
    assert len(children) >= 5  # postgres (with its workers), redis, three services
    run_file = Path(up_env["JARVIS_DATA_DIR"]) / "run" / "servers.json"
    assert run_file.exists()

    assert up.stop(signal.SIGTERM) == 0
    wait_for(lambda: not alive(children), within=30, what="every child to exit")
    assert not run_file.exists()

    # Started again: same data, so no new first user, and carol is still there.
    up = start_up(up_env, started)
    assert not any("First user" in line for line in up.stdout)
    carol = run_jarvis("users", "token", "carol", "--revoke", env=up_env)
    assert carol.returncode == 0, carol.stderr
    # The chat, its messages and its task are all still there.
    status, kept = call_api("GET", f"{base}/v1/chats/{chat['id']}", token)
    assert (status, kept["title"], kept["created_at"]) == (200, "kept", chat["created_at"])
    assert call_api("GET", messages_url, token)[1]["messages"] == messages
    assert call_api("GET", task_url, token) == (200, finished)
    children = descendants(up.process.pid)
    assert up.stop(signal.SIGINT) == 0
    wait_for(lambda: not alive(children), within=30, what="every child to exit")


def test_up_with_configured_servers_starts_none(
    tmp_path: Path, servers, fresh_database_url: str, started: list[RunningJarvis]
) -> None:
    env = jarvis_env(
        JARVIS_DATA_DIR=str(tmp_path / "data"),
        JARVIS_PORT=str(free_port()),
        JARVIS_DATABASE_URL=fresh_database_url,
        JARVIS_REDIS_URL=servers.redis_url,
    )
    up = start_up(env, started)
    names = {p.name() for p in descendants(up.process.pid)}
    assert "postgres" not in names
    assert not any("redis" in n for n in names)
    assert not (tmp_path / "data" / "postgres").exists()
    assert up.stop() == 0


def test_commands_without_a_running_up_start_their_own_servers(up_env: dict[str, str]) -> None:
    # No `jarvis up` runs: the command starts embedded servers, does its work, stops them.
    result = run_jarvis("migrate", "apply", env=up_env)
    assert result.returncode == 0, result.stderr
    assert "0001_initial" in result.stdout
    check = run_jarvis("migrate", "check", env=up_env)
    assert check.returncode == 0, check.stderr
    assert not (Path(up_env["JARVIS_DATA_DIR"]) / "run" / "servers.json").exists()


@pytest.mark.parametrize("command", [["migrate", "status"], ["up"]])
def test_an_embedded_server_that_cannot_start_is_one_clear_line(
    up_env: dict[str, str], command: list[str]
) -> None:
    # A data directory whose PostgreSQL cluster is broken: the server starts and exits at once.
    pgdata = Path(up_env["JARVIS_DATA_DIR"]) / "postgres"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("not a version\n")

    result = run_jarvis(*command, env=up_env, timeout=90)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert "embedded PostgreSQL exited" in lines[0]
    assert "postgres.log" in lines[0]


def test_up_with_its_port_taken_says_so_and_exits(
    up_env: dict[str, str], started: list[RunningJarvis]
) -> None:
    port = int(up_env["JARVIS_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        up = RunningJarvis("up", env=up_env)
        started.append(up)
        wait_for(lambda: up.process.poll() is not None, within=150, interval=0.5, what="exit")

    assert up.process.returncode == 1, up.output()
    up.close()
    assert not any("Jarvis is up" in line for line in up.stdout)
    errors = [line for line in up.stderr if line.startswith("error: ")]
    assert len(errors) == 1, up.output()
    assert "gateway" in errors[0]
    assert f"port {port} taken" in errors[0]
    assert "Traceback" not in up.output(), up.output()
    assert not (Path(up_env["JARVIS_DATA_DIR"]) / "run" / "servers.json").exists()


def test_a_stop_during_the_migrations_starts_no_service(
    up_env: dict[str, str], started: list[RunningJarvis]
) -> None:
    up = RunningJarvis("up", env=up_env)
    started.append(up)

    def migrator_running() -> bool:
        try:
            return any("migrate" in p.cmdline() for p in descendants(up.process.pid))
        except psutil.Error:  # a process ended while we looked
            return False

    wait_for(migrator_running, within=90, what="the migrator to start")
    children = descendants(up.process.pid)
    assert up.stop(signal.SIGTERM) == 0, up.output()

    wait_for(lambda: not alive(children), within=30, what="every child to exit")
    assert not any("Jarvis is up" in line for line in up.stdout)
    assert not any(line.startswith(("gateway ", "planner ", "executor ")) for line in up.stdout)
    assert any("applied" in line for line in up.stdout), up.output()  # it ran to its end
