"""Closing a campaign: no new work for anyone, while the lab's running trials still count."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agents import CampaignAgent, LookupOracle
from agents.api import create_app
from db import CampaignStore
from db.campaigns import CampaignClosedError, CloseReport
from db.documents import CampaignDocument
from db.tokens import create_token
from discovery.domain import Measurement, Trial, TrialStatus

CLOSED = "campaign 'photo-pce10' is closed"
REPO = Path(__file__).resolve().parents[2]
OLYMPUS = REPO / "matloop" / "data" / "olympus" / "photo_pce10"


def _results(agent: CampaignAgent, trials: list[Trial]) -> list[Measurement]:
    return LookupOracle.from_candidates(agent.store.candidates(agent.name)).evaluate(trials)


def test_a_closed_campaign_proposes_and_leases_nothing(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    agent.propose(3)
    assert agent.close() == CloseReport(already_closed=False, abandoned=3, running=0)
    assert agent.campaign.status == "closed"
    with pytest.raises(CampaignClosedError, match=CLOSED):
        agent.propose()
    with pytest.raises(CampaignClosedError, match=CLOSED):
        agent.claim("robot-a", count=2)
    with pytest.raises(CampaignClosedError, match=CLOSED):  # a retried claim too
        agent.claim("robot-a", count=2, request_id="r-1")
    assert not agent.pending()  # nothing waits for an instrument
    assert agent.close().already_closed  # closing again is not an error


def test_a_campaign_stored_as_closed_is_refused_whoever_closed_it(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    CampaignDocument.objects(name=agent.name).update(set__status="closed")  # a restored dump
    with pytest.raises(CampaignClosedError, match=CLOSED):
        agent.propose(2)
    with pytest.raises(CampaignClosedError, match=CLOSED):
        agent.claim("robot-a")
    assert agent.store.trials(agent.name) == []


def test_an_agent_made_before_the_close_is_refused_too(
    photo_pce10_campaign: CampaignAgent, store: CampaignStore
) -> None:
    earlier = CampaignAgent(store, photo_pce10_campaign.name)  # a long-running process
    CampaignAgent(CampaignStore(), photo_pce10_campaign.name).close()  # another one closes
    with pytest.raises(CampaignClosedError, match=CLOSED):
        earlier.propose(2)
    assert store.trials(earlier.name) == []


def test_running_trials_still_report_abandoned_ones_are_refused_naming_why(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    running = agent.claim("robot-a", count=2)  # of the initial design's 10
    waiting = agent.unclaimed()
    assert agent.close() == CloseReport(already_closed=False, abandoned=8, running=2)
    assert [agent.heartbeat(t.id or "", "robot-a").status for t in running] == [
        TrialStatus.RUNNING
    ] * 2  # the lab goes on with them
    results = [
        Measurement(m.trial_id, m.values, f"robot-a:{m.trial_id}", "robot-a")
        for m in _results(agent, running)
    ]
    assert agent.observe(results).stored == 2
    assert agent.observe(results).duplicates == 2  # a retried report stays harmless
    with pytest.raises(ValueError, match=r"is abandoned \(campaign closed\)"):
        agent.observe(_results(agent, waiting[:1]))
    assert agent.status().measurements == 2


def test_a_claim_that_meets_a_close_keeps_what_it_leased(
    photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = photo_pce10_campaign
    [waiting] = agent.propose(1)
    propose = agent.propose

    def closed_meanwhile(n: int | None = None, **options: Any) -> list[Trial]:
        CampaignAgent(CampaignStore(), agent.name).close()  # an operator, mid-claim
        return propose(n, **options)

    monkeypatch.setattr(agent, "propose", closed_meanwhile)
    [leased] = agent.claim("robot-a", count=3)  # one leased, then no more to propose
    assert leased.id == waiting.id and leased.status is TrialStatus.RUNNING
    assert agent.store.trial(agent.name, waiting.id or "").claimed_by == "robot-a"


def test_the_example_instrument_stops_cleanly_on_a_closed_campaign(
    photo_pce10_campaign: CampaignAgent,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = importlib.util.spec_from_file_location("instrument", REPO / "examples/instrument.py")
    assert spec is not None and spec.loader is not None
    instrument = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(instrument)
    app = create_app()

    def client(base_url: str, headers: dict[str, str], timeout: float) -> TestClient:
        return TestClient(app, base_url=base_url, headers=headers)  # the app, in process

    monkeypatch.setattr(instrument, "httpx", SimpleNamespace(Client=client, TransportError=OSError))
    token, _ = create_token("robot-c", "instrument", [photo_pce10_campaign.name])
    photo_pce10_campaign.close()
    argv = ["--token", token, "--campaign", photo_pce10_campaign.name, "--data", str(OLYMPUS)]
    assert instrument.main(argv) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0] == f"no more work: {CLOSED}: it hands out no new trials " + (
        "(results of its running trials are still accepted)"
    )
    assert json.loads(said[-1]) == {"stored": 0, "duplicates": 0}


def test_a_retried_claim_gets_its_trials_after_the_close(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    first = agent.claim("robot-a", count=2, request_id="r-1")  # its answer was lost
    agent.close()
    again = agent.claim("robot-a", count=2, request_id="r-1")
    assert [t.id for t in again] == [t.id for t in first]  # the retry learns its trials
    with pytest.raises(CampaignClosedError, match=CLOSED):
        agent.claim("robot-a", count=2, request_id="r-2")  # a new claim gets nothing


def test_lapsed_leases_are_abandoned_not_stranded(photo_pce10_campaign: CampaignAgent) -> None:
    agent = photo_pce10_campaign
    # the long lease first: a claim after a lease ran out would take that trial over
    held = agent.claim("robot-b", count=1, lease_seconds=600)
    lapsed = agent.claim("robot-a", count=2, lease_seconds=0.05)
    time.sleep(0.1)
    assert agent.close() == CloseReport(already_closed=False, abandoned=9, running=1)
    statuses = {t.id: t.status for t in agent.store.trials(agent.name)}
    assert {statuses[t.id] for t in lapsed} == {TrialStatus.ABANDONED}
    assert statuses[held[0].id] is TrialStatus.RUNNING
    agent.heartbeat(held[0].id or "", "robot-b", lease_seconds=0.05)
    time.sleep(0.1)  # its instrument stops too: a second close sweeps it
    assert agent.close() == CloseReport(already_closed=True, abandoned=1, running=0)


def test_a_close_between_a_claims_check_and_its_lease_hands_out_nothing(
    photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = photo_pce10_campaign
    agent.claim("robot-x", count=10, lease_seconds=0.3)  # the whole initial design
    release = CampaignStore._release_expired

    def closed_meanwhile(store: CampaignStore, campaign: Any) -> int:
        CampaignAgent(CampaignStore(), agent.name).close()  # after the claim read "active"
        time.sleep(0.35)  # then robot-x's leases lapse: they go back to the queue
        return release(store, campaign)

    monkeypatch.setattr(CampaignStore, "_release_expired", closed_meanwhile)
    with pytest.raises(CampaignClosedError, match=CLOSED):
        agent.store.claim(agent.name, "robot-a", 3, 600.0)
    trials = agent.status().trials
    assert (trials["running"], trials["proposed"], trials["abandoned"]) == (0, 0, 10)


def test_a_failed_claim_on_a_campaign_closed_meanwhile_leaves_nothing_waiting(
    photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = photo_pce10_campaign
    agent.propose(2)

    def fails_after_a_close(n: int | None = None, **options: Any) -> list[Trial]:
        CampaignAgent(CampaignStore(), agent.name).close()
        raise RuntimeError("planner crashed")

    monkeypatch.setattr(agent, "propose", fails_after_a_close)
    with pytest.raises(RuntimeError, match="planner crashed"):
        agent.claim("robot-a", count=3)  # leases 2, proposes, fails: gives the 2 back
    trials = agent.status().trials
    assert (trials["proposed"], trials["running"], trials["abandoned"]) == (0, 0, 2)


def test_the_campaign_listing_keeps_one_status_where_asked(
    store: CampaignStore, photo_pce10_campaign: CampaignAgent
) -> None:
    CampaignDocument.objects(name=photo_pce10_campaign.name).update(unset__status=True)  # older
    secret, _ = create_token("lister", "researcher")
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app()) as api:
        url = "/api/v1/campaigns"
        active = api.get(url, params={"status": "active"}, headers=headers)
        assert [c["name"] for c in active.json()] == [photo_pce10_campaign.name]
        assert active.headers["X-Total-Count"] == "1"
        photo_pce10_campaign.close()
        closed = api.get(url, params={"status": "closed"}, headers=headers)
        assert [c["name"] for c in closed.json()] == [photo_pce10_campaign.name]
        assert api.get(url, params={"status": "active"}, headers=headers).json() == []
        assert api.get(url, params={"status": "done"}, headers=headers).status_code == 422
