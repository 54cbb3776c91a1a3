"""What ``flows serve`` checks before it applies anything: the schedule, another server.

Against the session's Prefect test server: a runner's poll is made by hand (the call
Prefect's runner makes every few seconds), so no test serves anything.
"""

from __future__ import annotations

import datetime
import math
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import DeploymentStatus
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from typer.testing import CliRunner

from agents import CampaignAgent
from flows.deployments import (
    campaign_deployments,
    check_cron,
    check_interval,
    deployment_names,
    schedule,
    serve_campaign,
)
from flows.serving import DeploymentServedError, check_not_served, poll_timeout
from matloop.flows_cli import flows_app

SERVED = re.compile(
    r"(\S+) is being served by another process \(Prefect has it READY, last polled (\d+) s ago\)"
)


def _polled(client: SyncPrefectClient, ids: list[uuid.UUID]) -> None:
    """Poll for runs as a serving process's runner does; wait for Prefect's READY mark."""
    client.get_scheduled_flow_runs_for_deployments(deployment_ids=ids)
    deadline = time.monotonic() + 60  # the server marks them in a background task
    while time.monotonic() < deadline:
        if all(client.read_deployment(i).status == DeploymentStatus.READY for i in ids):
            return
        time.sleep(0.2)
    pytest.fail("Prefect did not mark the polled deployments READY within 60 s")


def _served(name: str, interval: float = 3600, rounds: int = 2) -> list[uuid.UUID]:
    """A campaign's deployments, applied and polled: as another `flows serve` has them."""
    deployments = campaign_deployments(name, rounds, interval=interval)
    ids = [_id(deployment) for deployment in deployments]
    with get_client(sync_client=True) as client:
        _polled(client, ids)
    return ids


def _id(deployment: RunnerDeployment) -> uuid.UUID:
    applied = deployment.apply()
    assert isinstance(applied, uuid.UUID)
    return applied


def _released(ids: list[uuid.UUID]) -> None:
    """Pause the deployments, as a serving process's runner does when it stops."""
    with get_client(sync_client=True) as client:
        for deployment in ids:
            client.pause_deployment(deployment)


@pytest.fixture
def name() -> Iterator[str]:
    """A campaign name no other test deploys; its deployments are released afterwards."""
    campaign = f"guard-{uuid.uuid4().hex[:8]}"
    yield campaign
    with get_client(sync_client=True) as client:
        for deployment in deployment_names(campaign):
            try:
                client.pause_deployment(client.read_deployment_by_name(deployment).id)
            except ObjectNotFound:
                continue


def test_interval_schedules_are_finite_and_between_a_second_and_366_days() -> None:
    for good in (1, 1.5, 3600, 366 * 86400):
        check_interval(good)
    for bad in (math.nan, math.inf, -math.inf, 0, -5, 1e-9, 0.999, 366 * 86400 + 1, 1e12):
        with pytest.raises(ValueError, match=r"must be from 1 to 31622400 seconds \(366 days\)"):
            check_interval(bad)
    with pytest.raises(ValueError, match=r"interval: must be from 1 to 31622400 seconds.*got nan"):
        schedule(interval=math.nan)


