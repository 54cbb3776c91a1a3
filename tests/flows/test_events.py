"""The results-reported event and the deployment trigger it fires (``prefect_test_harness``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from agents import CampaignAgent
from flows.campaigns import results_reported
from flows.events import (
    RESULTS_REPORTED,
    campaign_resource,
    emit_results_reported,
    results_reported_trigger,
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


def test_the_trigger_matches_one_campaign_and_renders_its_parameters() -> None:
    trigger = results_reported_trigger("opv")
    assert trigger.expect == {RESULTS_REPORTED}
    assert trigger.match.model_dump() == {"prefect.resource.id": "matloop.campaign.opv"}
    assert trigger.parameters == {
        "campaign": "{{ event.payload.campaign }}",
        "count": "{{ event.payload.count }}",
    }
    assert results_reported_trigger().match.model_dump() == {
        "prefect.resource.id": "matloop.campaign.*"
    }
    assert campaign_resource("opv")["prefect.resource.id"] == "matloop.campaign.opv"


def test_a_results_reported_event_starts_a_run_of_the_triggered_deployment(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    name = random_campaign.name
    deployment = results_reported.to_deployment(
        name=f"{name}-trigger-test",
        parameters={"campaign": name, "uri": mongodb_uri},
        triggers=[results_reported_trigger(name)],
    )
    deployment_id = deployment.apply()
    assert emit_results_reported("another-campaign", 5) is not None  # must not match
    runs: list[FlowRun] = []
    deadline = time.monotonic() + 30
    while not runs and time.monotonic() < deadline:
        assert emit_results_reported(name, 3) is not None
        EventsWorker.drain_all()
        for _ in range(10):
            runs = _runs_of(deployment_id)
            if runs:
                break
            time.sleep(0.5)
    assert runs, "no flow run within 30 s of the event"
    parameters = runs[0].parameters
    assert parameters["campaign"] == name and parameters["uri"] == mongodb_uri
    assert str(parameters["count"]) == "3"


def test_the_flows_events_module_stays_light() -> None:
    # The HTTP wiring imports flows.events to emit: no torch, Dask or database driver.
    code = (
        "import sys, json, flows.events\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert loaded & {"torch", "botorch", "dask", "distributed", "pymongo", "agents", "db"} == set()
