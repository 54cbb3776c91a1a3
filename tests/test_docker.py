"""docker/: every container of the matloop image runs as the image's user, and the
matloop commands docker/README.md gives work (no Docker engine here: run as the CLI)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from matloop.cli import app

DOCKER = Path(__file__).resolve().parents[1] / "docker"


def test_services_of_the_image_run_as_its_user_whatever_uid_it_was_built_with() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    dockerfile = (DOCKER / "Dockerfile").read_text()
    build_args = set(re.findall(r"^ARG (\w+)", dockerfile, flags=re.MULTILINE))
    assert {"APP_UID", "APP_GID"} <= build_args
    ours = {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith("matloop:")
    }
    assert {"prefect-server", "worker", "api", "demo"} <= set(ours)
    builds = []
    for name, service in ours.items():
        # a fixed uid the image may have no user for: no HOME, PREFECT_HOME unwritable
        assert "user" not in service, name
        builds.append(service["build"])
    assert all(build == builds[0] for build in builds)  # one image, built one way
    args = builds[0]["args"]
    assert args["APP_UID"] == "${APP_UID:-1000}" and args["APP_GID"] == "${APP_GID:-1000}"


def readme_commands() -> list[list[str]]:
    """The matloop arguments of docker/README.md's commands, in order (``run --rm demo``
    passes them to the image's ``matloop`` entrypoint, ``exec api matloop`` runs it)."""
    text = (DOCKER / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    lines = " ".join(blocks).replace("\\\n", " ").splitlines()
    commands = []
    for line in lines:
        words = shlex.split(line, comments=True)
        for marker in (["run", "--rm", "demo"], ["exec", "api", "matloop"]):
            for i in range(len(words) - len(marker) + 1):
                if words[i : i + len(marker)] == marker and words[i + len(marker) :]:
                    commands.append(words[i + len(marker) :])
    return commands


def test_the_stack_readme_creates_the_campaign_the_worker_schedules(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    creates = [c for c in readme_commands() if c[:2] == ["campaign", "create"]]
    compose = (DOCKER / "compose.yaml").read_text()
    scheduled = re.search(r"MATLOOP_SCHEDULED_CAMPAIGN:-([\w-]+)", compose)
    assert scheduled is not None and [c[2] for c in creates] == [scheduled.group(1)]
    for command in creates:
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, (command, result.output)


def test_docker_stop_leaves_the_worker_time_to_stop_on_its_own() -> None:
    from flows.serving import SETTLE_WAIT_SECONDS, STOP_GRACE_SECONDS

    worker = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["worker"]
    grace = re.fullmatch(r"(\d+)s", worker["stop_grace_period"])
    assert grace is not None and int(grace.group(1)) > STOP_GRACE_SECONDS + SETTLE_WAIT_SECONDS
