"""``matloop flows run``: run-campaign once, in process, printing its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents import CampaignAgent
from matloop.flows_cli import flows_app


def _summary(output: str) -> dict[str, object]:
    """The JSON summary printed from its first ``{`` line on (Prefect's log lines may follow)."""
    start = output.index("\n{") + 1 if not output.startswith("{") else 0
    summary: dict[str, object] = json.JSONDecoder().raw_decode(output[start:])[0]
    return summary


def test_flows_run_brings_a_campaign_to_its_rounds_and_prints_what_it_did(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    cli, env = CliRunner(), {"MATLOOP_MONGODB_URI": mongodb_uri}
    name = random_campaign.name
    paced = cli.invoke(flows_app, ["run", name, "--rounds", "1", "--per-run", "1"], env=env)
    assert paced.exit_code == 0, paced.output
    assert f"{name}: added 1 batch, rounds 0 of 1; 10 results" in paced.output
    summary = _summary(paced.output)
    assert (summary["batches_run"], summary["rounds"], summary["target_rounds"]) == (1, 0, 1)
    rest = cli.invoke(flows_app, ["run", name, "--rounds", "1"], env=env)
    assert rest.exit_code == 0 and _summary(rest.output)["measurements"] == 14
    done = cli.invoke(flows_app, ["run", name, "--rounds", "1"], env=env)
    assert "target reached (rounds 1 of 1): nothing to do" in done.output
    assert random_campaign.status().rounds == 1


def test_flows_run_refuses_what_it_cannot_run(
    random_campaign: CampaignAgent, lab_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    cli, env = CliRunner(), {"MATLOOP_MONGODB_URI": mongodb_uri}
    name = random_campaign.name
    for args, message in [
        (["run", "nope"], "no campaign named 'nope'"),
        (["run", name, "--rounds", "-1"], "--rounds: must be >= 0"),
        (["run", name, "--per-run", "0"], "--per-run: must be >= 1"),
        (["run", "lab"], "'lab': it has no pool with reference values"),
    ]:
        result = cli.invoke(flows_app, args, env=env)
        assert result.exit_code == 1, result.output
        assert message in result.output
    random_campaign.close()
    closed = cli.invoke(flows_app, ["run", name], env=env)
    assert closed.exit_code == 1 and f"campaign {name!r} is closed" in closed.output
    assert closed.output.startswith("error: ")  # as every command's errors: lower case
    assert random_campaign.status().batches == 0


@pytest.mark.slow
def test_flows_run_needs_no_prefect_server(
    random_campaign: CampaignAgent, mongodb_uri: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MATLOOP_"))}
    env.update(
        PREFECT_HOME=str(tmp_path),  # no PREFECT_API_URL: Prefect's ephemeral API
        MATLOOP_MONGODB_URI=mongodb_uri,
    )  # and no PREFECT_SERVER_ANALYTICS_ENABLED: `flows run` turns the heartbeat off
    command = [sys.executable, "-m", "matloop.flows_cli", "run", random_campaign.name]
    done = subprocess.run(
        [*command, "--rounds", "0"], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _summary(done.stdout)["measurements"] == 10
    assert "telemetry" not in done.stderr and "Traceback" not in done.stderr, done.stderr
