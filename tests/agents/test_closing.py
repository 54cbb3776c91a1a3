"""Closing a campaign: no new work for anyone, while the lab's running trials still count."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

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

    def closed_meanwhile(n: int | None = None) -> list[Trial]:
        CampaignAgent(CampaignStore(), agent.name).close()  # an operator, mid-claim
        return propose(n)

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
