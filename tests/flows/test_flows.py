"""Each flow run by Prefect's engine (``prefect_test_harness``) against a real SecantusDB."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
import pytest
from prefect import flow, task
from prefect_dask import DaskTaskRunner

import flows.tasks
from agents import CampaignAgent, LookupOracle
from db import CampaignStore
from discovery.datasets import PoolDataset, load_csv
from discovery.domain import CampaignSettings, Direction, Trial
from flows.campaigns import campaign_round, results_reported, run_campaign
from flows.ingestion import ingest_literature
from flows.tasks import evaluate, propose_batch, transient_failure
from flows.training import (
    DASK_ADDRESS_ENV,
    DASK_WORKERS_ENV,
    dask_task_runner,
    train_many,
    train_surrogate,
)

PHOTO_PCE10_CSV = Path(__file__).parents[2] / "matloop/data/olympus/photo_pce10/data.csv"


def _measure(agent: CampaignAgent, trials: list[Any]) -> None:
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    agent.observe(oracle.evaluate(trials))


def test_campaign_round_proposes_measures_and_stores_one_batch(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    first = campaign_round(random_campaign.name, mongodb_uri)
    assert first["proposed"] == first["stored"] == first["measurements"] == 10
    assert (first["batches"], first["rounds"], first["pending"]) == (1, 0, 0)
    second = campaign_round(random_campaign.name, mongodb_uri)
    assert (second["proposed"], second["measurements"], second["rounds"]) == (4, 14, 1)
    assert second["best"] <= first["best"]  # minimise degradation
    assert random_campaign.status().measurements == 14


def test_campaign_round_measures_trials_left_pending_first(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    random_campaign.propose()  # handed out, then the process died
    result = campaign_round(random_campaign.name, mongodb_uri)
    assert (result["recovered"], result["proposed"], result["measurements"]) == (10, 4, 14)


def test_campaign_round_leaves_trials_an_instrument_claimed_to_it(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    claimed = random_campaign.claim("robot-1", 2)  # the initial design, two of it leased
    result = campaign_round(random_campaign.name, mongodb_uri)
    assert (result["recovered"], result["proposed"], result["measurements"]) == (8, 4, 12)
    _measure(random_campaign, claimed)  # the robot's own results are still accepted
    assert random_campaign.status().measurements == 14


def _sizes_measured(monkeypatch: pytest.MonkeyPatch, then: Any = None) -> list[int]:
    """Record how many trials each oracle evaluation gets; ``then(calls)`` runs before it."""
    calls: list[int] = []

    def measure(oracle: LookupOracle, trials: list[Trial]) -> Any:
        calls.append(len(trials))
        if then is not None:
            then(calls)
        return evaluate.fn(oracle, trials)

    monkeypatch.setattr("flows.campaigns.evaluate", measure)
    return calls


def test_a_claim_right_after_the_proposal_leaves_those_trials_to_the_instrument(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimed: list[Trial] = []

    def proposed_then_claimed(campaign: str, uri: str, **options: Any) -> list[Trial]:
        trials = propose_batch.fn(campaign, uri, **options)
        claimed.extend(random_campaign.claim("xrd", 2))  # an instrument, over the API
        return trials

    monkeypatch.setattr("flows.campaigns.propose_batch", proposed_then_claimed)
    sizes = _sizes_measured(monkeypatch)
    result = campaign_round(random_campaign.name, mongodb_uri)
    assert (result["proposed"], result["stored"], result["left_to_instruments"]) == (10, 8, 2)
    assert sizes == [8] and result["measurements"] == 8 and result["pending"] == 2
    assert "(2 left to the instruments that claimed them)" in result["message"]
    running = {t.id for t in random_campaign.pending()}
    assert running == {t.id for t in claimed}  # still the instrument's to report
    _measure(random_campaign, claimed)
    assert random_campaign.status().measurements == 10


def test_a_claim_while_the_oracle_measures_is_left_to_the_instrument(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def claim_first(calls: list[int]) -> None:
        if len(calls) == 1:  # between the read of the unclaimed trials and the store
            random_campaign.claim("xrd", 2)

    sizes = _sizes_measured(monkeypatch, claim_first)
    result = campaign_round(random_campaign.name, mongodb_uri)
    assert sizes == [10, 8]  # the refused store wrote nothing; measured again without them
    assert (result["proposed"], result["stored"], result["left_to_instruments"]) == (10, 8, 2)
    assert random_campaign.status().trials["running"] == 2


def test_each_flow_logs_one_line_and_returns_it_in_a_json_able_summary(
    random_campaign: CampaignAgent, mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = random_campaign.name
    caplog.set_level(logging.INFO)
    first = run_campaign(name, 1, mongodb_uri, per_run=1)
    assert first["message"].startswith(f"{name}: added 1 batch, rounds 0 of 1; 10 results, ")
    assert f"best degradation {first['best']:.4g}" in first["message"]
    second = run_campaign(name, 1, mongodb_uri)
    assert second["message"].startswith(f"{name}: added 1 batch, rounds 1 of 1; 14 results")
    done = run_campaign(name, 1, mongodb_uri)
    assert done["message"].startswith(f"{name}: target reached (rounds 1 of 1): nothing to do")
    round_ = campaign_round(name, mongodb_uri)
    # the batch as stored and exported: the third is b0002
    assert round_["message"].startswith(f"{name}: batch b0002 (round 2): proposed 4, stored 4; ")
    reported = results_reported(name, mongodb_uri, count=4)
    assert reported["retrained"] and reported["model_version"] is not None
    assert reported["message"] == (
        f"{name}: 4 results reported; retrained {reported['model_version']}; proposed 4 trials"
    )
    again = results_reported(name, mongodb_uri, count=0)
    assert again["message"].endswith(
        "already fits these results; nothing proposed (4 trials pending)"
    )
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    for result in (first, second, done, round_, reported, again):
        assert json.loads(json.dumps(result)) == result
        assert result["message"] in logged
    state = run_campaign(name, 1, mongodb_uri, return_state=True)  # what the UI shows
    assert state.is_completed() and state.message == state.result()["message"]
    assert "target reached (rounds 3 of 1)" in state.message


def test_campaign_round_on_a_pool_without_reference_values_proposes_nothing(
    lab_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    with pytest.raises(ValueError, match="have no reference values"):
        campaign_round("lab", mongodb_uri)
    assert lab_campaign.status().batches == 0


def test_run_campaign_is_declarative_and_resumable(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    name = random_campaign.name
    result = run_campaign(name, 2, mongodb_uri)
    assert (result["rounds"], result["measurements"], result["batches_run"]) == (2, 18, 3)
    assert run_campaign(name, 2, mongodb_uri)["batches_run"] == 0  # already there
    random_campaign.propose()  # a round handed out but never measured
    resumed = run_campaign(name, 3, mongodb_uri)
    assert (resumed["recovered"], resumed["batches_run"], resumed["measurements"]) == (4, 0, 22)
    assert random_campaign.status().rounds == 3 and not random_campaign.pending()
    with pytest.raises(ValueError, match="rounds must be >= 0"):
        run_campaign(name, -1, mongodb_uri)


def test_a_scheduled_run_adds_at_most_per_run_batches(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    name = random_campaign.name
    steps = [run_campaign(name, 2, mongodb_uri, per_run=1) for _ in range(4)]
    assert [(s["batches_run"], s["rounds"]) for s in steps] == [(1, 0), (1, 1), (1, 2), (0, 2)]
    with pytest.raises(ValueError, match="per_run must be >= 1"):
        run_campaign(name, 3, mongodb_uri, per_run=0)


def test_run_campaign_stops_when_the_pool_is_exhausted(
    store: CampaignStore, mongodb_uri: str, tmp_path: Path
) -> None:
    rows = PHOTO_PCE10_CSV.read_text().splitlines()[:12]
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(["a,b,c,d,degradation", *rows]) + "\n")
    dataset = load_csv(path, [("degradation", Direction.MINIMIZE)])
    settings = CampaignSettings("random", initial=10, batch_size=4, seed=0)
    CampaignAgent.from_dataset(store, "tiny", dataset, settings)
    result = run_campaign("tiny", 5, mongodb_uri)
    assert (result["measurements"], result["batches_run"], result["rounds"]) == (12, 2, 1)


def test_flows_skip_a_closed_campaign_saying_so(
    random_campaign: CampaignAgent, mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = random_campaign.name
    campaign_round(name, mongodb_uri)  # the initial design, measured
    random_campaign.propose()  # a batch handed out, then the campaign is closed
    random_campaign.close()
    skipped = campaign_round(name, mongodb_uri)
    assert (skipped["closed"], skipped["proposed"], skipped["measurements"]) == (True, 0, 10)
    assert skipped["trials"]["abandoned"] == 4 and skipped["pending"] == 0
    run = run_campaign(name, 3, mongodb_uri)
    assert (run["closed"], run["batches_run"], run["measurements"]) == (True, 0, 10)
    reported = results_reported(name, mongodb_uri, count=0)
    assert reported["closed"] is True and reported["proposed"] == []
    assert reported["model_version"] is not None  # its results still train the model
    assert random_campaign.status().batches == 2  # no batch since the close
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"campaign {name!r} is closed: round skipped" in said[0]
    assert skipped["message"] == said[0] and run["message"] == said[1]
    assert reported["message"].endswith("; nothing proposed (campaign closed)")
    state = campaign_round(name, mongodb_uri, return_state=True)
    assert state.message == said[0]  # the warning, as the run's state message


def test_a_campaign_closed_during_a_run_stops_it(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = random_campaign.name
    rounds: list[dict[str, Any]] = []

    def then_close(campaign: str, uri: str, target: int | None = None) -> dict[str, Any]:
        rounds.append(campaign_round(campaign, uri, target))
        random_campaign.close()  # an operator, between two rounds
        return rounds[-1]

    monkeypatch.setattr("flows.campaigns.campaign_round", then_close)
    stopped = run_campaign(name, 5, mongodb_uri)
    assert (stopped["batches_run"], stopped["closed"], stopped["measurements"]) == (1, True, 10)
    assert [r["closed"] for r in rounds] == [False, True]  # the next round found it closed


def test_a_run_stops_where_another_run_took_the_campaign(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = random_campaign.name
    campaign_round(name, mongodb_uri)  # the initial design, measured

    def another_run_first(campaign: str, uri: str, target: int | None = None) -> dict[str, Any]:
        _measure(random_campaign, random_campaign.propose())  # `campaign run` by hand: round 1
        return campaign_round(campaign, uri, target)

    monkeypatch.setattr("flows.campaigns.campaign_round", another_run_first)
    result = run_campaign(name, 1, mongodb_uri)
    assert (result["rounds"], result["batches_run"], result["measurements"]) == (1, 0, 14)
    assert result["message"].startswith(f"{name}: target reached (rounds 1 of 1)")


def test_a_close_while_a_batch_is_planned_ends_the_round_saying_so(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = random_campaign.name
    campaign_round(name, mongodb_uri)  # the initial design, measured
    plan = CampaignAgent._propose_once

    def closed_meanwhile(agent: CampaignAgent, *args: Any, **kwargs: Any) -> list[Trial]:
        random_campaign.close()  # an operator, after the round's check, during the fit
        return plan(agent, *args, **kwargs)

    monkeypatch.setattr(CampaignAgent, "_propose_once", closed_meanwhile)
    ended = campaign_round(name, mongodb_uri)
    assert (ended["closed"], ended["proposed"], ended["measurements"]) == (True, 0, 10)
    assert random_campaign.status().batches == 1


def test_train_surrogate_flow_registers_a_model_and_says_so(
    random_campaign: CampaignAgent, mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _measure(random_campaign, random_campaign.propose())
    result = train_surrogate(random_campaign.name, mongodb_uri)
    assert result["model_version"].startswith(f"{random_campaign.name}:gp:")
    assert result["n_train"] == 10 and 0 < result["cv_mae"] <= result["cv_rmse"]
    stored = random_campaign.store.load_model(result["model_version"]).metrics
    assert stored["cv_rmse"] == result["cv_rmse"]
    said = f"{random_campaign.name}: registered {result['model_version']} on 10 results"
    assert any(r.getMessage().startswith(said) for r in caplog.records), caplog.text


def test_results_reported_retrains_and_hands_out_the_next_batch(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    name = random_campaign.name
    start = results_reported(name, mongodb_uri, count=0)  # nothing measured yet
    assert start["model_version"] is None and len(start["proposed"]) == 10
    _measure(random_campaign, random_campaign.pending())  # the instruments report
    after = results_reported(name, mongodb_uri, count=10)
    assert after["reported"] == 10 and after["model_version"] is not None
    assert len(after["proposed"]) == 4 and after["pending"] == 4
    waiting = results_reported(name, mongodb_uri, count=0)  # batch still out: no new one
    assert waiting["proposed"] == [] and waiting["model_version"] == after["model_version"]


def test_results_reported_again_on_the_same_results_does_not_refit(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = random_campaign.name
    _measure(random_campaign, random_campaign.propose())
    first = results_reported(name, mongodb_uri, count=10, propose=False)

    def refit(data: Any) -> None:
        raise AssertionError("the same results were fitted twice")

    # reports that arrived together queue one run each: the later ones find the model
    monkeypatch.setattr("flows.tasks.fit_surrogate", refit)
    again = results_reported(name, mongodb_uri, count=1, propose=False)
    assert again["model_version"] == first["model_version"] is not None
    _measure(random_campaign, random_campaign.propose())  # new results: a new fit
    with pytest.raises(AssertionError, match="fitted twice"):
        results_reported(name, mongodb_uri, count=4, propose=False)


def test_results_reported_with_two_objectives_skips_training_and_proposes(
    store: CampaignStore, photo_pce10_dataset: PoolDataset, mongodb_uri: str
) -> None:
    dataset = photo_pce10_dataset
    second = dataclasses.replace(dataset.objectives[0], name="second")
    two = dataclasses.replace(
        dataset,
        objectives=(*dataset.objectives, second),
        values=np.hstack([dataset.values, 2 * dataset.values]),
    )
    settings = CampaignSettings("random", initial=4, batch_size=2, seed=0)
    agent = CampaignAgent.from_dataset(store, "two", two, settings)
    _measure(agent, agent.propose())
    result = results_reported("two", mongodb_uri, count=4)
    assert result["model_version"] is None and result["objectives"] == 2
    assert len(result["proposed"]) == 2


@pytest.mark.slow
def test_train_many_trains_campaigns_in_parallel_on_dask(
    store: CampaignStore,
    random_campaign: CampaignAgent,
    photo_pce10_campaign: CampaignAgent,
    mongodb_uri: str,
) -> None:
    _measure(random_campaign, random_campaign.propose())
    _measure(photo_pce10_campaign, photo_pce10_campaign.propose(6))
    names = [random_campaign.name, photo_pce10_campaign.name]
    store.create(dataclasses.replace(random_campaign.campaign, name="empty"))  # no results
    runner = dask_task_runner(n_workers=2)
    result = train_many.with_options(task_runner=runner)([*names, "empty"], mongodb_uri)
    assert set(result["trained"]) == set(names)
    assert "at least 3" in result["skipped"]["empty"]
    for name, version in result["trained"].items():
        assert store.load_model(version).metrics["cv"] == "loo", name


def test_dask_runner_points_at_a_scheduler_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(train_many.task_runner, DaskTaskRunner)
    monkeypatch.setenv(DASK_ADDRESS_ENV, "tcp://10.0.0.5:8786")
    assert dask_task_runner().address == "tcp://10.0.0.5:8786"
    assert dask_task_runner("tcp://127.0.0.1:9999").address == "tcp://127.0.0.1:9999"
    monkeypatch.delenv(DASK_ADDRESS_ENV)
    local = dask_task_runner(n_workers=3)
    assert local.address is None and local.cluster_kwargs["n_workers"] == 3
    assert local.cluster_kwargs["host"] == "127.0.0.1"
    monkeypatch.setenv(DASK_WORKERS_ENV, "2")
    assert dask_task_runner().cluster_kwargs["n_workers"] == 2
    monkeypatch.setenv(DASK_WORKERS_ENV, "two")
    with pytest.raises(ValueError, match="MATLOOP_DASK_WORKERS: expected a positive integer"):
        dask_task_runner()


def test_database_tasks_retry_connection_failures_only() -> None:
    calls: list[str] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=transient_failure)
    def flaky(error: str) -> str:
        calls.append(error)
        if len(calls) == 1:
            raise ConnectionError("database down") if error == "connection" else ValueError("bad")
        return "ok"

    @flow
    def attempt(error: str) -> str:
        return flaky(error)

    assert attempt("connection") == "ok" and calls == ["connection", "connection"]
    calls.clear()
    with pytest.raises(ValueError, match="bad"):
        attempt("validation")
    assert calls == ["validation"]


def test_a_proposal_whose_answer_was_lost_is_retried_and_hands_out_one_batch(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pymongo.errors

    from db import CampaignStore as Store

    store_batch = Store.add_trials
    lost: list[str] = []

    def stored_then_lost(self: Store, *args: Any, **kwargs: Any) -> list[Trial]:
        stored = store_batch(self, *args, **kwargs)
        if not lost:  # the first answer never arrives: the task fails, then retries
            lost.append(stored[0].batch)
            raise pymongo.errors.AutoReconnect("connection reset after the write")
        return stored

    monkeypatch.setattr(Store, "add_trials", stored_then_lost)
    monkeypatch.setattr(propose_batch, "retry_delay_seconds", [0.0])
    result = campaign_round(random_campaign.name, mongodb_uri)
    assert lost == ["b0000"] and result["proposed"] == 10
    trials = random_campaign.store.trials(random_campaign.name)
    assert len(trials) == 10 and {t.batch for t in trials} == {"b0000"}  # not a second batch


def test_a_round_says_the_model_waits_for_the_designs_results(
    photo_pce10_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    name = photo_pce10_campaign.name
    photo_pce10_campaign.claim("xrd", 10)  # the whole random design, at the instrument
    result = campaign_round(name, mongodb_uri, rounds=3)
    waiting = "the model needs 2 results to choose and has 0: its initial design is out"
    assert result["proposed"] == 0 and f"nothing proposed ({waiting}" in result["message"]
    run = run_campaign(name, 3, mongodb_uri)
    assert run["batches_run"] == 0 and f"stopped: {waiting}" in run["message"]


@pytest.fixture
def served_as(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make flow runs in this test look served by a deployment with these parameters."""
    import prefect.runtime.deployment

    def serve(parameters: dict[str, Any]) -> None:
        monkeypatch.setattr(prefect.runtime.deployment, "id", str(uuid4()), raising=False)
        monkeypatch.setattr(flows.tasks, "deployment_parameters", lambda _id: parameters)

    return serve


def test_a_served_run_refuses_parameters_that_point_it_elsewhere(
    random_campaign: CampaignAgent, mongodb_uri: str, served_as: Any
) -> None:
    name = random_campaign.name
    served_as({"campaign": name, "rounds": 1})
    with pytest.raises(ValueError, match=r"^uri: a served run uses the database its"):
        run_campaign(name, 1, mongodb_uri)  # a triggerer's database: the round not run there
    with pytest.raises(ValueError, match=r"^campaign: 'other' is not this deployment's \("):
        run_campaign("other", 1)
    with pytest.raises(ValueError, match=r"^campaign: 'other' is not this deployment's"):
        results_reported("other")
    with pytest.raises(ValueError, match=r"^uri: a served run"):
        train_surrogate(name, mongodb_uri)
    assert not any(random_campaign.status().trials.values())  # nothing proposed
    served_as({"paths": ["/lab/papers"], "version": None, "settle": 0})
    with pytest.raises(ValueError, match=r"^paths: \['/etc'\] is not this deployment's"):
        ingest_literature(["/etc"])
