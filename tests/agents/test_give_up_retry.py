"""Failing or cancelling a trial is safe to retry: the same give-up again changes nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from bson import ObjectId
from fastapi.testclient import TestClient

import db.campaigns
from agents import CampaignAgent
from agents.api import create_app
from db.tokens import create_token
from discovery.domain import TrialStatus

CAMPAIGN = "/api/v1/campaigns/photo-pce10"


@pytest.fixture
def api(photo_pce10_campaign: CampaignAgent) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def _auth(role: str, instrument: str | None = None) -> dict[str, str]:
    name = f"{role}-{time.monotonic_ns()}"
    secret, _ = create_token(name, role, ["photo-pce10"] if role != "admin" else None, instrument)
    return {"Authorization": f"Bearer {secret}"}


def _claim(api: TestClient, headers: dict[str, str], count: int = 1) -> list[dict[str, Any]]:
    body = {"instrument": "hb", "count": count}
    response = api.post(f"{CAMPAIGN}/claims", json=body, headers=headers)
    assert response.status_code == 200, response.text
    trials: list[dict[str, Any]] = response.json()["trials"]
    assert len(trials) == count
    return trials


def _give_up(
    api: TestClient, trial: dict[str, Any], how: str, headers: dict[str, str], **body: str
) -> Any:
    return api.post(f"{CAMPAIGN}/trials/{trial['id']}/{how}", json=body, headers=headers)


def _counts(agent: CampaignAgent) -> dict[str, int]:
    counts: dict[str, int] = agent.store.counts(agent.name)["trials"]
    return counts


def test_a_repeated_fail_is_a_200_and_counts_one_failure(
    api: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    agent, robot = photo_pce10_campaign, _auth("instrument")
    [trial] = _claim(api, robot)
    first = _give_up(api, trial, "fail", robot, instrument="hb", reason="furnace tripped")
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["reason"]) == ("failed", "furnace tripped")
    counts = _counts(agent)
    # the answer was lost: the client sends the same request again
    again = _give_up(api, trial, "fail", robot, instrument="hb", reason="furnace tripped")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()  # as stored: nothing changed, updated_at included
    reworded = _give_up(api, trial, "fail", robot, instrument="hb", reason="tripped again")
    assert reworded.status_code == 200, reworded.text
    assert reworded.json()["reason"] == "furnace tripped"  # the first reason stays
    assert _counts(agent) == counts == {**counts, "failed": 1}
    # one failure counted: the candidate may still be proposed once more (MAX_FAILURES)
    candidate = trial["candidate"]
    trials = agent.store.trials(agent.name)
    assert [t.candidate for t in trials if t.status is TrialStatus.FAILED] == [candidate]
    problem, _ = CampaignAgent(agent.store, agent.name)._problem(trials)
    assert problem.available is not None and problem.available[candidate]


def test_a_repeated_cancel_is_a_200_and_changes_nothing(
    api: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    agent, robot = photo_pce10_campaign, _auth("instrument", instrument="hb")
    [running, waiting] = _claim(api, robot, 2)
    cancelled = _give_up(api, running, "cancel", robot, reason="precursor out")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "abandoned"
    counts = _counts(agent)
    again = _give_up(api, running, "cancel", robot, reason="precursor out")
    assert again.status_code == 200, again.text
    assert again.json() == cancelled.json()
    assert _counts(agent) == counts
    # an admin token naming no instrument repeats its own give-up
    boss = _auth("admin")
    first = _give_up(api, waiting, "cancel", boss, reason="robot down for service")
    assert first.status_code == 200, first.text
    repeat = _give_up(api, waiting, "cancel", boss, reason="robot down for service")
    assert repeat.status_code == 200, repeat.text
    assert repeat.json() == first.json()
    assert _counts(agent) == {**counts, "abandoned": 2, "running": counts["running"] - 1}


def test_another_give_up_of_a_given_up_trial_is_a_409_naming_who_and_how(
    api: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    agent, robot, boss = photo_pce10_campaign, _auth("instrument"), _auth("admin")
    [failed, cancelled] = _claim(api, robot, 2)
    assert _give_up(
        api, failed, "fail", robot, instrument="hb", reason="furnace tripped"
    ).is_success
    assert _give_up(api, cancelled, "cancel", robot, instrument="hb").is_success
    counts = _counts(agent)

    then_cancel = _give_up(api, failed, "cancel", robot, instrument="hb")
    assert then_cancel.status_code == 409, then_cancel.text
    detail = then_cancel.json()["detail"]
    assert "cannot go from failed to abandoned" in detail
    assert "failed by instrument 'hb' (furnace tripped)" in detail

    then_fail = _give_up(api, cancelled, "fail", robot, instrument="hb")
    assert then_fail.status_code == 409, then_fail.text
    assert "abandoned by instrument 'hb'" in then_fail.json()["detail"]

    other = _give_up(api, failed, "fail", robot, instrument="robot-2", reason="furnace tripped")
    assert other.status_code == 409, other.text
    assert "already failed by instrument 'hb'" in other.json()["detail"]
    assert "'robot-2' did not give it up" in other.json()["detail"]

    operator = _give_up(api, failed, "fail", boss)  # not the instrument that failed it
    assert operator.status_code == 409, operator.text
    assert "naming instrument 'hb'" in operator.json()["detail"]
    as_hb = _give_up(api, failed, "fail", boss, instrument="hb")  # the admin repeats hb's
    assert as_hb.status_code == 200, as_hb.text
    assert as_hb.json()["reason"] == "furnace tripped"
    assert _counts(agent) == counts


def test_a_trial_the_close_abandoned_refuses_an_instruments_cancel(
    api: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    robot = _auth("instrument")
    [_, waiting] = photo_pce10_campaign.propose(2)
    photo_pce10_campaign.close()
    response = api.post(
        f"{CAMPAIGN}/trials/{waiting.id}/cancel", json={"instrument": "hb"}, headers=robot
    )
    assert response.status_code == 409, response.text
    assert "abandoned by the campaign's close (campaign closed)" in response.json()["detail"]


class _Gated:
    """The trials collection, holding the first reads of one trial until both are made.

    Two requests then read the same running trial before either writes: the race.
    """

    def __init__(self, collection: Any, trial_id: str, parties: int = 2) -> None:
        self._collection = collection
        self._id = ObjectId(trial_id)
        self._barrier = threading.Barrier(parties, timeout=20)
        self._gated = 0
        self._lock = threading.Lock()
        self.moved = 0

    def find_one(self, query: Any = None, *args: Any, **kwargs: Any) -> Any:
        row = self._collection.find_one(query, *args, **kwargs)
        if isinstance(query, dict) and query.get("_id") == self._id:
            with self._lock:
                gate = self._gated < self._barrier.parties
                self._gated += 1
            if gate:
                self._barrier.wait()
        return row

    def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        after = self._collection.find_one_and_update(*args, **kwargs)
        with self._lock:
            self.moved += after is not None
        return after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


@pytest.mark.parametrize("how", ["fail", "cancel"])
def test_identical_give_ups_racing_both_get_200_and_move_the_trial_once(
    api: TestClient,
    photo_pce10_campaign: CampaignAgent,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    agent, robot = photo_pce10_campaign, _auth("instrument")
    [trial] = _claim(api, robot)
    collection = db.campaigns._trials()
    gated = _Gated(collection, trial["id"])
    monkeypatch.setattr(db.campaigns, "_trials", lambda: gated)
    body = {"instrument": "hb", "reason": "furnace tripped"}

    def send(_: int) -> Any:
        return api.post(f"{CAMPAIGN}/trials/{trial['id']}/{how}", json=body, headers=robot)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(send, range(2)))
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    first, second = (r.json() for r in responses)
    assert first == second
    assert first["status"] == ("failed" if how == "fail" else "abandoned")
    assert gated.moved == 1  # one transition
    given_up = TrialStatus.FAILED if how == "fail" else TrialStatus.ABANDONED
    assert len(agent.store.trials(agent.name, [given_up])) == 1
