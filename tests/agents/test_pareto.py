"""Several objectives: the measured feasible Pareto front in status, JSON, CLI and export."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agents import CampaignAgent
from agents.api import create_app
from agents.serialize import status_json
from db import CampaignStore
from db.tokens import create_token
from discovery.domain import (
    Campaign,
    CampaignSettings,
    Direction,
    Measurement,
    Objective,
    OutcomeConstraint,
)
from discovery.spaces import ContinuousParameter, SearchSpace
from matloop.cli import app

#: (a: max, b: min, gap in [1, 2]) per experiment, in the order measured. On the front:
#: 0, 1 and its tie 4. 2 is dominated by 0; 3 would dominate all but is infeasible. Read
#: with b maximised, 1 alone would be; with the constraint ignored, 3 alone.
RESULTS = [(1.0, 1.0, 1.5), (2.0, 3.0, 1.5), (0.5, 2.0, 1.5), (3.0, 0.5, 5.0), (1.0, 1.0, 1.5)]
FRONT = [0, 1, 4]


@pytest.fixture
def tradeoff(store: CampaignStore) -> list[str]:
    """A two-objective constrained campaign ``two``: its measured trial ids, then one more."""
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("a", Direction.MAXIMIZE, "eV"), Objective("b", Direction.MINIMIZE, "g"))
    gap = OutcomeConstraint("gap", lower=1.0, upper=2.0)
    campaign = Campaign("two", space, goals, CampaignSettings("random", initial=6))
    store.create(replace(campaign, constraints=(gap,)), [])
    agent = CampaignAgent(store, "two")
    trials = agent.propose(6)
    for trial, (a, b, g) in zip(trials, RESULTS, strict=False):
        values = {"a": a, "b": b, "gap": g}
        agent.observe([Measurement(trial.id or "", values, f"k-{trial.id}")])
    return [t.id or "" for t in trials]


@pytest.fixture
def cli(mongodb_uri: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("COLUMNS", "200")  # whole trial ids in the table
    return CliRunner()


def _ok(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_status_holds_the_feasible_front_each_objective_in_its_direction(
    store: CampaignStore, tradeoff: list[str]
) -> None:
    status = CampaignAgent(store, "two").status()
    assert [o.trial.id for o in status.pareto] == [tradeoff[i] for i in FRONT]
    shown = status_json(status)
    assert [p["trial"]["id"] for p in shown["pareto"]] == [tradeoff[i] for i in FRONT]
    assert shown["pareto"][1]["values"] == {"a": 2.0, "b": 3.0, "gap": 1.5}
    assert shown["pareto"][1]["trial"]["parameters"] == status.pareto[1].trial.parameters


def test_a_single_objective_campaign_has_no_front(store: CampaignStore) -> None:
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("a", Direction.MAXIMIZE),)
    store.create(Campaign("one", space, goals, CampaignSettings("random", initial=2)), [])
    agent = CampaignAgent(store, "one")
    [trial] = agent.propose(1)
    agent.observe([Measurement(trial.id or "", {"a": 1.0}, "k")])
    status = agent.status()
    assert status.pareto == () and status.best is not None
    assert "pareto" not in status_json(status)


def test_the_api_reports_the_front(store: CampaignStore, tradeoff: list[str]) -> None:
    secret, _ = create_token("reader-pareto", "researcher", None, None)
    with TestClient(create_app()) as api:
        response = api.get("/api/v1/campaigns/two", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text
    assert [p["trial"]["id"] for p in response.json()["pareto"]] == [tradeoff[i] for i in FRONT]


def test_show_prints_the_front_and_the_best_of_each_objective(
    cli: CliRunner, tradeoff: list[str]
) -> None:
    text = _ok(cli, "campaign", "show", "two")
    assert "best a = 2 eV at {'x': " in text and f"(trial {tradeoff[1]})" in text
    assert "best b = 1 g at {'x': " in text and f"(trial {tradeoff[0]})" in text
    table = text.split("Pareto front")[1]
    assert "a (eV)" in table and "b (g)" in table
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in table.splitlines()]
    rows = [row for row in rows if row and row[0] in tradeoff]  # trial, point, a, b
    assert [row[0] for row in rows] == [tradeoff[i] for i in FRONT]
    assert [row[2:] for row in rows] == [["1", "1"], ["2", "3"], ["1", "1"]]
    assert all(row[1].startswith("{'x': ") for row in rows)
    shown = json.loads(_ok(cli, "campaign", "show", "two", "--json"))
    assert [p["trial"]["id"] for p in shown["pareto"]] == [tradeoff[i] for i in FRONT]


def test_export_flags_the_rows_on_the_front(cli: CliRunner, tradeoff: list[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(_ok(cli, "campaign", "export", "two"))))
    assert list(rows[0])[8:14] == ["x", "a", "b", "gap", "feasible", "pareto"]
    flags = {r["trial_id"]: r["pareto"] for r in rows}
    assert [flags[t] for t in tradeoff] == ["True", "True", "False", "False", "True", ""]
    exported = json.loads(_ok(cli, "campaign", "export", "two", "--format", "json"))
    assert [r["pareto"] for r in exported] == [True, True, False, False, True, None]


def test_export_of_a_campaign_without_trials_has_the_pareto_column(cli: CliRunner) -> None:
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("a", Direction.MAXIMIZE), Objective("b", Direction.MAXIMIZE))
    CampaignStore().create(Campaign("empty", space, goals, CampaignSettings("random")), [])
    header = _ok(cli, "campaign", "export", "empty").splitlines()
    assert header == [
        "trial_id,batch,status,strategy,candidate,label,model_version,acquisition_value,x,a,b,"
        "pareto,claimed_by,reason,units,reported,source,idempotency_key,created_at,received_at,"
        "recorded_by,corrections,parts,handoffs"
    ]


def test_an_outcome_named_like_a_flag_keeps_its_values(
    cli: CliRunner, store: CampaignStore
) -> None:
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("pareto", Direction.MAXIMIZE), Objective("b", Direction.MAXIMIZE))
    store.create(Campaign("named", space, goals, CampaignSettings("random", initial=2)), [])
    agent = CampaignAgent(store, "named")
    for trial, value in zip(agent.propose(2), (0.25, 0.75), strict=True):
        values = {"pareto": value, "b": 1.0}
        agent.observe([Measurement(trial.id or "", values, f"k-{trial.id}")])
    rows = json.loads(_ok(cli, "campaign", "export", "named", "--format", "json"))
    assert [(r["measured.pareto"], r["pareto"]) for r in rows] == [(0.25, False), (0.75, True)]


def test_show_prints_the_latest_rows_of_a_long_front(
    cli: CliRunner, tradeoff: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("matloop.cli.PARETO_ROWS", 2)
    table = _ok(cli, "campaign", "show", "two").split("Pareto front")[1]
    assert "(latest 2 of 3; all in --json and export)" in table
    assert [t in table for t in tradeoff[:2]] == [False, True] and tradeoff[4] in table
