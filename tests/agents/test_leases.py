"""Instrument leases and concurrent proposals."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime

import pytest

from agents import CampaignAgent, LookupOracle
from agents.serialize import status_json
from db import CampaignStore, ConcurrentProposalError
from discovery.datasets import PoolDataset
from discovery.domain import CampaignSettings, Trial, TrialStatus


def test_claims_lease_trials_proposing_when_the_queue_is_empty(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    first = agent.claim("robot-a", count=3, lease_seconds=60)
    assert len(first) == 3
    assert all(t.status is TrialStatus.RUNNING and t.claimed_by == "robot-a" for t in first)
    # the 7 left of the initial design; the model waits for results rather than guess
    second = agent.claim("robot-b", count=8, lease_seconds=60)
    assert len(second) == 7 and {t.strategy for t in first + second} == {"random"}
    assert not {t.id for t in first} & {t.id for t in second}
    waiting = agent.no_work()
    assert waiting.ask_again and "needs 2 results to choose and has 0" in waiting.why
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    agent.observe(oracle.evaluate(first))
    third = agent.claim("robot-b", count=6, lease_seconds=60)
    assert len(third) == 6 and {t.strategy for t in third} == {"gp"}


@pytest.mark.parametrize("count", [3, 30])
def test_a_claim_for_more_than_a_batch_never_overshoots_the_random_design(
    store: CampaignStore, photo_pce10_dataset: PoolDataset, count: int
) -> None:
    settings = CampaignSettings("gp", initial=4, batch_size=2, seed=0)
    agent = CampaignAgent.from_dataset(store, "claims", photo_pce10_dataset, settings)
    oracle = LookupOracle.from_candidates(store.candidates("claims"))
    first = agent.claim("robot-a", count=count, lease_seconds=60)
    assert len(first) == min(count, 4) and {t.strategy for t in first} == {"random"}
    agent.observe(oracle.evaluate(first))
    second = agent.claim("robot-a", count=count, lease_seconds=60)
    strategies = [t.strategy for t in second]
    # the rest of the design (one random), then the model chooses for the others
    assert len(second) == count and strategies.count("random") == 4 - len(first)
    assert agent.status().initial_left == 0 and agent.status().rounds == 1


def test_a_proposal_the_design_cut_short_says_the_model_chooses_next(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    settings = CampaignSettings("gp", initial=6, batch_size=4, seed=0)
    agent = CampaignAgent.from_dataset(store, "design", photo_pce10_dataset, settings)
    oracle = LookupOracle.from_candidates(store.candidates("design"))
    agent.observe(oracle.evaluate(agent.propose(4)))
    last = agent.propose(4)  # the design's last two: random trials never go past it
    assert [t.strategy for t in last] == ["random", "random"]
    assert "ended the initial design" not in agent.no_work().why  # an empty one: not said
    short = agent.no_work(last)
    assert short.ask_again and short.why == (
        "the last batch ended the initial design (random experiments never go past it); the "
        "model chooses the next batch: ask again"
    )
    assert {t.strategy for t in agent.propose(4)} == {"gp"}


def test_an_empty_claim_says_whether_work_may_come(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    settings = CampaignSettings("gp", initial=2, batch_size=2, seed=0, budget=4)
    agent = CampaignAgent.from_dataset(store, "budget", photo_pce10_dataset, settings)
    oracle = LookupOracle.from_candidates(store.candidates("budget"))
    agent.observe(oracle.evaluate(agent.claim("robot-a", count=2, lease_seconds=60)))
    held = agent.claim("robot-a", count=4, lease_seconds=60)
    assert len(held) == 2 and agent.claim("robot-b", count=1, lease_seconds=60) == []
    out = agent.no_work()  # handed out, not spent: a failure frees a place
    assert out.ask_again
    assert out.why == (
        "its budget of 4 experiments is handed out; 2 trials are still out (a failure, a "
        "cancel or a lost lease frees its place): ask again later"
    )
    agent.fail(held[0].id or "", "robot-a", "furnace fault", operator=False)
    [again] = agent.claim("robot-b", count=1, lease_seconds=60)
    agent.observe(oracle.evaluate([held[1], again]))
    spent = agent.no_work()
    assert (spent.why, spent.ask_again) == ("its budget of 4 experiments is spent", False)


def test_an_instrument_gives_up_only_a_trial_it_claimed(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    waiting, other = agent.propose(2)
    for give_up in (agent.fail, agent.abandon):
        with pytest.raises(ValueError, match="is proposed, not running: an instrument gives"):
            give_up(waiting.id or "", "robot-a", "never ran", operator=False)
    assert agent.fail(waiting.id or "", None, "cannot be made").status is TrialStatus.FAILED
    [claimed] = agent.claim("robot-a", count=1, lease_seconds=60)
    assert claimed.id == other.id
    assert agent.fail(other.id or "", "robot-a", operator=False).status is TrialStatus.FAILED


def test_an_expired_lease_returns_its_trial_and_a_late_result_still_counts(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    [trial] = agent.claim("robot-a", count=1, lease_seconds=0.2)
    time.sleep(0.4)
    stale = agent.status()  # still running (a result would count), its lease run out
    assert (stale.trials["running"], stale.expired) == (1, 1)
    assert status_json(stale)["expired_leases"] == 1
    [again] = agent.claim("robot-b", count=1, lease_seconds=60)
    assert agent.status().expired == 0
    assert again.id == trial.id and again.claimed_by == "robot-b"
    with pytest.raises(ValueError, match="leased to 'robot-b'"):
        agent.heartbeat(trial.id or "", "robot-a")
    assert agent.heartbeat(trial.id or "", "robot-b", 120).lease_expires_at is not None
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    [late] = oracle.evaluate([again])
    with pytest.raises(ValueError, match=r"leased to 'robot-b'; a result from 'robot-a'"):
        agent.observe([replace(late, source="robot-a", idempotency_key="a")])  # lease lost
    assert agent.observe([replace(late, source="robot-b")]).stored == 1


def test_a_retried_claim_gets_the_trials_of_the_first(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    first = agent.claim("robot-a", count=2, request_id="r-17")
    retry = agent.claim("robot-a", count=2, request_id="r-17")  # its answer was lost
    assert [t.id for t in retry] == [t.id for t in first]
    other = agent.claim("robot-b", count=2, request_id="r-17")  # another instrument's id
    assert not {t.id for t in other} & {t.id for t in first}
    assert len(agent.store.trials(agent.name, [TrialStatus.RUNNING])) == 4
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    agent.observe(oracle.evaluate(first))
    later = agent.claim("robot-a", count=1, request_id="r-17")  # done: the id is free again
    assert later[0].id not in {t.id for t in first + other}


def test_a_claim_retried_after_its_lease_ran_out_is_leased_afresh(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    first = agent.claim("robot-a", count=2, lease_seconds=0.2, request_id="r-1")
    time.sleep(0.4)
    retry = agent.claim("robot-a", count=2, lease_seconds=60, request_id="r-1")
    assert all(t.lease_expires_at and t.lease_expires_at > datetime.now() for t in retry)
    other = agent.claim("robot-b", count=2, lease_seconds=60)
    assert not {t.id for t in other} & {t.id for t in retry}
    assert {t.id for t in retry} == {t.id for t in first}  # back to the queue, oldest first


def test_a_claim_that_fails_to_propose_leases_nothing(
    photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = photo_pce10_campaign
    [waiting] = agent.propose(1)

    def broken(n: int | None, rounds: int | None = None, request: str | None = None) -> list[Trial]:
        raise RuntimeError("the surrogate could not be fitted")

    monkeypatch.setattr(agent, "_propose_once", broken)
    with pytest.raises(RuntimeError):
        agent.claim("robot-a", count=3, lease_seconds=7 * 24 * 3600)
    assert agent.store.trial(agent.name, waiting.id or "").status is TrialStatus.PROPOSED
    [again] = agent.claim("robot-b", count=1)  # not stuck behind robot-a's week-long lease
    assert again.id == waiting.id and again.claimed_by == "robot-b"


def test_a_claim_beaten_to_its_proposal_claims_from_the_other_batch(
    photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = photo_pce10_campaign
    other = CampaignAgent(CampaignStore(), agent.name)  # another instrument's process
    counted = agent.store.batches_stored

    def then_beaten(name: str) -> int | None:
        count = counted(name)
        if count == 0:  # the other stores its batch after this one counted the batches
            other.propose(4)
        return count

    monkeypatch.setattr(agent.store, "batches_stored", then_beaten)
    claimed = agent.claim("robot-a", count=3)
    assert len(claimed) == 3 and {t.batch for t in claimed} == {"b0000"}
    assert len(agent.store.trials(agent.name)) == 4  # the stale batch was not stored


def test_the_database_refuses_a_candidate_proposed_twice(
    photo_pce10_campaign: CampaignAgent, store: CampaignStore
) -> None:
    name = photo_pce10_campaign.name
    point = store.candidates(name)[5].parameters
    [first] = store.add_trials(name, [Trial(name, point, "b0000", candidate=5)])
    with pytest.raises(ConcurrentProposalError):
        store.add_trials(name, [Trial(name, point, "b0001", candidate=5)])
    store.set_status(name, first.id or "", TrialStatus.FAILED)
    store.add_trials(name, [Trial(name, point, "b0001", candidate=5)])  # free again


def test_three_instruments_at_different_times_never_share_a_candidate(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    name = photo_pce10_campaign.name
    oracle = LookupOracle.from_candidates(photo_pce10_campaign.store.candidates(name))
    claimed: list[Trial] = []
    errors: list[BaseException] = []

    def instrument(label: str, delay: float) -> None:
        try:
            agent = CampaignAgent(CampaignStore(), name)  # its own agent, as in its own request
            for _ in range(3):
                time.sleep(delay)
                trials: list[Trial] = []
                for _ in range(600):  # the model may wait for the design's results: ask again
                    trials += agent.claim(label, count=2 - len(trials), lease_seconds=60)
                    if len(trials) == 2:
                        break
                    time.sleep(0.05)
                claimed.extend(trials)
                agent.observe(oracle.evaluate(trials[:1]))  # one back, one still pending
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=instrument, args=(f"robot-{i}", 0.05 * i)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    candidates = [t.candidate for t in claimed]
    assert len(candidates) == 18
    assert len(set(candidates)) == 18


def test_a_lease_shorter_than_the_proposal_still_claims_each_trial_once(
    photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = photo_pce10_campaign
    measured = agent.claim("robot-a", count=8, lease_seconds=60)  # 2 of the initial 10 wait
    agent.observe(
        LookupOracle.from_candidates(agent.store.candidates(agent.name)).evaluate(measured)
    )
    propose = agent.propose

    def slow_propose(*args: object, **kwargs: object) -> list[Trial]:
        time.sleep(0.4)  # the 0.2 s leases of the two waiting trials run out meanwhile
        return propose(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(agent, "propose", slow_propose)
    trials = agent.claim("robot-b", count=4, lease_seconds=0.2)
    ids = [t.id for t in trials]
    assert len(ids) == len(set(ids)) == 4, ids  # not the two waiting ones twice
    assert all(t.claimed_by == "robot-b" for t in trials)


def test_a_proposal_retried_after_a_lost_answer_gets_the_batch_it_stored(
    photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pymongo.errors

    agent = photo_pce10_campaign
    store_batch = agent.store.add_trials

    def stored_then_lost(*args: object, **kwargs: object) -> list[Trial]:
        store_batch(*args, **kwargs)  # type: ignore[arg-type]
        raise pymongo.errors.AutoReconnect("connection closed before the answer")

    monkeypatch.setattr(agent.store, "add_trials", stored_then_lost)
    with pytest.raises(pymongo.errors.AutoReconnect):
        agent.propose(4, request="run-7:round-1")
    monkeypatch.undo()
    again = agent.propose(4, request="run-7:round-1")  # the retry: the same batch
    assert [t.batch for t in again] == ["b0000"] * 4 and len(agent.store.trials(agent.name)) == 4
    other = agent.propose(4, request="flow-8:round-1")  # another flow's, meanwhile
    assert {t.batch for t in other} == {"b0001"}
    assert agent.propose(4, request="run-7:round-1") == again  # still remembered
    assert len(agent.store.trials(agent.name)) == 8


def test_an_oracle_measures_a_trial_whose_lease_ran_out(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    # a lab claimed work and went quiet: a scheduled round's oracle takes it over
    agent = photo_pce10_campaign
    held, lapsed = agent.claim("robot-a", count=2, lease_seconds=60)
    agent.heartbeat(lapsed.id or "", "robot-a", 0.2)
    time.sleep(0.4)
    waiting = {t.id: t for t in agent.unclaimed()}  # with the batch's unclaimed rest
    assert lapsed.id in waiting and held.id not in waiting  # its lease holds: robot-a's
    returned = waiting[lapsed.id]
    assert returned.status is TrialStatus.PROPOSED and returned.claimed_by is None
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    assert agent.observe(oracle.evaluate([returned])).stored == 1
    trials = agent.status().trials
    assert (trials["completed"], trials["running"]) == (1, 1)


def test_on_a_closed_campaign_a_lapsed_lease_is_abandoned_not_handed_to_the_oracle(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    held, lapsed = agent.claim("robot-a", count=2, lease_seconds=60)
    agent.close()
    agent.heartbeat(lapsed.id or "", "robot-a", 0.2)
    time.sleep(0.4)
    assert agent.unclaimed() == []
    assert agent.store.trial(agent.name, lapsed.id or "").status is TrialStatus.ABANDONED
    assert agent.store.trial(agent.name, held.id or "").status is TrialStatus.RUNNING
