"""`jarvis up`: the whole system in one command.

Starts the embedded PostgreSQL and Redis (unless URLs are configured), applies the migrations,
creates a first user on an empty database, then runs gateway, planner and executor as child
processes, prefixing each line they print with the service's name. A service that dies is
restarted with backoff. Ctrl-C or SIGTERM stops the services, then the servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import aiohttp

from cli.stack import Servers, StackBusy, open_servers
from shared.auth import count_users, create_user
from shared.config import Settings
from shared.db import create_pool
from shared.documents import load_initial_documents
from shared.embedded import EmbeddedServerError, die_with_parent
from shared.logging import get_logger

log = get_logger("jarvis.up")

SERVICES = ("gateway", "planner", "executor")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIRST_USER = "admin"
STOP_TIMEOUT = 20.0
EXIT_CONFIG = 2  # a child that exits with this will not do better if restarted


@dataclass
class Child:
    """One service process and the task copying its output."""

    name: str
    argv: list[str]
    env: dict[str, str]
    out: TextIO
    process: asyncio.subprocess.Process | None = None
    pump: asyncio.Task[None] | None = None
    started_at: float = field(default=0.0)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Own session: a terminal's Ctrl-C reaches only us, and we stop children in order.
            start_new_session=True,
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
        self.started_at = time.monotonic()
        self.pump = asyncio.create_task(self._copy_output())

    async def _copy_output(self) -> None:
        assert self.process and self.process.stdout
        prefix = f"{self.name:<8} | "
        async for line in self.process.stdout:
            self.out.write(prefix + line.decode(errors="replace").rstrip("\n") + "\n")
            self.out.flush()

    async def wait(self) -> int:
        assert self.process
        code = await self.process.wait()
        if self.pump:
            await self.pump
        return code

    def signal(self, sig: int) -> None:
        if self.process and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    async def stop(self, grace: float) -> None:
        self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.wait(), grace)
        except TimeoutError:
            log.warning("service did not stop in time; killing it", service=self.name)
            self.signal(signal.SIGKILL)
            await self.wait()


def child_env(settings: Settings, servers: Servers) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        JARVIS_DATABASE_URL=servers.database_url,
        JARVIS_REDIS_URL=servers.redis_url,
        JARVIS_DATA_DIR=str(settings.data_dir.resolve()),
        PYTHONUNBUFFERED="1",
    )
    if settings.log_format == "auto":
        env["JARVIS_LOG_FORMAT"] = "console" if sys.stdout.isatty() else "json"
    return env


def public_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}/"


async def first_start(database_url: str) -> str | None:
    """On an empty database: the first user, and the project's own README and docs/ in the
    knowledge base so the offline system has something real to find. Returns the new token."""
    pool = await create_pool(database_url, max_size=1)
    try:
        loaded = await load_initial_documents(pool, PROJECT_ROOT)
        if loaded:
            log.info("knowledge base loaded with the project's documentation", documents=loaded)
        if await count_users(pool):
            return None
        _, token = await create_user(pool, FIRST_USER)
        return token
    finally:
        await pool.close()


async def wait_until_answering(url: str, stop: asyncio.Event, wait: float = 120.0) -> bool:
    deadline = time.monotonic() + wait
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline and not stop.is_set():
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
    return False


async def keep_running(child: Child, stop: asyncio.Event, fatal: asyncio.Event) -> None:
    """Restart a service that exits on its own, with backoff; give up on a config error."""
    backoff = 1.0
    while True:
        code = await child.wait()
        if stop.is_set():
            return
        if code == EXIT_CONFIG:
            log.error("service has a configuration error; stopping", service=child.name)
            fatal.set()
            return
        if time.monotonic() - child.started_at > 60:
            backoff = 1.0
        log.warning("service exited; restarting", service=child.name, code=code, delay=backoff)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        if stop.is_set():
            return
        await child.start()
        backoff = min(backoff * 2, 30.0)


async def _up(settings: Settings, servers: Servers) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    env = child_env(settings, servers)
    python = [sys.executable, "-m", "cli"]

    migrator = Child("migrate", [*python, "migrate", "apply"], env, sys.stdout)
    await migrator.start()
    if code := await migrator.wait():
        log.error("migrations failed; not starting the services", code=code)
        return code
    token = await first_start(servers.database_url)

    children = [Child(name, [*python, name], env, sys.stdout) for name in SERVICES]
    fatal = asyncio.Event()
    for child in children:
        await child.start()
    watchers = [asyncio.create_task(keep_running(c, stop, fatal)) for c in children]
    fatal_waiter = asyncio.create_task(fatal.wait())
    fatal_waiter.add_done_callback(lambda _: stop.set())

    url = public_url(settings)
    if await wait_until_answering(url + "healthz", stop):
        print(f"Jarvis is up: {url}  (API: {url}v1, Ctrl-C stops it)", flush=True)
        if token:
            print(f"First user '{FIRST_USER}' created. Sign in at {url} with this API token:")
            print(token, flush=True)
    await stop.wait()

    print("stopping Jarvis ...", flush=True)
    fatal_waiter.cancel()
    await asyncio.gather(*(c.stop(STOP_TIMEOUT) for c in children))
    await asyncio.gather(*watchers, return_exceptions=True)
    return EXIT_CONFIG if fatal.is_set() else 0


def run_up(settings: Settings) -> int:
    # Until the event loop takes over, SIGTERM unwinds like Ctrl-C so the servers stop cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with open_servers(settings, owner="up", must_own=True) as servers:
            return asyncio.run(_up(settings, servers))
    except StackBusy as error:
        print(error, file=sys.stderr)
        return 1
    except EmbeddedServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
