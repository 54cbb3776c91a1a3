"""What a served campaign's deployments carry: no database URI, the round target, a time zone.

The runs read the URI from the settings of the process that executes them; served, that
is ``flows serve``'s environment (``test_serve.py`` runs them in a real serving process).
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import get_client
from typer.testing import CliRunner

from agents import CampaignAgent
from flows.campaigns import results_reported, run_campaign
from flows.deployments import (
    campaign_deployments,
    check_cron,
    check_timezone,
    literature_deployment,
    schedule,
)
from flows.tasks import database_uri
from flows.training import train_surrogate
from matloop.flows_cli import flows_app

SECRET = "mongodb+srv://alice:s3cret@db.example.org/matloop"


def _parameters(deployments: list[Any]) -> dict[str, dict[str, Any]]:
    return {f"{d.flow_name}/{d.name}": d.parameters for d in deployments}


def test_flows_serve_gives_its_deployments_no_database_uri(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    monkeypatch.setattr("flows.deployments.serve", lambda *d: served.extend(d))
    name = random_campaign.name
    args = ["serve", "--campaign", name, "--cron", "0 0 1 1 *", "--rounds", "3", "--take-over"]
    result = CliRunner().invoke(flows_app, args, env={"MATLOOP_MONGODB_URI": mongodb_uri})
    assert result.exit_code == 0, result.output
    assert _parameters(served) == {
        f"run-campaign/{name}": {"campaign": name, "rounds": 3, "per_run": None},
        f"train-surrogate/{name}": {"campaign": name},
        f"results-reported/{name}": {"campaign": name, "rounds": 3},
    }
    assert mongodb_uri not in json.dumps(_parameters(served))


def test_no_deployment_carries_a_password_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", SECRET)
    deployments = [
        *campaign_deployments("fr1", 3, interval=3600),
        *campaign_deployments("lab", None, oracle=False),
        literature_deployment(["/papers"], interval=3600),
    ]
    text = json.dumps(_parameters(deployments), default=str)
    assert "s3cret" not in text and "uri" not in text
    assert database_uri() == SECRET  # what a run executing here connects to
    assert database_uri("mongodb://elsewhere/x") == "mongodb://elsewhere/x"


def test_a_flow_given_no_uri_runs_on_the_database_of_its_settings(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)  # as `flows serve` passes it on
    result = run_campaign(random_campaign.name, 0)
    assert (result["batches_run"], result["measurements"]) == (1, 10)
    assert random_campaign.status().measurements == 10


def test_results_reported_proposes_no_round_past_the_served_target(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    # served with --rounds 1: the schedule brought it there, then an instrument reports
    name = random_campaign.name
    run_campaign(name, 1, mongodb_uri)
    status = random_campaign.status()
    assert (status.rounds, status.measurements) == (1, 14)
    at_target = results_reported(name, mongodb_uri, count=4, rounds=1)
    assert at_target["proposed"] == [] and random_campaign.pending() == []
    assert at_target["message"].endswith("nothing proposed (target reached: rounds 1 of 1)")
    assert random_campaign.status().rounds == 1
    below = results_reported(name, mongodb_uri, count=0, rounds=2)  # a higher target
    assert len(below["proposed"]) == 4
    assert results_reported(name, mongodb_uri, count=0, rounds=2)["proposed"] == []  # pending


def test_served_targets_reach_results_reported(
    random_campaign: CampaignAgent,
    lab_campaign: CampaignAgent,
    mongodb_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "flows.deployments.serve_campaign", lambda *a, **kw: served.append({"args": a, **kw})
    )
    cli, env = CliRunner(), {"MATLOOP_MONGODB_URI": mongodb_uri}
    scheduled = ["serve", "--campaign", random_campaign.name, "--interval", "60"]
    for args, rounds in [
        (scheduled, 15),  # a scheduled campaign: the default target
        ([*scheduled, "--rounds", "3"], 3),
        (["serve", "--campaign", "lab"], None),  # a lab's: no target unless given
        (["serve", "--campaign", "lab", "--rounds", "5"], 5),
    ]:
        result = cli.invoke(flows_app, args, env=env)
        assert result.exit_code == 0, result.output
        assert served[-1]["args"][1] == rounds, args
    lab = campaign_deployments("lab", 5, oracle=False)
    assert _parameters(lab)["results-reported/lab"] == {"campaign": "lab", "rounds": 5}
    with pytest.raises(ValueError, match="rounds: a scheduled run-campaign needs a target"):
        campaign_deployments("opv", None, interval=60)


def test_cron_schedules_take_an_iana_time_zone_and_default_to_utc() -> None:
    assert schedule(cron="0 9 * * *").timezone == "UTC"
    berlin = schedule(cron="0 9 * * *", timezone="Europe/Berlin")
    assert (berlin.cron, berlin.timezone) == ("0 9 * * *", "Europe/Berlin")
    run = campaign_deployments("opv", 6, cron="0 9 * * *", timezone="Europe/Berlin")[0]
    assert run.schedules[0].schedule.timezone == "Europe/Berlin"
    papers = literature_deployment(["/p"], cron="0 9 * * *", timezone="America/New_York")
    assert papers.schedules[0].schedule.timezone == "America/New_York"
    now = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=datetime.UTC)  # 14:00 in Berlin (CEST)
    assert check_cron("0 * * * *", now, timezone="Europe/Berlin") == datetime.datetime(
        2026, 7, 1, 15, 0
    )
    for bad in ("europe/berlin", "Mars/Olympus", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="is not an IANA time zone name"):
            check_timezone(bad)
    with pytest.raises(ValueError, match="timezone: applies to cron schedules only"):
        schedule(interval=60, timezone="Europe/Berlin")


def test_serve_commands_refuse_a_bad_timezone_naming_the_option(
    mongodb_uri: str, tmp_path: Path
) -> None:
    cli, env = CliRunner(), {"MATLOOP_MONGODB_URI": mongodb_uri}
    cron = ["--cron", "0 9 * * *"]
    for command in (["serve", "--campaign", "x"], ["serve-literature", str(tmp_path)]):
        for extra, message in [
            ([*cron, "--timezone", "Mars/Olympus"], "error: --timezone: 'Mars/Olympus' is not an"),
            (["--interval", "60", "--timezone", "UTC"], "error: --timezone: applies to cron"),
        ]:
            result = cli.invoke(flows_app, [*command, *extra], env=env)
            assert result.exit_code == 1, result.output
            lines = result.output.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(message), result.output
        helped = cli.invoke(flows_app, [*command, "--help"])
        words = " ".join(re.sub("[│╭╮╰╯─]", " ", helped.output).split())  # Rich's boxes
        assert "--timezone" in words and "(default: UTC)" in words, helped.output


def test_serve_passes_the_timezone_on(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "flows.deployments.serve_campaign", lambda *a, **kw: served.append({"args": a, **kw})
    )
    args = ["serve", "--campaign", random_campaign.name, "--cron", "0 9 * * *"]
    env = {"MATLOOP_MONGODB_URI": mongodb_uri}
    for extra, zone in [([], None), (["--timezone", "Asia/Tokyo"], "Asia/Tokyo")]:
        result = CliRunner().invoke(flows_app, [*args, *extra], env=env)
        assert result.exit_code == 0, result.output
        assert served[-1]["timezone"] == zone


def test_serving_again_drops_the_uri_an_earlier_version_deployed() -> None:
    name = f"upgraded-{uuid.uuid4().hex[:8]}"
    old = train_surrogate.to_deployment(name=name, parameters={"campaign": name, "uri": SECRET})
    deployment_id = old.apply()
    campaign_deployments(name, 3, interval=3600)[1].apply()  # train-surrogate/<name> again
    with get_client(sync_client=True) as client:
        parameters = client.read_deployment(deployment_id).parameters
    assert parameters == {"campaign": name}
