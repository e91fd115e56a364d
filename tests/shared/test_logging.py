"""Every process logs one shape: JSON lines with the service name off a terminal, readable
lines on one; the standard library's loggers (arq, aiohttp, asyncpg) included."""

from __future__ import annotations

import json
import logging
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import structlog

from shared.config import LogFormat, Settings
from shared.logging import configure_logging, get_logger
from tests.fixtures.processes import REPO, jarvis_env


@contextmanager
def logging_for(service: str, log_format: LogFormat) -> Iterator[None]:
    """configure_logging for one test; puts the process-wide logging state back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(Settings(log_format=log_format, log_level="INFO"), service)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_lines_carry_service_level_and_event(capsys: pytest.CaptureFixture[str]) -> None:
    with logging_for("planner", "json"):
        get_logger("tests.logging").info("task planned", task_id="t-1", steps=3)
        get_logger("tests.logging").debug("below the level")
        logging.getLogger("arq.worker").warning("job %s took %ss", "plan:t-1", 2)

    lines = json_lines(capsys.readouterr().err)

    assert len(lines) == 2, lines
    ours, stdlib = lines
    assert ours["service"] == "planner"
    assert ours["level"] == "info"
    assert ours["event"] == "task planned"
    assert (ours["task_id"], ours["steps"]) == ("t-1", 3)
    assert ours["logger"] == "tests.logging"
    assert "timestamp" in ours
    assert stdlib["service"] == "planner"
    assert stdlib["level"] == "warning"
    assert stdlib["event"] == "job plan:t-1 took 2s"
    assert stdlib["logger"] == "arq.worker"


def test_json_lines_include_the_exception(capsys: pytest.CaptureFixture[str]) -> None:
    with logging_for("gateway", "json"):
        try:
            raise ValueError("broken thing")
        except ValueError:
            get_logger("tests.logging").exception("request failed")

    (line,) = json_lines(capsys.readouterr().err)

    assert line["level"] == "error"
    assert "ValueError: broken thing" in str(line["exception"])


def test_console_format_is_readable_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    with logging_for("gateway", "console"):
        get_logger("tests.logging").info("gateway listening", port=8080)

    err = capsys.readouterr().err
    (line,) = err.splitlines()

    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert "gateway listening" in line
    assert "port=8080" in line
    assert "service=gateway" in line
    assert "\x1b[" not in line  # no colours when stderr is not a terminal


LOG_ONE_LINE = """
from shared.config import Settings
from shared.logging import configure_logging, get_logger
configure_logging(Settings(log_format="auto"), "planner")
get_logger("tests.logging").info("auto format", answer=42)
"""


def run_logging_one_line(*, stderr_on_a_terminal: bool) -> str:
    """What a process with JARVIS_LOG_FORMAT=auto writes to stderr: a pty or a pipe."""
    env = jarvis_env(PYTHONPATH=str(REPO))
    if not stderr_on_a_terminal:
        done = subprocess.run(
            [sys.executable, "-c", LOG_ONE_LINE], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stderr
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", LOG_ONE_LINE],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
        )
        os.close(terminal)
        terminal = -1
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(30) == 0
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    return b"".join(chunks).decode(errors="replace")


def test_auto_format_is_json_off_a_terminal() -> None:
    (line,) = json_lines(run_logging_one_line(stderr_on_a_terminal=False))

    assert line["event"] == "auto format"
    assert line["answer"] == 42
    assert line["service"] == "planner"


def test_auto_format_is_readable_on_a_terminal() -> None:
    output = run_logging_one_line(stderr_on_a_terminal=True)

    lines = [line for line in output.splitlines() if "auto format" in line]
    assert len(lines) == 1, output
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])
    assert "answer" in lines[0]
    assert "planner" in lines[0]
