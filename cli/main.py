"""The `jarvis` command: `jarvis up` runs everything; the other subcommands run one part.

Every subcommand reads the settings once, finds its servers (configured, or the embedded ones
of the data directory) and hands both to the code it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from cli.stack import Servers, StackBusy, open_servers
from shared.config import ConfigError, Settings, load_settings_or_exit
from shared.embedded import EmbeddedServerError
from shared.logging import configure_logging


def _with_servers(settings: Settings, servers: Servers) -> Settings:
    return settings.model_copy(
        update={"database_url": servers.database_url, "redis_url": servers.redis_url}
    )


def _run_with_servers(args: argparse.Namespace, name: str, run: Callable[[Settings], int]) -> int:
    settings = load_settings_or_exit()
    configure_logging(settings, name)
    try:
        with open_servers(settings, owner=name) as servers:
            return run(_with_servers(settings, servers))
    except StackBusy as error:
        print(error, file=sys.stderr)
        return 1
    except EmbeddedServerError as error:
        # The message names the server and its log file; a traceback would add nothing.
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2


def cmd_up(args: argparse.Namespace) -> int:
    from cli.up import run_up

    settings = load_settings_or_exit()
    configure_logging(settings, "jarvis")
    return run_up(settings)


def cmd_gateway(args: argparse.Namespace) -> int:
    from services.gateway.main import run

    return _run_with_servers(args, "gateway", run)


def cmd_planner(args: argparse.Namespace) -> int:
    from services.planner.worker import run

    return _run_with_servers(args, "planner", lambda s: run(s, check=args.check))


def cmd_executor(args: argparse.Namespace) -> int:
    from services.executor.worker import run

    return _run_with_servers(args, "executor", lambda s: run(s, check=args.check))


def cmd_migrate(args: argparse.Namespace) -> int:
    from services.migrator.main import run

    steps = None if args.all else args.steps
    return _run_with_servers(
        args,
        "migrate",
        lambda s: run(s, args.migrate_command, steps=steps, source=args.source),
    )


def cmd_users(args: argparse.Namespace) -> int:
    from cli.users import run_users

    return _run_with_servers(args, "users", lambda s: asyncio.run(run_users(s, args)))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def cmd_docs(args: argparse.Namespace) -> int:
    from cli.docs import run_docs

    return _run_with_servers(args, "docs", lambda s: asyncio.run(run_docs(s, args)))


def cmd_chat(args: argparse.Namespace) -> int:
    from cli.chat import run_chat

    settings = load_settings_or_exit()
    return asyncio.run(run_chat(settings, args.message, chat_id=args.chat, as_json=args.json))


def cmd_bench(args: argparse.Namespace) -> int:
    # Its own embedded servers and services in a temporary directory: no settings needed.
    from bench.run import run_bench

    run_bench(quick=args.quick, out=args.out, profile=args.profile)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jarvis",
        description="Jarvis: agentic AI tasks behind a chat. Settings: JARVIS_* variables.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run the whole system (embedded servers unless configured)")
    up.set_defaults(func=cmd_up)

    gateway = commands.add_parser("gateway", help="run the HTTP API and WebSocket gateway")
    gateway.set_defaults(func=cmd_gateway)
    for name, func, text in (
        ("planner", cmd_planner, "run a planner worker"),
        ("executor", cmd_executor, "run an executor worker"),
    ):
        worker = commands.add_parser(name, help=text)
        worker.add_argument("--check", action="store_true", help="exit 0 if a worker is healthy")
        worker.set_defaults(func=func)

    migrate = commands.add_parser("migrate", help="apply, roll back or inspect migrations")
    migrate.add_argument(
        "migrate_command",
        choices=["apply", "rollback", "status", "check"],
        metavar="ACTION",
        help="apply | rollback | status | check",
    )
    how_many = migrate.add_mutually_exclusive_group()
    how_many.add_argument(
        "--steps", type=_positive, default=1, help="rollback: how many (default 1)"
    )
    how_many.add_argument("--all", action="store_true", help="rollback: every migration")
    migrate.add_argument("--source", type=Path, default=None, help="another migrations folder")
    migrate.set_defaults(func=cmd_migrate)

    users = commands.add_parser("users", help="create users and API tokens")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = user_commands.add_parser("create", help="create a user; prints its API token last")
    create.add_argument("name")
    token = user_commands.add_parser("token", help="issue a new API token for a user")
    token.add_argument("name")
    token.add_argument("--revoke", action="store_true", help="revoke the user's older tokens")
    users.set_defaults(func=cmd_users)

    docs = commands.add_parser("docs", help="the local knowledge base web_search searches")
    doc_commands = docs.add_subparsers(dest="docs_command", required=True, metavar="ACTION")
    add = doc_commands.add_parser("add", help="add Markdown, text or HTML files, or folders")
    add.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    doc_commands.add_parser("list", help="list the documents")
    remove = doc_commands.add_parser("remove", help="remove a document by id")
    remove.add_argument("id")
    docs.set_defaults(func=cmd_docs)

    chat = commands.add_parser("chat", help="talk to a running gateway (JARVIS_URL, JARVIS_TOKEN)")
    chat.add_argument("message", nargs="?", help="the message; none: an interactive session")
    chat.add_argument("--chat", help="an existing chat's id (default: a new chat)")
    chat.add_argument("--json", action="store_true", help="print the events as JSON lines")
    chat.set_defaults(func=cmd_chat)

    bench = commands.add_parser(
        "bench",
        help="measure throughput and latency on a throwaway deployment (docs/benchmarks.md)",
    )
    bench.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    bench.add_argument(
        "--out", type=Path, default=None, help="write results here (default: bench/results)"
    )
    bench.add_argument(
        "--profile", type=Path, default=None, help="also profile the services with py-spy into DIR"
    )
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    raise SystemExit(args.func(args))
