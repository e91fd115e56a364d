"""docker-compose.yml, checked without Docker: it is valid Compose, its services start in the
right order and wait for what they need, and every Jarvis service gets the same settings."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest

from shared.config import ENV_PREFIX, Settings
from tests.deploy.compose_file import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    MissingVariable,
    compose,
    depends_on,
    enabled_services,
    example_variables,
    image,
    jarvis_services,
    raw_compose,
    start_order,
)
from tests.fixtures.processes import REPO

SECRETS = {"POSTGRES_PASSWORD": "pg-secret", "REDIS_PASSWORD": "redis-secret"}


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return compose(SECRETS)


def services_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return data["services"]


def migrator_name(data: dict[str, Any]) -> str:
    names = [n for n, s in jarvis_services(data).items() if s["command"] == ["migrate", "apply"]]
    assert len(names) == 1, names
    return names[0]


def one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def setting_names() -> set[str]:
    """Every variable the Settings read: JARVIS_<FIELD> and the providers' own names."""
    names = set()
    for field_name, field in Settings.model_fields.items():
        names.add(ENV_PREFIX + field_name.upper())
        alias = field.validation_alias
        choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
        names.update(c for c in choices if isinstance(c, str) and c.isupper())
    return names


def test_valid_against_the_compose_specification() -> None:
    # check-jsonschema (PyPI) ships the compose-spec schema: no network, no Docker needed.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dependency_exists_and_nothing_depends_on_a_cycle(data: dict[str, Any]) -> None:
    services = services_of(data)
    for name, service in services.items():
        for dependency, how in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert how["condition"] in (
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            )
            if set(services[dependency].get("profiles") or []) - set(service.get("profiles") or []):
                # A dependency that only a profile starts must not be required.
                assert how.get("required") is False, f"{name} → {dependency}"
    assert set(start_order(data, set(services))) == set(services)


def test_the_migrator_runs_once_before_every_jarvis_service(data: dict[str, Any]) -> None:
    services = services_of(data)
    migrator = migrator_name(data)
    assert one_shot(services[migrator])
    assert depends_on(services[migrator]) == {"postgres": {"condition": "service_healthy"}}
    for name, service in jarvis_services(data).items():
        if name == migrator:
            continue
        # Every Jarvis service touches the database, so every one waits for the migrator.
        assert depends_on(service)[migrator] == {"condition": "service_completed_successfully"}, (
            name
        )
        assert depends_on(service)["postgres"]["condition"] == "service_healthy", name
        if not one_shot(service):
            assert depends_on(service)["redis"]["condition"] == "service_healthy", name
            assert service["restart"] == "unless-stopped", name
        order = start_order(data, set(services))
        assert order.index(migrator) < order.index(name)


def test_health_checks_exist_wherever_a_condition_needs_them(data: dict[str, Any]) -> None:
    services = services_of(data)
    for service in services.values():
        for dependency, how in depends_on(service).items():
            if how["condition"] == "service_healthy":
                assert services[dependency].get("healthcheck", {}).get("test"), dependency
    for name, service in jarvis_services(data).items():
        if not one_shot(service):
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for worker in ("planner", "executor"):
        check = services[worker]["healthcheck"]["test"]
        assert check == ["CMD", "jarvis", worker, "--check"]
    gateway_check = " ".join(services["gateway"]["healthcheck"]["test"])
    assert "/readyz" in gateway_check and "curl" not in gateway_check
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])


def test_only_the_gateway_is_published_and_workers_scale(data: dict[str, Any]) -> None:
    services = services_of(data)
    assert {name for name, s in services.items() if s.get("ports")} == {"gateway"}
    assert services["gateway"]["ports"] == ["127.0.0.1:8080:8080"]
    assert not any("container_name" in s for s in services.values())
    for worker in ("planner", "executor"):
        assert "ports" not in services[worker] and "expose" not in services[worker]


def test_every_jarvis_service_gets_the_shared_settings() -> None:
    raw = raw_compose()
    anchor = raw["x-jarvis-env"]
    for name, service in jarvis_services(raw).items():
        environment = service["environment"]
        assert {k: environment.get(k) for k in anchor} == anchor, name
    # Only names that Jarvis reads: a typo would be silently ignored by the services.
    assert set(anchor) <= setting_names(), set(anchor) - setting_names()


def test_the_image_is_the_one_the_dockerfile_builds(data: dict[str, Any]) -> None:
    assert image().entrypoint == ["jarvis"]
    assert image().command == ["gateway"]
    assert {s["image"] for s in jarvis_services(data).values()} == {"jarvis:local"}
    assert {s["command"][0] for s in jarvis_services(data).values()} >= {
        "gateway",
        "planner",
        "executor",
        "migrate",
    }


def test_urls_match_the_servers_they_name(data: dict[str, Any]) -> None:
    services = services_of(data)
    env = services["gateway"]["environment"]
    postgres = services["postgres"]["environment"]
    database = urlsplit(env["JARVIS_DATABASE_URL"])
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert database.path == "/" + postgres["POSTGRES_DB"]

    redis_url = urlsplit(env["JARVIS_REDIS_URL"])
    command = services["redis"]["command"]
    assert (redis_url.hostname, redis_url.port) == ("redis", 6379)
    assert redis_url.password == command[command.index("--requirepass") + 1]
    assert redis_url.password == services["redis"]["environment"]["REDISCLI_AUTH"]


def test_redis_keeps_its_data_and_never_evicts(data: dict[str, Any]) -> None:
    services = services_of(data)
    command = " ".join(services["redis"]["command"])
    for flag in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        assert flag in command
    volumes = raw_compose()["volumes"]
    for server, path in (("postgres", "/var/lib/postgresql/data"), ("redis", "/data")):
        name, _, mounted = services[server]["volumes"][0].partition(":")
        assert name in volumes and mounted == path
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:7")


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_required_secrets_stop_compose_with_a_message(secret: str) -> None:
    without = {k: v for k, v in SECRETS.items() if k != secret}
    with pytest.raises(MissingVariable, match=f"{secret}: set {secret} in .env"):
        compose(without)
    with pytest.raises(MissingVariable):
        compose({**without, secret: ""})


def test_searxng_is_an_optional_profile_documented_in_the_example(data: dict[str, Any]) -> None:
    services = services_of(data)
    assert services["searxng"]["profiles"] == ["searxng"]
    assert services["searxng"]["image"].startswith("searxng/searxng")
    assert "searxng" not in enabled_services(data)
    assert "searxng" in enabled_services(data, ("searxng",))
    assert services["gateway"]["environment"]["JARVIS_SEARXNG_URL"] == "http://searxng:8080"
    with_searxng = compose({**SECRETS, "JARVIS_SEARCH": "searxng"})["services"]
    assert with_searxng["executor"]["environment"]["JARVIS_SEARCH"] == "searxng"
    for volume in services["searxng"]["volumes"]:
        assert (REPO / volume.split(":")[0]).is_file()
    example = ENV_EXAMPLE.read_text()
    assert "# COMPOSE_PROFILES=searxng" in example
    assert "# JARVIS_SEARCH=searxng" in example


def test_the_example_env_names_every_variable_compose_reads() -> None:
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    passed_on = {k for k, v in raw_compose()["x-jarvis-env"].items() if v is None}
    assert used | passed_on <= example_variables(), (used | passed_on) - example_variables()
    # The required ones are there to be filled in, not commented out.
    required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", COMPOSE_FILE.read_text()))
    assert required == set(SECRETS)
    example = ENV_EXAMPLE.read_text()
    for name in required:
        assert re.search(rf"^{name}=$", example, re.MULTILINE), name
