"""`examples/instrument.py` keeps its leases alive and loses no result to another's 409.

The example runs in this process (its ``main``, in a thread) against the API served by
uvicorn on a free loopback port, with short leases; the test takes one of its trials away
from it mid-measurement, as an instrument claiming the trial after its lease ran out would.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn

from agents import CampaignAgent
from agents.api import create_app
from db.documents import MeasurementDocument, TrialDocument
from db.server import free_port
from db.tokens import create_token
from discovery.domain import Trial, TrialStatus
from tests.live_server import live_server

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "matloop" / "data" / "olympus" / "photo_pce10"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("instrument", REPO / "examples/instrument.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def url(photo_pce10_campaign: CampaignAgent) -> Iterator[str]:
    """The API on a free loopback port, against the test database."""
    config = uvicorn.Config(create_app(), port=free_port(), log_config=None, access_log=False)
    with live_server(config) as base:
        yield base


class Run(threading.Thread):
    """The example's ``main`` for one round, in a thread: its exit status or its error."""

    def __init__(self, url: str, campaign: str, lease: float, work: float) -> None:
        super().__init__(daemon=True)
        token, _ = create_token(f"sim-{time.monotonic_ns()}", "instrument", [campaign])
        self.argv = [
            *("--url", url, "--token", token, "--campaign", campaign, "--data", str(DATA)),
            *("--name", "sim-4", "--rounds", "1", "--batch", "4"),
            *("--lease-seconds", str(lease), "--work-seconds", str(work)),
        ]
        self.status: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.status = _example().main(self.argv)
        except BaseException as error:
            self.error = error

    def result(self) -> int | None:
        self.join(timeout=60)
        assert not self.is_alive(), "the example did not finish"
        if self.error is not None:
            raise AssertionError(f"the example crashed: {self.error!r}") from self.error
        return self.status


def _claimed(agent: CampaignAgent, by: str = "sim-4") -> list[Trial]:
    """The trials the example leased, once it has (in queue order)."""
    deadline = time.monotonic() + 30
    while True:
        held = [t for t in agent.store.trials(agent.name) if t.claimed_by == by]
        if len(held) == 4:
            return held
        assert time.monotonic() < deadline, "the example claimed nothing"
        time.sleep(0.05)


def _stored(agent: CampaignAgent) -> dict[str, list[str]]:
    """Trial id -> the sources of its stored results."""
    stored: dict[str, list[str]] = {}
    for m in MeasurementDocument.objects.no_dereference():
        stored.setdefault(str(m.trial.id), []).append(m.source)
    return stored


def _rb(url: str, campaign: str) -> tuple[httpx.Client, dict[str, Any]]:
    token, _ = create_token("rb", "instrument", [campaign])
    client = httpx.Client(
        base_url=f"{url}/api/v1/campaigns/{campaign}",
        headers={"Authorization": f"Bearer {token}"},
    )
    return client, {"instrument": "rb"}


def test_a_trial_taken_over_mid_measurement_is_dropped_on_its_heartbeat(
    url: str, photo_pce10_campaign: CampaignAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = photo_pce10_campaign
    run = Run(url, agent.name, lease=1.5, work=4.0)  # heartbeats every 0.5 s
    run.start()
    taken = _claimed(agent)[1]
    time.sleep(0.2)
    # What a claim by rb leaves once sim-4's lease has run out (here without waiting for it).
    TrialDocument.objects(id=taken.id).update(
        set__claimed_by="rb",
        set__claim_token="rb-claim",
        set__lease_expires_at=datetime.now(UTC) + timedelta(seconds=600),
    )
    assert run.result() == 0
    out = capsys.readouterr().out
    assert f"trial {taken.id}: dropped from the batch, heartbeat refused" in out
    assert "leased to 'rb'" in out
    stored = _stored(agent)
    assert len(stored) == 3 and taken.id not in stored
    assert all(sources == ["sim-4"] for sources in stored.values())
    assert out.strip().splitlines()[-1] == '{"stored": 3, "duplicates": 0}'
    # rb still holds the trial, and its result is taken
    assert agent.store.trial(agent.name, taken.id or "").claimed_by == "rb"
    rb, _ = _rb(url, agent.name)
    values = {agent.campaign.objective_names[0]: 1.0}
    answer = rb.post("/results", json={"trial_id": taken.id, "values": values, "source": "rb"})
    assert answer.json() == {"stored": 1, "duplicates": 0, "completed": 1}


def test_a_report_refused_for_one_trial_stores_the_others(
    url: str, photo_pce10_campaign: CampaignAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = photo_pce10_campaign
    run = Run(url, agent.name, lease=30.0, work=3.0)  # no heartbeat before its report
    run.start()
    taken = _claimed(agent)[1]
    time.sleep(0.2)
    # Its lease runs out (the instrument stalled), and rb claims the oldest waiting trial.
    TrialDocument.objects(id=taken.id).update(set__lease_expires_at=datetime.now(UTC))
    rb, me = _rb(url, agent.name)
    claim = rb.post("/claims", json={**me, "count": 1, "lease_seconds": 600}).json()
    assert [t["id"] for t in claim["trials"]] == [taken.id]
    assert run.result() == 0
    out = capsys.readouterr().out
    assert "report refused" in out and "sending its 4 results one by one" in out
    assert f"trial {taken.id}: result dropped, refused:" in out
    assert "round 1: measured 4, stored 3, dropped 1" in out
    stored = _stored(agent)
    assert len(stored) == 3 and taken.id not in stored
    assert all(sources == ["sim-4"] for sources in stored.values())
    assert out.strip().splitlines()[-1] == '{"stored": 3, "duplicates": 0}'
    assert agent.store.trial(agent.name, taken.id or "").status is TrialStatus.RUNNING


def test_a_lapsed_lease_nobody_took_still_gets_its_result(
    url: str, photo_pce10_campaign: CampaignAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = photo_pce10_campaign
    run = Run(url, agent.name, lease=1.5, work=4.0)
    run.start()
    lapsed = _claimed(agent)[2]
    time.sleep(0.2)
    # What the server does to a lease that ran out: the trial waits in the queue again.
    TrialDocument.objects(id=lapsed.id).update(
        set__status=TrialStatus.PROPOSED.value,
        unset__claimed_by=True,
        unset__claim_token=True,
        unset__lease_expires_at=True,
    )
    assert run.result() == 0
    out = capsys.readouterr().out
    assert f"trial {lapsed.id}: lease ran out" in out and "will still be sent" in out
    stored = _stored(agent)
    assert len(stored) == 4 and stored[lapsed.id or ""] == ["sim-4"]
    assert out.strip().splitlines()[-1] == '{"stored": 4, "duplicates": 0}'


def test_a_data_folder_that_is_no_olympus_set_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--url", "http://127.0.0.1:9", "--token", "t", "--campaign", "c"]
    with pytest.raises(SystemExit) as stopped:
        _example().main([*argv, "--data", str(tmp_path / "nope")])
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert f"--data: {tmp_path / 'nope'} is no Olympus data set (config.json and data.csv)" in said
