"""The results-reported event and the deployment trigger it fires (``prefect_test_harness``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events.schemas.automations import Posture
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from agents import CampaignAgent
from flows.campaigns import results_reported
from flows.events import (
    RESULTS_REPORTED,
    SETTLE_SECONDS,
    campaign_resource,
    emit_results_reported,
    results_reported_triggers,
)


def _runs_of(deployment_id: UUID) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=50,
        )


def test_emitting_is_a_no_op_without_a_prefect_api() -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert emit_results_reported("opv", 3) is None


def test_the_triggers_match_one_campaign_and_render_its_parameters() -> None:
    first, settled = results_reported_triggers("opv")
    for trigger in (first, settled):
        assert trigger.expect == {RESULTS_REPORTED}
        assert trigger.match.model_dump() == {"prefect.resource.id": "matloop.campaign.opv"}
        assert trigger.for_each == {"prefect.resource.id"}  # campaigns counted apart
        assert trigger.within == timedelta(seconds=30) and trigger.threshold == 1
        assert trigger.parameters == {
            "campaign": "{{ event.payload.campaign }}",
            "count": "{{ event.payload.count }}",
        }
    assert (first.posture, first.after) == (Posture.Reactive, set())
    assert (settled.posture, settled.after) == (Posture.Proactive, {RESULTS_REPORTED})
    assert results_reported_triggers()[0].match.model_dump() == {
        "prefect.resource.id": "matloop.campaign.*"
    }
    assert campaign_resource("opv")["prefect.resource.id"] == "matloop.campaign.opv"
    with pytest.raises(ValueError, match="settle must be >= 10 seconds"):
        results_reported_triggers("opv", settle=5)


def test_a_results_reported_event_starts_a_run_of_the_triggered_deployment(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    name = random_campaign.name
    deployment_id = _deployed(name, mongodb_uri)
    assert emit_results_reported("another-campaign", 5) is not None  # must not match
    parameters = _first_runs(deployment_id, name, 3)[0].parameters
    assert parameters["campaign"] == name and parameters["uri"] == mongodb_uri
    assert str(parameters["count"]) == "3"


def _deployed(campaign: str, uri: str, settle: float = SETTLE_SECONDS) -> UUID:
    """A results-reported deployment of ``campaign``, with its triggers, applied."""
    deployment = results_reported.to_deployment(
        name=f"{campaign}-settle-{settle:g}",
        parameters={"campaign": campaign, "uri": uri},
        triggers=list(results_reported_triggers(campaign, settle)),
    )
    return deployment.apply()


def _first_runs(deployment_id: UUID, campaign: str, count: int) -> list[FlowRun]:
    """Report ``count`` results every 5 s until a run appears (for 90 s at most).

    The server loads the triggers on its own tick: a report before that starts nothing.
    """
    runs: list[FlowRun] = []
    deadline = time.monotonic() + 90
    while not runs and time.monotonic() < deadline:
        assert emit_results_reported(campaign, count) is not None
        EventsWorker.drain_all()
        runs = _wait_for_runs(deployment_id, 1, 5)
    assert runs, "no flow run within 90 s of the first report"
    return runs


def _wait_for_runs(deployment_id: UUID, n: int, seconds: float) -> list[FlowRun]:
    deadline = time.monotonic() + seconds
    runs = _runs_of(deployment_id)
    while len(runs) < n and time.monotonic() < deadline:
        time.sleep(0.5)
        runs = _runs_of(deployment_id)
    return runs


@pytest.mark.slow
def test_a_burst_of_reports_makes_one_run_at_once_and_one_once_they_settle(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    name = random_campaign.name
    deployment_id = _deployed(name, mongodb_uri, settle=10)
    _first_runs(deployment_id, name, 1)
    for count in range(2, 12):  # ten more results, posted one by one
        assert emit_results_reported(name, count) is not None
    EventsWorker.drain_all()
    # the settled trigger's run: told apart by the automation that created it, not by its
    # count (a server that receives the burst out of order may pass another report's)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not _settled(runs := _runs_of(deployment_id)):
        time.sleep(0.5)
    assert _settled(runs), f"no run once the reports settled: {_made(runs)}"
    time.sleep(3)
    # at once for the first report, at most one more where reports straddled the end of
    # the first trigger's window, and the settled one: never one per report (eleven)
    runs = _runs_of(deployment_id)
    assert len(runs) - len(_settled(runs)) <= 2 and len(runs) <= 4, _made(runs)


def _made(runs: list[FlowRun]) -> list[str]:
    """Which automation made each run, with the report count it took in."""
    return [f"{_maker(run)}: count {run.parameters['count']}" for run in runs]


def _maker(run: FlowRun) -> str:
    return (run.created_by.display_value or "") if run.created_by else ""


def _settled(runs: list[FlowRun]) -> list[FlowRun]:
    """The runs the settled trigger made."""
    return [run for run in runs if _maker(run).startswith("results settled")]


def test_the_flows_events_module_stays_light() -> None:
    # The HTTP wiring imports flows.events to emit: no torch, Dask or database driver.
    code = (
        "import sys, json, flows.events\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert loaded & {"torch", "botorch", "dask", "distributed", "pymongo", "agents", "db"} == set()
