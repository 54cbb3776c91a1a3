"""The tasks' logic through ``.fn``: plain function calls, no Prefect engine."""

from __future__ import annotations

import pymongo.errors
import pytest
from prefect.states import Failed

from agents import CampaignAgent
from db import CampaignNotFoundError, connect
from flows import tasks
from flows.tasks import (
    campaign_store,
    campaign_summary,
    evaluate,
    fit_model,
    load_training_data,
    lookup_oracle,
    observe_results,
    propose_batch,
    register_model,
    transient_failure,
    unclaimed_trials,
)


def test_a_round_through_the_task_functions(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    name = random_campaign.name
    assert unclaimed_trials.fn(name, mongodb_uri) == []
    trials = propose_batch.fn(name, mongodb_uri)
    assert len(trials) == 10  # the initial design
    assert [t.id for t in unclaimed_trials.fn(name, mongodb_uri)] == [t.id for t in trials]
    random_campaign.claim("robot-1", 3)  # claimed: the instrument's to report
    assert [t.id for t in unclaimed_trials.fn(name, mongodb_uri)] == [t.id for t in trials[3:]]
    trials = random_campaign.store.trials(name)  # the robot's three report as the robot
    results = evaluate.fn(lookup_oracle.fn(name, mongodb_uri), trials)
    assert [r.source for r in results] == ["robot-1"] * 3 + ["lookup"] * 7
    assert [r.idempotency_key for r in results] == [f"lookup:{t.id}" for t in trials]
    report = observe_results.fn(name, mongodb_uri, results)
    assert (report.stored, report.duplicates) == (10, 0)
    again = observe_results.fn(name, mongodb_uri, results)  # what a retry would do
    assert (again.stored, again.duplicates) == (0, 10)
    summary = campaign_summary.fn(name, mongodb_uri)
    assert summary["batches"] == 1 and summary["rounds"] == 0
    assert summary["measurements"] == 10 and summary["pending"] == 0
    assert summary["objective"] == "degradation"
    assert summary["best"] == min(r.values["degradation"] for r in results)
    assert len(propose_batch.fn(name, mongodb_uri, n=3)) == 3
    assert campaign_summary.fn(name, mongodb_uri)["pending"] == 3


def test_training_through_the_task_functions(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    name = random_campaign.name
    with pytest.raises(ValueError, match="at least 3"):
        load_training_data.fn(name, mongodb_uri)
    oracle = lookup_oracle.fn(name, mongodb_uri)
    observe_results.fn(name, mongodb_uri, evaluate.fn(oracle, propose_batch.fn(name, mongodb_uri)))
    data = load_training_data.fn(name, mongodb_uri)
    assert len(data) == 10
    artifact = fit_model.fn(data)
    version = register_model.fn(name, mongodb_uri, artifact)
    assert register_model.fn(name, mongodb_uri, artifact) == version  # idempotent
    assert random_campaign.store.load_model(version).metrics["cv_mae"] > 0


def test_unknown_campaigns_fail_at_once(mongodb_uri: str) -> None:
    with pytest.raises(CampaignNotFoundError):
        campaign_summary.fn("nope", mongodb_uri)


def test_campaign_store_connects_once_and_follows_the_uri(
    random_campaign: CampaignAgent, mongodb_uri: str, mongodb_server: str
) -> None:
    campaign_store(mongodb_uri)
    assert tasks._connected == mongodb_uri
    connect(f"{mongodb_server}/elsewhere")  # someone else moved the process's connection
    assert campaign_store(mongodb_uri).get(random_campaign.name).name == random_campaign.name


def test_only_database_tasks_retry_and_only_on_connection_failures() -> None:
    io = [
        lookup_oracle,
        observe_results,
        propose_batch,  # its write is idempotent by the task run's id
        campaign_summary,
        load_training_data,
        register_model,
    ]
    for task in io:
        assert task.retries == tasks.DB_RETRIES and task.retry_condition_fn is transient_failure
    for task in (evaluate, fit_model):  # computation
        assert task.retries == 0
    some_task, run = campaign_summary, None
    assert transient_failure(some_task, run, Failed(data=ConnectionError("down")))
    assert transient_failure(some_task, run, Failed(data=pymongo.errors.AutoReconnect("x")))
    assert not transient_failure(some_task, run, Failed(data=ValueError("bad result")))
    assert not transient_failure(some_task, run, Failed(data=CampaignNotFoundError("x")))
