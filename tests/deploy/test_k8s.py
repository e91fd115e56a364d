"""deploy/k8s/: every manifest is valid Kubernetes (PyPI kubernetes-validate bundles the API
schemas, so no cluster or network is needed), and the manifests mirror docker-compose.yml."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.deploy.compose_file import image, jarvis_services, raw_compose
from tests.fixtures.processes import REPO

K8S = REPO / "deploy" / "k8s"
# The oldest version we claim to run on, and the newest the package knows.
KUBERNETES_VERSIONS = ("1.30.0", latest_version())
NOT_KUBERNETES = {"Kustomization"}  # kustomize's own file, not an API resource


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def resources() -> list[dict[str, Any]]:
    found = [d for path in sorted(K8S.glob("*.yaml")) for d in documents(path)]
    return [d for d in found if d["kind"] not in NOT_KUBERNETES]


def named(kind: str, name: str) -> dict[str, Any]:
    matches = [r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


def pod_containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = resource["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def command_of(container: dict[str, Any]) -> list[str]:
    """What the container runs, with the image's entrypoint (`jarvis`) when only args are set."""
    if "command" in container:
        return container["command"] + container.get("args", [])
    return image().entrypoint + container.get("args", image().command)


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_valid_kubernetes(path: Path) -> None:
    for document in documents(path):
        if document["kind"] in NOT_KUBERNETES:
            continue
        for version in KUBERNETES_VERSIONS:
            # strict: an unknown or misspelt field is an error, not silently dropped.
            kubernetes_validate.validate(document, version, strict=True)


def test_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    listed = set(kustomization["resources"])
    assert all((K8S / name).is_file() for name in listed)
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == manifests - {"secret.example.yaml"}


def test_every_compose_service_has_its_workload() -> None:
    compose = raw_compose()
    job = named("Job", "jarvis-migrate")
    job_commands = [command_of(c) for c in pod_containers(job)]
    for name, service in jarvis_services(compose).items():
        expected = ["jarvis", *service["command"]]
        if service.get("restart") == "no":
            assert expected in job_commands, name  # one-shots run in the migrator's Job
        else:
            deployment = named("Deployment", f"jarvis-{name}")
            assert command_of(deployment["spec"]["template"]["spec"]["containers"][0]) == expected
    # The migration comes first: an init container, before the job's main container.
    assert job_commands[0] == ["jarvis", "migrate", "apply"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("name", ["gateway", "planner", "executor"])
def test_deployments_wait_for_the_schema_and_have_probes(name: str) -> None:
    deployment = named("Deployment", f"jarvis-{name}")
    spec = deployment["spec"]["template"]["spec"]
    wait = " ".join(command_of(spec["initContainers"][0]))
    assert "until jarvis migrate check" in wait
    container = spec["containers"][0]
    if name == "gateway":
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    else:
        check = ["jarvis", name, "--check"]
        assert container["readinessProbe"]["exec"]["command"] == check
        assert container["livenessProbe"]["exec"]["command"] == check
    assert spec["securityContext"]["runAsNonRoot"] is True
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert labels.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_every_container_has_settings_resources_and_no_privileges() -> None:
    for resource in resources():
        if resource["kind"] not in ("Deployment", "Job"):
            continue
        for container in pod_containers(resource):
            where = f"{resource['metadata']['name']}/{container['name']}"
            sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
            assert sources == {"configMapRef": "jarvis-config", "secretRef": "jarvis-secrets"}
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where


def test_settings_are_split_between_config_map_and_secret() -> None:
    config = named("ConfigMap", "jarvis-config")["data"]
    secret = named("Secret", "jarvis-secrets")["stringData"]
    assert not {"JARVIS_DATABASE_URL", "JARVIS_REDIS_URL"} & set(config)
    assert {"JARVIS_DATABASE_URL", "JARVIS_REDIS_URL"} <= set(secret)
    anchor = raw_compose()["x-jarvis-env"]
    # The ConfigMap sets only what compose sets too, with the same fixed values.
    assert set(config) <= set(anchor)
    for key in ("JARVIS_HOST", "JARVIS_PORT", "JARVIS_LOG_FORMAT"):
        assert config[key] == anchor[key]


def test_the_gateway_service_and_the_executor_autoscaler_point_at_their_pods() -> None:
    service = named("Service", "jarvis-gateway")
    gateway = named("Deployment", "jarvis-gateway")
    pod_labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    ports = gateway["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in ports}
    assert {p["containerPort"] for p in ports} == {8080}
    autoscaler = named("HorizontalPodAutoscaler", "jarvis-executor")
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "jarvis-executor")
    assert autoscaler["spec"]["minReplicas"] >= 2


@pytest.mark.parametrize(
    ("codes", "expected_exit", "expected_calls"),
    [([1, 1, 0], 0, 3), ([1, 2, 0], 2, 2)],
    ids=["waits-for-the-schema", "gives-up-on-a-configuration-error"],
)
def test_schema_wait_retries_pending_and_gives_up_on_exit_2(
    tmp_path: Path, codes: list[int], expected_exit: int, expected_calls: int
) -> None:
    """The init container's shell loop, run with a stand-in `jarvis` answering `codes` in turn
    (and a `sleep` that does not wait)."""
    spec = named("Deployment", "jarvis-planner")["spec"]["template"]["spec"]
    command = command_of(spec["initContainers"][0])
    calls = tmp_path / "calls"
    answers = " ".join(map(str, codes))
    (tmp_path / "jarvis").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        f"set -- {answers}\n"
        f"shift $(($(wc -l < {calls}) - 1))\n"
        'exit "$1"\n'
    )
    (tmp_path / "sleep").write_text("#!/bin/sh\nexit 0\n")
    for name in ("jarvis", "sleep"):
        (tmp_path / name).chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)

    assert result.returncode == expected_exit, result.stderr
    assert calls.read_text().splitlines() == ["migrate check"] * expected_calls
