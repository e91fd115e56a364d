"""`jarvis up`: the whole system in one command.

Starts the embedded PostgreSQL and Redis (unless URLs are configured), applies the migrations,
creates a first user on an empty database, then runs gateway, planner and executor as child
processes, prefixing each line they print with the service's name. A service that dies is
restarted with backoff, but one that keeps dying soon after it starts (a taken port, a schema
that never comes) ends `jarvis up` with exit 1, as does a gateway that never answers. Ctrl-C or
SIGTERM stops the services, then the servers; during the migrations, right after them.
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
EXIT_FAILED = 1
# A service that dies this soon after starting, this many times in a row, is not going to get
# better by being restarted: stop and say so instead of looping forever.
QUICK_EXIT_SECONDS = 60.0
MAX_QUICK_EXITS = 4
GATEWAY_ANSWER_WAIT = 120.0


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
    hint: str = ""  # said when the service keeps dying at start

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


@dataclass
class Failure:
    """Why `jarvis up` gives up: set once, by the first service that cannot run."""

    happened: asyncio.Event = field(default_factory=asyncio.Event)
    code: int = 0
    reason: str = ""

    def set(self, code: int, reason: str) -> None:
        if not self.happened.is_set():
            self.code, self.reason = code, reason
            self.happened.set()


async def keep_running(child: Child, stop: asyncio.Event, failure: Failure) -> None:
    """Restart a service that exits on its own, with backoff; give up on a config error or
    after MAX_QUICK_EXITS exits in a row each soon after its start."""
    backoff = 1.0
    quick_exits = 0
    while True:
        code = await child.wait()
        if stop.is_set():
            return
        if code == EXIT_CONFIG:
            log.error("service has a configuration error; stopping", service=child.name)
            failure.set(EXIT_CONFIG, f"{child.name} has a configuration error (see above)")
            return
        if time.monotonic() - child.started_at > QUICK_EXIT_SECONDS:
            backoff, quick_exits = 1.0, 0
        quick_exits += 1
        if quick_exits >= MAX_QUICK_EXITS:
            failure.set(
                EXIT_FAILED,
                f"{child.name} exited {quick_exits} times in a row soon after starting"
                f" (last exit code {code}; see its lines above){child.hint}",
            )
            return
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

    # The migrator runs to its end even when asked to stop (each migration is one transaction,
    # so stopping it midway would only waste its work); then nothing else starts.
    migrator = Child("migrate", [*python, "migrate", "apply"], env, sys.stdout)
    await migrator.start()
    if code := await migrator.wait():
        log.error("migrations failed; not starting the services", code=code)
        return code
    if stop.is_set():
        print("stopped after the migrations; no service started", flush=True)
        return 0
    token = await first_start(servers.database_url)
    if stop.is_set():
        return 0

    children = [Child(name, [*python, name], env, sys.stdout) for name in SERVICES]
    children[SERVICES.index("gateway")].hint = f"; is port {settings.port} taken? (JARVIS_PORT)"
    failure = Failure()
    for child in children:
        await child.start()
    watchers = [asyncio.create_task(keep_running(c, stop, failure)) for c in children]
    failure_waiter = asyncio.create_task(failure.happened.wait())
    failure_waiter.add_done_callback(lambda _: stop.set())

    url = public_url(settings)
    if await wait_until_answering(url + "healthz", stop, GATEWAY_ANSWER_WAIT):
        print(f"Jarvis is up: {url}  (API: {url}v1, Ctrl-C stops it)", flush=True)
        if token:
            print(f"First user '{FIRST_USER}' created. Sign in at {url} with this API token:")
            print(token, flush=True)
    elif not stop.is_set():
        failure.set(
            EXIT_FAILED,
            f"the gateway did not answer at {url} within {GATEWAY_ANSWER_WAIT:.0f}s"
            f" (is port {settings.port} taken? set JARVIS_PORT)",
        )
    await stop.wait()

    print("stopping Jarvis ...", flush=True)
    failure_waiter.cancel()
    await asyncio.gather(*(c.stop(STOP_TIMEOUT) for c in children))
    await asyncio.gather(*watchers, return_exceptions=True)
    if failure.happened.is_set():
        print(f"error: {failure.reason}", file=sys.stderr, flush=True)
        return failure.code
    return 0


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
