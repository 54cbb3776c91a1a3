"""Live metrics: computed after every stored result, kept in MongoDB, shown by the CLI."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agents import CampaignAgent, LookupOracle, run
from agents.api import create_app
from agents.campaign import CampaignMetrics
from agents.serialize import status_json
from db import CampaignStore
from db.tokens import create_token
from discovery.datasets import PoolDataset
from discovery.domain import (
    Campaign,
    CampaignSettings,
    Direction,
    Measurement,
    Objective,
    OutcomeConstraint,
)
from discovery.metrics import (
    enhancement_factor,
    hypervolume,
    pareto_top_mask,
    top_fraction_trace,
    top_mask,
)
from discovery.spaces import ContinuousParameter, SearchSpace
from matloop.cli import app

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_every_stored_batch_records_regret_ef_and_af(
    store: CampaignStore, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    run(agent, LookupOracle.from_candidates(store.candidates(agent.name)), 2)
    history = agent.metrics_history()
    assert [row["measurements"] for row in history] == [10, 14, 18]
    status = agent.status()
    last = history[-1]
    assert last == {"measurements": 18, **status.metrics.as_dict()}
    assert status.efficiency is not None and status.best is not None
    best = status.best.measurement.values["degradation"]
    assert last["best"] == best
    assert last["simple_regret"] == pytest.approx(best - status.efficiency.pool_best)  # minimised
    assert last["enhancement_factor"] == pytest.approx(status.efficiency.enhancement_factor)
    assert last["hypervolume"] is None  # one objective
    regrets = [row["simple_regret"] for row in history]
    assert regrets == sorted(regrets, reverse=True)


def test_a_repeated_report_writes_no_second_row(
    store: CampaignStore, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    trials = agent.propose()
    results = [Measurement(t.id, {"degradation": 0.1 + i}, f"k{i}") for i, t in enumerate(trials)]
    agent.observe(results)
    agent.observe(results)
    assert [row["measurements"] for row in agent.metrics_history()] == [10]


def test_two_objectives_record_the_hypervolume_reached(
    store: CampaignStore, tradeoff_dataset: PoolDataset
) -> None:
    dataset = tradeoff_dataset
    settings = CampaignSettings("random", initial=6, batch_size=5, seed=1)
    agent = CampaignAgent.from_dataset(store, "tradeoff", dataset, settings)
    run(agent, LookupOracle.from_candidates(store.candidates("tradeoff")), 2)
    history = agent.metrics_history()
    fractions = [row["hypervolume_fraction"] for row in history]
    assert fractions == sorted(fractions) and 0 < fractions[0] < fractions[-1] <= 1.0
    measured = np.array(
        [[o.measurement.values["a"], o.measurement.values["b"]] for o in agent.observations()]
    )
    # 10% of the pool's range below its worst values: its extremes add volume too
    reference = dataset.values.min(0) - 0.1 * np.ptp(dataset.values, 0)
    assert history[-1]["hypervolume"] == pytest.approx(hypervolume(measured, reference))
    # EF/AF of the top set, the pool's first Pareto layers holding 5% of it (not the
    # first objective's top 5%, which a campaign trading it off would seem to miss)
    top = pareto_top_mask(dataset.values)
    assert not np.array_equal(top, top_mask(dataset.values[:, 0], Direction.MAXIMIZE))
    order = [o.trial.candidate for o in agent.observations()]
    trace = top_fraction_trace(order, top)
    assert history[-1]["enhancement_factor"] == pytest.approx(enhancement_factor(trace, len(top)))


def test_campaign_show_prints_the_live_metrics(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch, photo_pce10_campaign: CampaignAgent
) -> None:
    store = photo_pce10_campaign.store
    run(photo_pce10_campaign, LookupOracle.from_candidates(store.candidates("photo-pce10")), 1)
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    shown = CliRunner().invoke(app, ["campaign", "show", "photo-pce10"])
    assert shown.exit_code == 0, shown.output
    assert "live metrics" in shown.output and "simple regret" in shown.output
    assert "14" in shown.output.split("live metrics")[1]


def test_a_long_history_is_read_as_the_latest_rows_or_a_page_at_a_time(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    run(agent, LookupOracle.from_candidates(agent.store.candidates(agent.name)), 4)
    history = agent.metrics_history()
    assert [row["measurements"] for row in history] == [10, 14, 18, 22, 26]
    status = agent.status()
    # the window of counts widens (26 - 5 holds two rows) until it holds the rows asked for
    assert agent.latest_metrics(5, status) == history
    assert agent.latest_metrics(3, status) == history[-3:]
    assert agent.latest_metrics(9, status) == history and agent.latest_metrics(0, status) == []

    secret, _ = create_token("reader", "researcher")
    reader = {"Authorization": f"Bearer {secret}"}
    base = f"/api/v1/campaigns/{agent.name}"
    with TestClient(create_app()) as api:
        shown = api.get(base, params={"history": 2}, headers=reader).json()
        assert shown["metrics_history"] == history[-2:]
        assert api.get(base, headers=reader).json()["metrics_history"] == history  # 100
        assert api.get(base, params={"history": 0}, headers=reader).json()["metrics_history"] == []
        too_many = api.get(base, params={"history": 1001}, headers=reader)
        assert too_many.status_code == 422 and "history" in too_many.text
        page = api.get(f"{base}/metrics", params={"limit": 2, "offset": 1}, headers=reader)
        assert page.json() == {
            "data": history[1:3],
            "meta": {"total": 5, "limit": 2, "offset": 1, "returned": 2},
        }
        latest = api.get(f"{base}/metrics", params={"latest_first": True}, headers=reader)
        assert latest.json()["data"] == history[::-1]
        table = api.get(f"{base}/metrics", params={"format": "csv"}, headers=reader)
        assert table.headers["x-total-count"] == "5"
        rows = list(csv.DictReader(io.StringIO(table.text)))
        assert list(rows[0]) == ["measurements", *CampaignMetrics(0).as_dict()]
        assert [int(row["measurements"]) for row in rows] == [10, 14, 18, 22, 26]
        assert api.get("/api/v1/campaigns/nope/metrics", headers=reader).status_code == 404

    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("COLUMNS", "1000")
    shown_cli = CliRunner().invoke(app, ["campaign", "show", agent.name, "--history", "2"])
    assert shown_cli.exit_code == 0, shown_cli.output
    table_text = shown_cli.output.split("live metrics")[1]
    assert "22" in table_text and "26" in table_text and "18" not in table_text
    assert "(the latest 2 metrics rows; --history N for more)" in shown_cli.output
    every = CliRunner().invoke(app, ["campaign", "show", agent.name, "--history", "5"])
    assert "for more" not in every.output
    as_json = CliRunner().invoke(app, ["campaign", "show", agent.name, "--json"])
    assert json.loads(as_json.output)["metrics_history"] == history


def test_on_an_open_space_the_hypervolume_reference_stays_put(
    store: CampaignStore, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("a", Direction.MAXIMIZE, "eV"), Objective("b", Direction.MAXIMIZE, "eV"))
    store.create(Campaign("open", space, goals, CampaignSettings("random", initial=2)), [])
    agent = CampaignAgent(store, "open")
    trials = agent.propose(3)
    for trial, (a, b) in zip(trials, [(1.0, 1.0), (1.05, 0.95), (1.06, 1.01)], strict=True):
        agent.observe([Measurement(trial.id or "", {"a": a, "b": b}, f"k-{trial.id}")])
    volumes = [row["hypervolume"] for row in agent.metrics_history()]
    assert volumes[0] is None  # no reference while the initial design is half measured
    # after the initial design each result added to the front: the volume cannot shrink
    # (a reference recomputed from the results so far made it fall from 0.0100 to 0.0005)
    assert volumes[1] <= volumes[2]
    reference = np.array([1.0, 0.95]) - 0.1 * np.array([0.05, 0.05])
    measured = np.array([[1.0, 1.0], [1.05, 0.95], [1.06, 1.01]])
    assert volumes[2] == pytest.approx(hypervolume(measured, reference))
    shown = status_json(agent.status())["hypervolume_reference"]  # to read a flat volume by
    assert shown == pytest.approx({"a": reference[0], "b": reference[1]})
    assert "hypervolume_reference" not in agent.metrics_history()[-1]  # not a stored metric
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("COLUMNS", "1000")
    said = CliRunner().invoke(app, ["campaign", "show", "open"]).output
    assert "hypervolume above (a 0.995, b 0.945): a Pareto point below it in any" in said


def test_rare_feasible_results_still_get_a_hypervolume_after_the_initial_design(
    store: CampaignStore,
) -> None:
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("a", Direction.MAXIMIZE), Objective("b", Direction.MAXIMIZE))
    gap = OutcomeConstraint("gap", lower=1.1, upper=1.7)
    campaign = Campaign("rare", space, goals, CampaignSettings("random", initial=3))
    store.create(replace(campaign, constraints=(gap,)), [])
    agent = CampaignAgent(store, "rare")
    results = [(1.0, 2.0, 0.5), (2.0, 1.0, 1.3), (0.5, 0.5, 3.0)]  # one feasible of three
    for trial, (a, b, g) in zip(agent.propose(3), results, strict=True):
        agent.observe([Measurement(trial.id or "", {"a": a, "b": b, "gap": g}, f"k-{trial.id}")])
    volume = agent.metrics_history()[-1]["hypervolume"]
    reference = np.array([0.5, 0.5]) - 0.1 * np.array([1.5, 1.5])  # from all three
    assert volume == pytest.approx(hypervolume(np.array([[2.0, 1.0]]), reference))
