"""Which PostgreSQL and Redis a command talks to.

Configured URLs win. Otherwise a command uses the embedded servers of the `jarvis up` (or other
command) already running on the same data directory, or starts them for itself. Whoever starts
the servers holds an flock on `run/stack.lock` for as long as they run: the kernel releases it
when the holder dies, so there is never a stale lock, and `run/servers.json` says where they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.config import Settings
from shared.embedded import ServerProcess, port_open, start_postgres, start_redis

ATTACH_TIMEOUT = 60.0


class StackBusy(RuntimeError):
    """Another process owns this data directory's servers."""


@dataclass(frozen=True)
class Servers:
    database_url: str
    redis_url: str


@dataclass(frozen=True)
class RunInfo:
    pid: int
    owner: str  # the command that started the servers, e.g. "up" or "migrate"
    database_url: str | None
    redis_url: str | None
    postgres_port: int | None
    redis_port: int | None


def run_dir(data_dir: Path) -> Path:
    return data_dir / "run"


def read_run_info(data_dir: Path) -> RunInfo | None:
    try:
        return RunInfo(**json.loads((run_dir(data_dir) / "servers.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_run_info(data_dir: Path, info: RunInfo) -> None:
    path = run_dir(data_dir) / "servers.json"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(info), handle)
    tmp.replace(path)


def _answering(info: RunInfo) -> bool:
    ports = [p for p in (info.postgres_port, info.redis_port) if p is not None]
    return all(port_open(p) for p in ports)


def _servers(settings: Settings, info: RunInfo) -> Servers:
    database_url = settings.database_url or info.database_url
    redis_url = settings.redis_url or info.redis_url
    assert database_url and redis_url
    return Servers(database_url, redis_url)


@contextlib.contextmanager
def _owned_stack(settings: Settings, owner: str) -> Iterator[Servers]:
    """Start the embedded servers the settings leave unset; stop them on the way out."""
    data_dir = settings.data_dir
    started: list[ServerProcess] = []
    try:
        postgres = None if settings.database_url else start_postgres(data_dir)
        if postgres:
            started.append(postgres)
        redis = None if settings.redis_url else start_redis(data_dir)
        if redis:
            started.append(redis)
        info = RunInfo(
            pid=os.getpid(),
            owner=owner,
            database_url=postgres.url if postgres else None,
            redis_url=redis.url if redis else None,
            postgres_port=postgres.port if postgres else None,
            redis_port=redis.port if redis else None,
        )
        _write_run_info(data_dir, info)
        yield _servers(settings, info)
    finally:
        (run_dir(data_dir) / "servers.json").unlink(missing_ok=True)
        for server in reversed(started):
            server.stop()


@contextlib.contextmanager
def open_servers(settings: Settings, owner: str, *, must_own: bool = False) -> Iterator[Servers]:
    """The servers for one command; with must_own, fail with StackBusy instead of attaching."""
    if not settings.embedded and not must_own:
        yield Servers(settings.database_url, settings.redis_url)  # type: ignore[arg-type]
        return
    data_dir = settings.data_dir
    run_dir(data_dir).mkdir(parents=True, exist_ok=True)
    with (run_dir(data_dir) / "stack.lock").open("a+") as lock:
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                info = read_run_info(data_dir)
                if must_own:
                    raise StackBusy(_busy_message(data_dir, info)) from None
                if info is not None and _answering(info):
                    yield _servers(settings, info)
                    return
                if time.monotonic() > deadline:
                    raise StackBusy(_busy_message(data_dir, info)) from None
                time.sleep(0.1)  # the owner is still starting its servers
        try:
            with _owned_stack(settings, owner) as servers:
                yield servers
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _busy_message(data_dir: Path, info: RunInfo | None) -> str:
    if info is None:
        return f"another jarvis process is using {data_dir} and its servers do not answer"
    if info.owner == "up":
        return f"jarvis up is already running on {data_dir} (pid {info.pid})"
    return (
        f"`jarvis {info.owner}` (pid {info.pid}) is running the embedded servers of {data_dir};"
        " wait for it to finish"
    )
