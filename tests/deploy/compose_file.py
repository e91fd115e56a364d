"""Reading docker-compose.yml and the Dockerfile the way Docker would, without Docker:
variable substitution, the image's entrypoint and command, the services' start order."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from tests.fixtures.processes import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
# The servers that the tests replace with their own.
SERVERS = ("postgres", "redis")

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


class MissingVariable(ValueError):
    """A `${VAR:?message}` whose variable is unset or empty."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's substitution of ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message},
    ${VAR?message} and $$, in every string of `value`."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        current = env.get(name)
        missing = current is None or (op is not None and op.startswith(":") and current == "")
        if op in ("-", ":-") and missing:
            return arg
        if op in ("?", ":?") and missing:
            raise MissingVariable(f"{name}: {arg}")
        return current or ""

    return _VARIABLE.sub(substitute, value)


@cache
def raw_compose() -> dict[str, Any]:
    """The compose file as YAML says it (anchors and merge keys resolved), not interpolated."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose(env: dict[str, str]) -> dict[str, Any]:
    return interpolate(raw_compose(), env)


@dataclass(frozen=True)
class Image:
    entrypoint: list[str]
    command: list[str]
    env: dict[str, str]  # the runtime stage's ENV


@cache
def image() -> Image:
    """ENTRYPOINT, CMD and ENV of the Dockerfile's last stage."""
    stages: list[list[str]] = []
    for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.upper().startswith("FROM "):
            stages.append([])
        elif line and not line.startswith("#") and stages:
            stages[-1].append(line)
    entrypoint: list[str] = []
    command: list[str] = []
    env: dict[str, str] = {}
    for line in stages[-1]:
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif instruction.upper() == "CMD":
            command = json.loads(rest)
        elif instruction.upper() == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))
    return Image(entrypoint, command, env)


def jarvis_services(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the Jarvis image (built from this repository)."""
    return {name: s for name, s in data["services"].items() if s.get("build") in (".", "./")}


def enabled_services(data: dict[str, Any], profiles: tuple[str, ...] = ()) -> set[str]:
    return {
        name
        for name, service in data["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """depends_on in its long form: {service: {condition, required, ...}}."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return {name: {"condition": "service_started"} for name in value}
    return value


def start_order(data: dict[str, Any], names: set[str]) -> list[str]:
    """`names` in an order that starts every service after what it depends on."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        assert name not in visiting, f"dependency cycle through {name}"
        visiting.add(name)
        for dependency in depends_on(data["services"][name]):
            if dependency in names:
                visit(dependency)
        visiting.discard(name)
        order.append(name)

    for name in sorted(names):
        visit(name)
    return order


def service_environment(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    """The container's variables: the image's ENV, then the service's environment, where a
    variable without a value is passed on from `env` when set there (as Compose does)."""
    result = dict(image().env)
    result.pop("PATH", None)
    declared = service.get("environment") or {}
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) if "=" in item else (item, None) for item in declared)
    for name, value in declared.items():
        if value is None:
            if name in env:
                result[name] = env[name]
        else:
            result[name] = str(value)
    return result


def duration(text: str) -> float:
    """Compose's durations as used here: "30s", "1m30s", "500ms"."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert parts and "".join(a + b for a, b in parts) == text, f"bad duration {text!r}"
    return sum(float(amount) * units[unit] for amount, unit in parts)


def example_variables() -> set[str]:
    """Variables that .env.example names, set or commented out."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
