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
    for name, service in ours.items():
        # a fixed uid the image may have no user for: no HOME, PREFECT_HOME unwritable
        assert "user" not in service, name
    # one service builds the tag: several would race to export it under Bake
    tags = {service["image"] for service in ours.values()}
    builds = [service["build"] for service in ours.values() if "build" in service]
    assert len(tags) == 1 and len(builds) == 1 and "build" in ours["api"]
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


def test_docker_stop_leaves_the_api_time_to_finish_its_requests() -> None:
    from matloop.cli import SHUTDOWN_GRACE_SECONDS

    api = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["api"]
    grace = re.fullmatch(r"(\d+)s", api["stop_grace_period"])
    assert grace is not None and int(grace.group(1)) > SHUTDOWN_GRACE_SECONDS


def test_every_service_rotates_its_log_and_matloop_gets_sigterm_through_an_init() -> None:
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    for name, service in services.items():
        options = service["logging"]["options"]
        assert options["max-size"] and int(options["max-file"]) >= 2, name
        if str(service["image"]).startswith("matloop:"):  # matloop or prefect as PID 1
            assert service["init"] is True, name


def test_instruments_reach_the_api_whatever_becomes_of_the_prefect_server() -> None:
    api = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["api"]
    assert api["depends_on"]["prefect-server"]["condition"] == "service_started"
    assert api["depends_on"]["mongodb"]["condition"] == "service_healthy"
    [published] = api["ports"]
    assert published.startswith("${MATLOOP_API_BIND:-127.0.0.1}:")  # loopback unless told


def test_the_readme_second_worker_is_the_stack_worker_serving_another_campaign() -> None:
    text = (DOCKER / "README.md").read_text()
    [block] = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    [(name, second)] = yaml.safe_load(block)["services"].items()
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    worker = compose["services"]["worker"]
    assert name not in compose["services"]
    for key in ("image", "init", "environment", "restart", "stop_grace_period", "logging"):
        assert second[key] == worker[key], key
    assert second["healthcheck"]["test"] == worker["healthcheck"]["test"]
    assert second["depends_on"] == worker["depends_on"]
    command = second["command"]
    assert command[:3] == ["flows", "serve", "--campaign"] and len(command) == 4
