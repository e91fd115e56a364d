"""The benchmark's own deployment: embedded PostgreSQL and Redis in a temporary directory, the
migrations, one user, and gateway/planner/executor processes started and stopped on demand.

Readiness is polled with deadlines: the gateway answers /healthz; a worker has connected to both
Redis and PostgreSQL (its arq poll loop starts right after its startup hook opens the pool).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
import asyncpg
import psutil

from shared.auth import create_user
from shared.db import create_pool
from shared.documents import load_initial_documents
from shared.embedded import ServerProcess, die_with_parent, free_port, start_postgres, start_redis

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class BenchError(RuntimeError):
    """The benchmark could not set something up; the message says what."""


async def poll_until(check: object, *, within: float, interval: float, what: str) -> None:
    """Await `check()` until it is truthy, or raise BenchError at the deadline."""
    deadline = time.monotonic() + within
    while True:
        if await check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


def service_env(
    database_url: str, redis_url: str, data_dir: Path, **settings: str
) -> dict[str, str]:
    """A service's environment: none of the caller's JARVIS_* settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JARVIS_")}
    env.update(
        JARVIS_DATABASE_URL=database_url,
        JARVIS_REDIS_URL=redis_url,
        JARVIS_DATA_DIR=str(data_dir),
        JARVIS_RATE_LIMIT="0",
        JARVIS_LOG_LEVEL="WARNING",
        JARVIS_LOG_FORMAT="json",
        JARVIS_MODEL="offline",
        JARVIS_SEARCH="local",
        JARVIS_OFFLINE_LATENCY="0",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"JARVIS_{name.upper()}": value for name, value in settings.items()})
    return env


@dataclass(eq=False)
class Service:
    """One service process; its output goes to a log file under the run directory."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def connected_to(self, *ports: int) -> bool:
        try:
            connections = psutil.Process(self.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        remote = {c.raddr.port for c in connections if c.raddr and c.status == "ESTABLISHED"}
        return all(port in remote for port in ports)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.alive:
            self.process.send_signal(sig)
        try:
            code = await asyncio.to_thread(self.process.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = await asyncio.to_thread(self.process.wait, STOP_TIMEOUT)
        self.log.close()
        return code


@dataclass
class BenchStack:
    """Servers, a user, and the services currently running."""

    root: Path
    postgres: ServerProcess
    redis: ServerProcess
    pool: asyncpg.Pool
    user_id: uuid.UUID
    token: str
    services: list[Service] = field(default_factory=list)
    _started: int = 0

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @classmethod
    async def open(cls, root: Path) -> BenchStack:
        """Start the servers under `root`, apply the migrations, load the knowledge base."""
        (root / "logs").mkdir(parents=True, exist_ok=True)
        postgres = await asyncio.to_thread(start_postgres, root / "servers")
        redis = await asyncio.to_thread(start_redis, root / "servers")
        try:
            env = service_env(postgres.url, redis.url, root / "data")
            migrate = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "cli", "migrate", "apply"],
                env=env,
                cwd=PROJECT_ROOT,
                capture_output=True,
                timeout=120,
            )
            if migrate.returncode:
                raise BenchError("migrations failed: " + migrate.stderr.decode()[-1000:])
            pool = await create_pool(postgres.url, max_size=20)
            # web_search searches the project's own documentation, as after a first `jarvis up`.
            await load_initial_documents(pool, PROJECT_ROOT)
            user, token = await create_user(pool, "bench")
        except BaseException:
            redis.stop()
            postgres.stop()
            raise
        return cls(root, postgres, redis, pool, user.id, token)

    async def close(self) -> None:
        await asyncio.gather(*(s.stop(signal.SIGKILL) for s in self.services if s.alive))
        self.services.clear()
        await self.pool.close()
        await asyncio.to_thread(self.redis.stop)
        await asyncio.to_thread(self.postgres.stop)

    # --- services --------------------------------------------------------------------------

    def env(self, *, port: int, prefix: str) -> dict[str, str]:
        return service_env(
            self.database_url,
            self.redis_url,
            self.root / "data",
            PORT=str(port),
            REDIS_PREFIX=prefix,
        )

    def spawn(self, name: str, env: dict[str, str]) -> Service:
        self._started += 1
        log_path = self.root / "logs" / f"{name}-{self._started}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", name],
            env=env,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
        service = Service(name, process, log, log_path)
        self.services.append(service)
        return service

    async def start_gateway(self, prefix: str) -> tuple[Service, str]:
        """A gateway on a free port; returns it and its base URL once it answers."""
        port = free_port()
        gateway = self.spawn("gateway", self.env(port=port, prefix=prefix))
        base_url = f"http://127.0.0.1:{port}"

        async def answering() -> bool:
            if not gateway.alive:
                raise BenchError("the gateway exited:\n" + gateway.tail())
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(base_url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r,
                ):
                    return r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        await poll_until(answering, within=READY_TIMEOUT, interval=0.05, what="the gateway")
        return gateway, base_url

    async def start_workers(self, prefix: str, *, planners: int, executors: int) -> list[Service]:
        env = self.env(port=free_port(), prefix=prefix)
        workers = [self.spawn("planner", env) for _ in range(planners)]
        workers += [self.spawn("executor", env) for _ in range(executors)]

        async def connected() -> bool:
            for worker in workers:
                if not worker.alive:
                    raise BenchError(f"a {worker.name} exited:\n" + worker.tail())
            return all(w.connected_to(self.redis.port, self.postgres.port) for w in workers)

        await poll_until(connected, within=READY_TIMEOUT, interval=0.05, what="the workers")
        return workers

    async def stop(self, services: list[Service]) -> None:
        await asyncio.gather(*(s.stop() for s in services))
        for service in services:
            if service in self.services:
                self.services.remove(service)

    # --- data ------------------------------------------------------------------------------

    async def make_chats(self, count: int) -> list[str]:
        """`count` empty chats of the bench user, written straight to PostgreSQL."""
        rows = await self.pool.fetch(
            "INSERT INTO chats (user_id, title) SELECT $1, 'bench' FROM generate_series(1, $2)"
            " RETURNING id",
            self.user_id,
            count,
        )
        return [str(row["id"]) for row in rows]

    async def delete_chats(self, chat_ids: list[str]) -> None:
        """Removes the chats with their tasks, messages and events."""
        await self.pool.execute(
            "DELETE FROM chats WHERE id = ANY($1::uuid[])", [uuid.UUID(c) for c in chat_ids]
        )

    def postgres_processes(self) -> list[psutil.Process]:
        try:
            main = psutil.Process(self.postgres.process.pid)
            return [main, *main.children(recursive=True)]
        except psutil.Error:
            return []

    def redis_process(self) -> psutil.Process | None:
        try:
            return psutil.Process(self.redis.process.pid)
        except psutil.Error:
            return None
