"""Outcome constraints through the agent, the database and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from agents import CampaignAgent, LookupOracle, run
from db import CampaignStore
from discovery.datasets import load_csv
from discovery.domain import CampaignSettings, Direction, Measurement, OutcomeConstraint
from matloop.cli import app

pytestmark = pytest.mark.usefixtures("single_torch_thread")

GAP = OutcomeConstraint("gap", 1.1, 1.7, "eV")


@pytest.fixture
def absorbers_csv(tmp_path: Path) -> Path:
    """64 made-up absorbers: efficiency grows with x, the band gap (eV) with z."""
    axis = np.linspace(0.0, 1.0, 8)
    x, z = (a.ravel() for a in np.meshgrid(axis, axis))
    table = pd.DataFrame({"x": x, "z": z, "efficiency": x + 0.2 * z, "gap": 0.5 + 1.5 * z})
    path = tmp_path / "absorbers.csv"
    table.to_csv(path, index=False)
    return path


def absorber_campaign(store: CampaignStore, path: Path) -> CampaignAgent:
    """A pool campaign maximising efficiency with the band gap in [1.1, 1.7] eV."""
    columns = [("efficiency", Direction.MAXIMIZE), ("gap", Direction.MAXIMIZE)]
    return CampaignAgent.from_dataset(store, "pv", load_csv(path, columns), constraints=[GAP])


def test_constraints_are_stored_required_and_respected_by_best(
    store: CampaignStore, absorbers_csv: Path
) -> None:
    agent = absorber_campaign(store, absorbers_csv)
    assert CampaignStore().get("pv").constraints == (GAP,)
    assert [o.name for o in agent.campaign.objectives] == ["efficiency"]
    trials = agent.propose(3)
    with pytest.raises(ValueError, match=r"results\[0\].*missing outcome value\(s\) \['gap'\]"):
        agent.observe([Measurement(trials[0].id, {"efficiency": 1.0}, "k0")])
    agent.observe(
        [
            Measurement(trials[0].id, {"efficiency": 9.0, "gap": 2.5}, "k0"),  # infeasible
            Measurement(trials[1].id, {"efficiency": 0.3, "gap": 1.4}, "k1"),
            Measurement(trials[2].id, {"efficiency": 0.2, "gap": 1.2}, "k2"),
        ]
    )
    status = agent.status()
    assert status.feasible == 2 and status.measurements == 3
    assert status.best is not None and status.best.trial.id == trials[1].id
    assert status.metrics.best == 0.3  # the trace: one entry per experiment
    np.testing.assert_array_equal(status.best_so_far, [np.nan, 0.3, 0.3])


def test_with_a_constraint_the_gp_finds_the_best_feasible_absorber(
    store: CampaignStore, absorbers_csv: Path
) -> None:
    agent = absorber_campaign(store, absorbers_csv)
    oracle = LookupOracle.from_candidates(store.candidates("pv"))
    run(agent, oracle, 4)
    status = agent.status()
    assert status.best is not None
    best = status.best.measurement.values
    feasible = [c.reference for c in store.candidates("pv") if GAP.satisfied(c.reference["gap"])]
    assert best["efficiency"] == max(r["efficiency"] for r in feasible)
    assert status.metrics.simple_regret == 0.0
    # the model-guided rounds propose feasible absorbers
    guided = [o for o in agent.observations() if o.trial.strategy == "gp"]
    feasible_share = np.mean([GAP.satisfied(o.measurement.values["gap"]) for o in guided])
    assert feasible_share >= 0.5


def test_the_command_line_creates_a_constrained_campaign(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch, absorbers_csv: Path
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    cli = CliRunner()
    create = ["campaign", "create", "pv", "--from-csv", str(absorbers_csv)]
    create += ["--objective", "efficiency:max", "--param", "x", "--param", "z"]
    bad = cli.invoke(app, [*create, "--constraint", "gap:1.7:1.1"])
    assert bad.exit_code != 0 and "--constraint" in bad.output and "exceeds" in bad.output
    made = cli.invoke(app, [*create, "--constraint", "gap:1.1:1.7", "--initial", "5"])
    assert made.exit_code == 0, made.output
    assert cli.invoke(app, ["campaign", "run", "pv", "--rounds", "1"]).exit_code == 0
    shown = cli.invoke(app, ["campaign", "show", "pv", "--json"])
    data = json.loads(shown.output)
    assert data["constraints"] == [{"name": "gap", "lower": 1.1, "upper": 1.7, "unit": None}]
    assert GAP.satisfied(data["best"]["values"]["gap"])


def test_a_strict_constraint_makes_its_few_feasible_members_the_top_set(
    store: CampaignStore, tmp_path: Path
) -> None:
    # 40 absorbers, one of them (x = 7) with its gap in range: the top 5% (2 members) is it
    table = pd.DataFrame(
        {"x": np.arange(40.0), "efficiency": np.arange(40.0), "gap": np.full(40, 3.0)}
    )
    table.loc[7, "gap"] = 1.4
    path = tmp_path / "strict.csv"
    table.to_csv(path, index=False)
    columns = [("efficiency", Direction.MAXIMIZE), ("gap", Direction.MAXIMIZE)]
    agent = CampaignAgent.from_dataset(store, "strict", load_csv(path, columns), constraints=[GAP])
    oracle = LookupOracle.from_candidates(store.candidates("strict"))
    trials = agent.propose(5)
    infeasible = [t for t in trials if t.candidate != 7]
    agent.observe(oracle.evaluate(infeasible))
    status = agent.status()  # nothing feasible yet: EF is 0, not undefined
    assert status.metrics.best is None and status.metrics.enhancement_factor == 0.0
    assert status.efficiency is not None and status.efficiency.pool_best == 7.0  # feasible
    agent.observe(oracle.evaluate([t for t in trials if t.candidate == 7]))
    found = 7 in [t.candidate for t in trials]
    status = agent.status()
    assert status.efficiency is not None
    assert status.efficiency.top_fraction[-1] == (1.0 if found else 0.0)
    assert status.metrics.enhancement_factor == (40 / len(trials) if found else 0.0)


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (
            "gp+top+iwarp+warp+endgame",
            r"1 objective\(s\) and 1 outcome constraint\(s\) are beyond the top acquisition, "
            r"which hunts the top of one unconstrained objective: use gp or gp\+warp",
        ),
        ("gp+qucb", "served by qLogNEHVI or feasibility-weighted qLogNEI, not by qucb"),
        ("gp+iwarp", "need a strategy without \\+iwarp"),
        ("ensemble", "need the gp surrogate, not ensemble"),
        ("portfolio", "chooses for one objective without outcome constraints"),
    ],
)
def test_a_strategy_that_cannot_serve_constraints_is_refused_at_creation(
    store: CampaignStore, absorbers_csv: Path, strategy: str, message: str
) -> None:
    columns = [("efficiency", Direction.MAXIMIZE), ("gap", Direction.MAXIMIZE)]
    settings = CampaignSettings(strategy, initial=4)
    # refused before the initial design is spent, not at the first model-guided batch
    with pytest.raises(ValueError, match=message):
        CampaignAgent.from_dataset(store, "pv", load_csv(absorbers_csv, columns), settings, [GAP])
    assert store.campaigns() == []


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        (
            [OutcomeConstraint("gap", 5.0, 6.0, "eV")],
            r"constraint 'gap': no pool row has gap in \[5, 6\] eV \(the pool's gap spans 0.5 "
            r"to 2\), so no result could be feasible",
        ),
        (
            [OutcomeConstraint("gap", upper=1.0), OutcomeConstraint("efficiency", lower=1.1)],
            r"constraints: no pool row meets them all together \(gap <= 1; efficiency >= 1.1\)",
        ),
    ],
    ids=["one", "together"],
)
def test_constraints_no_pool_row_meets_are_refused_at_creation(
    store: CampaignStore,
    absorbers_csv: Path,
    constraints: list[OutcomeConstraint],
    message: str,
) -> None:
    # the pool's measured values are known: a campaign that could find nothing is refused
    columns = [("efficiency", Direction.MAXIMIZE), ("gap", Direction.MAXIMIZE)]
    with pytest.raises(ValueError, match=message):
        CampaignAgent.from_dataset(
            store, "pv", load_csv(absorbers_csv, columns), CampaignSettings("gp"), constraints
        )
    assert store.campaigns() == []