def test_cron_schedules_have_five_fields_and_a_run_within_a_year() -> None:
    now = datetime.datetime(2026, 12, 5, 22, 10, tzinfo=datetime.UTC)
    assert check_cron("0 * * * *", now) == datetime.datetime(2026, 12, 5, 23, 0)
    assert check_cron("0 0 1 1 *", now) == datetime.datetime(2027, 1, 1)
    assert check_cron("@daily", now) == datetime.datetime(2026, 12, 6)  # Prefect's aliases
    six = "not a cron expression: 6 fields, not five (minute hour day-of-month month"
    for expression, message in [
        ("* * * * * *", six),  # Prefect would fire it every second
        ("0 0 1 1 * 2030", "6 fields, not five"),
        ("every hour", "2 fields, not five"),
        ("@bogus", "not a cron expression (minute hour"),
        ("0 25 * * *", "not a cron expression (minute hour"),
        ("H * * * *", "not a cron expression (minute hour"),  # Prefect's: no hashed fields
        ("0 0 31 2 *", "it never runs: no date matches it"),
        ("0 0 30 2 *", "it never runs"),
        ("0 0 29 2 *", "its next run is 2028-02-29 00:00 UTC, more than a year away"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            check_cron(expression, now)
    leap = datetime.datetime(2027, 3, 1, tzinfo=datetime.UTC)
    assert check_cron("0 0 29 2 *", leap) == datetime.datetime(2028, 2, 29)
    with pytest.raises(ValueError, match=re.escape("cron '0 0 31 2 *': it never runs")):
        schedule(cron="0 0 31 2 *")


def test_serve_refuses_bad_schedules_naming_the_option(mongodb_uri: str) -> None:
    cli, env = CliRunner(), {"MATLOOP_MONGODB_URI": mongodb_uri}
    for option, value, message in [
        ("--interval", "nan", "--interval: must be from 1 to 31622400 seconds (366 days), got nan"),
        ("--interval", "inf", "--interval: must be from 1 to 31622400 seconds (366 days), got inf"),
        ("--interval", "1e-9", "got 1e-09"),
        ("--interval", "1e12", "got 1e+12"),
        ("--cron", "* * * * * *", "--cron '* * * * * *': not a cron expression: 6 fields"),
        ("--cron", "0 0 31 2 *", "--cron '0 0 31 2 *': it never runs: no date matches it"),
    ]:
        for command in (["serve", "--campaign", "x"], ["serve-literature", "papers"]):
            result = cli.invoke(flows_app, [*command, option, value], env=env)
            assert result.exit_code == 1, result.output
            lines = result.output.strip().splitlines()  # one line, no traceback
            assert len(lines) == 1 and lines[0].startswith("error: "), result.output
            assert message in lines[0]
    for value in ("nan", "inf", "5"):
        result = cli.invoke(
            flows_app, ["serve", "--campaign", "x", "--interval", "60", "--settle", value], env=env
        )
        assert (
            result.exit_code == 1
            and f"--settle: must be >= 10 seconds (Prefect's least), got {value}" in result.output
        )


def test_another_process_serving_a_deployment_is_refused_until_it_stops(name: str) -> None:
    ids = _served(name)
    names = deployment_names(name)
    with pytest.raises(DeploymentServedError) as refused:
        check_not_served(names)
    found = SERVED.match(str(refused.value))
    assert found is not None and found[1] == f"run-campaign/{name}" and int(found[2]) < 30
    assert "NOT_READY 60 s after its last poll" in str(refused.value)
    assert "--take-over" in str(refused.value)
    with get_client(sync_client=True) as client:
        polled = client.read_deployment(ids[0]).last_polled
    assert polled is not None
    # killed without stopping: served as far as Prefect knows, until its timeout
    check_not_served(names, now=polled + datetime.timedelta(seconds=poll_timeout() + 1))
    check_not_served([f"run-campaign/{name}-never-deployed"])
    _released(ids)  # it stopped: its runner paused them
    check_not_served(names)


def test_serve_campaign_applies_nothing_while_another_process_serves_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _served(name, interval=3600, rounds=25)
    served: list[Any] = []
    monkeypatch.setattr("flows.deployments.serve", lambda *d: served.append(d))
    with pytest.raises(DeploymentServedError, match=f"run-campaign/{name} is being served"):
        serve_campaign(name, 15, interval=60)
    with pytest.raises(ValueError, match="interval: must be from 1"):  # and checked first
        serve_campaign(name, 15, interval=1e12)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment(ids[0])
        assert deployment.parameters["rounds"] == 25 and not deployment.paused
        assert deployment.schedules[0].schedule.interval == datetime.timedelta(seconds=3600)
        assert served == []
        # the serving process was killed: taking over serves this one's deployments
        serve_campaign(name, 15, interval=60, take_over=True)
        assert len(served) == 1 and served[0][0].parameters["rounds"] == 15


def test_serve_refuses_a_campaign_another_process_serves(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "flows.deployments.serve_campaign", lambda *a, **kw: served.append({"args": a, **kw})
    )
    campaign = random_campaign.name
    ids = _served(campaign)
    try:
        cli, env = CliRunner(), {"MATLOOP_MONGODB_URI": mongodb_uri}
        args = ["serve", "--campaign", campaign, "--interval", "60"]
        refused = cli.invoke(flows_app, args, env=env)
        assert refused.exit_code == 1, refused.output
        line = refused.output.strip()
        assert "\n" not in line and line.startswith(f"error: run-campaign/{campaign} is being")
        assert served == []
        taken = cli.invoke(flows_app, [*args, "--take-over"], env=env)
        assert taken.exit_code == 0, taken.output
        assert served[0]["take_over"] is True
    finally:
        _released(ids)
    assert cli.invoke(flows_app, args, env=env).exit_code == 0
    assert served[1]["take_over"] is False
