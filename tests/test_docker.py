"""docker/compose.yaml: every container of the matloop image runs as the image's user."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

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
