"""Campaigns over generated compositions: every proposal obeys the composition rules."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import agents.dashboard as dashboard
from agents import CampaignAgent, LookupOracle
from agents.api import create_app
from db.campaigns import CampaignStore
from db.materials import add_material, known_formulas
from db.tokens import create_token
from discovery.compositions import CompositionSpace, enumerate_compositions, reduced_formula
from discovery.datasets import load_csv
from discovery.domain import (
    CampaignSettings,
    Direction,
    Measurement,
    Objective,
    OutcomeConstraint,
)
from discovery.spaces import ContinuousParameter, SearchSpace
from matloop.cli import app

ELEMENTS = ("Li", "Mg", "Fe", "Cu", "O", "S")
_names = itertools.count()


@st.composite
def composition_spaces(draw: st.DrawFn) -> CompositionSpace:
    elements = draw(st.lists(st.sampled_from(ELEMENTS), min_size=2, max_size=4, unique=True))
    return CompositionSpace(
        tuple(elements),
        max_elements=draw(st.integers(1, min(3, len(elements)))),
        grid=draw(st.integers(2, 6)),
        charge_balanced=draw(st.booleans()),
        min_elements=draw(st.sampled_from([None, 1])),
    )


def _measure(agent: CampaignAgent, rng: np.random.Generator) -> None:
    trials = agent.propose()
    agent.observe(
        [
            Measurement(t.id, {"gap": float(rng.normal())}, idempotency_key=f"k-{t.id}")
            for t in trials
        ]
    )


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(space=composition_spaces(), seed=st.integers(0, 100))
def test_every_proposal_obeys_the_composition_space(
    store: CampaignStore, space: CompositionSpace, seed: int
) -> None:
    pool = enumerate_compositions(space)
    assume(pool)  # charge-balanced compounds of cations only: there are none
    name = f"comp-{next(_names)}"
    agent = CampaignAgent.from_candidates(
        store,
        name,
        space.search_space(),
        (Objective("gap", Direction.MAXIMIZE),),
        pool,
        CampaignSettings("gp", initial=3, batch_size=2, seed=seed),
    )
    rng = np.random.default_rng(seed)
    for _ in range(3):  # the random design, then GP rounds while the pool lasts
        if agent.status().trials.get("proposed", 0) or len(store.trials(name)) >= len(pool):
            break
        _measure(agent, rng)
    trials = store.trials(name)
    assert trials and len({t.candidate for t in trials}) == len(trials)
    for t in trials:
        assert space.violations(t.parameters) == [], (t.parameters, space)


def test_generated_campaign_from_the_command_line(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    CampaignStore()  # connects
    add_material("Fe2O3")  # known: left out of the pool
    cli = CliRunner()
    args = ["campaign", "create", "ferrites", "--elements", "Li,Fe,O", "--max-elements", "3"]
    args += ["--charge-balanced", "--objective", "gap:max:eV"]
    created = cli.invoke(app, [*args, "--grid", "20", "--constraint", "ehull::0.05:eV/atom"])
    assert created.exit_code == 0, created.output
    campaign = CampaignStore().get("ferrites")
    assert campaign.objectives[0].unit == "eV"
    assert campaign.constraints == (OutcomeConstraint("ehull", None, 0.05, "eV/atom"),)
    proposed = cli.invoke(app, ["campaign", "propose", "ferrites", "-n", "6", "--json"])
    assert proposed.exit_code == 0, proposed.output
    trials = json.loads(proposed.output)
    space = CompositionSpace(("Li", "Fe", "O"), max_elements=3, grid=20, charge_balanced=True)
    assert len(trials) == 6
    for trial in trials:
        assert space.violations({el: trial[el] for el in space.elements}) == []
        # what to make, beside the molar fractions
        assert trial["formula"] == reduced_formula({el: trial[el] for el in space.elements})
    exported = cli.invoke(app, ["campaign", "export", "ferrites", "--format", "json"])
    assert [t["formula"] for t in json.loads(exported.output)] == [t["formula"] for t in trials]
    pool = CampaignStore().candidates("ferrites")
    formulas = {reduced_formula(c.parameters) for c in pool}
    assert "Fe2O3" not in formulas and "LiFeO2" in formulas
    assert not formulas & {"Li", "Fe", "O2"}  # ionic compositions: no pure elements
    # substitutions of a known material make the pool instead of the grid
    args[2] = "cobalt-swaps"
    created = cli.invoke(app, [*args, "--substitute-from", "LiCoO2"])
    assert created.exit_code == 0, created.output
    on_grid = cli.invoke(app, [*args, "--substitute-from", "LiCoO2", "--grid", "20"])
    assert on_grid.exit_code == 1 and "--grid cannot go with --substitute-from" in on_grid.output
    swaps = {reduced_formula(c.parameters) for c in CampaignStore().candidates("cobalt-swaps")}
    assert "LiFeO2" in swaps and len(swaps) < len(formulas) and "Fe2O3" not in swaps
    refused = cli.invoke(
        app, ["campaign", "create", "x", "--elements", "Fe,Xx", "--objective", "g:max"]
    )
    assert refused.exit_code != 0 and "'Xx' is not an element symbol" in refused.output
    empty = cli.invoke(
        app, ["campaign", "create", "x", "--elements", "Li,,O", "--objective", "g:max"]
    )
    assert empty.exit_code != 0 and "'' is not an element symbol" in empty.output  # as the API


def test_compositions_measured_in_an_earlier_campaign_are_known(
    store: CampaignStore, tmp_path: Path
) -> None:
    space = CompositionSpace(("Li", "Fe", "O"), 3, 10, charge_balanced=True, min_elements=3)
    pool = enumerate_compositions(space)
    settings = CampaignSettings("random", initial=4, batch_size=2, seed=0)
    goals = (Objective("gap", Direction.MAXIMIZE),)
    first = CampaignAgent.from_candidates(
        store, "first", space.search_space(), goals, pool, settings
    )
    trials = first.propose()
    first.observe([Measurement(t.id or "", {"gap": 1.0}, f"lab:{t.id}") for t in trials[:2]])
    measured = {reduced_formula(t.parameters) for t in trials[:2]}
    handed_out = {reduced_formula(t.parameters) for t in trials[2:]}  # not measured yet
    # a process campaign whose parameters happen to be element symbols is no chemistry
    table = tmp_path / "process.csv"
    table.write_text("T,S,y\n300,water,1.0\n350,ethanol,2.0\n400,water,1.5\n")
    process = CampaignAgent.from_dataset(
        store, "process", load_csv(table, [("y", Direction.MAXIMIZE)]), settings
    )
    process.observe(
        LookupOracle.from_candidates(store.candidates("process")).evaluate(process.propose())
    )
    known = known_formulas(["Li", "Fe", "O", "S"])
    assert measured <= known and not handed_out & known
    assert not known_formulas(["Li", "O"]) & measured  # outside that chemical system
    again = enumerate_compositions(space, known)
    assert len(again) == len(pool) - 2


def test_a_measured_doping_is_known_as_itself_not_as_its_host(store: CampaignStore) -> None:
    # Ga at 1e-4 once made the formula ZnO: ZnO passed for measured, and was never proposed
    space = CompositionSpace(("Zn", "Ga", "O"), max_elements=3, grid=2)
    doped = {"Zn": 0.4999, "Ga": 0.0001, "O": 0.5}
    settings = CampaignSettings("random", initial=1, batch_size=1, seed=0)
    agent = CampaignAgent.from_candidates(
        store, "doped", space.search_space(), (Objective("gap", Direction.MAXIMIZE),), [doped],
        settings,
    )  # fmt: skip
    [trial] = agent.propose()
    agent.observe([Measurement(trial.id or "", {"gap": 3.3}, "lab:doped")])
    known = known_formulas(["Zn", "Ga", "O"])
    assert "Zn0.9998Ga0.0002O" in known and "ZnO" not in known
    assert {"Zn": 0.5, "Ga": 0.0, "O": 0.5} in enumerate_compositions(space, known)


def test_a_pool_campaign_without_candidates_is_refused(store: CampaignStore) -> None:
    space = CompositionSpace(("Li", "Mg"), charge_balanced=True)  # cations only: no compound
    assert enumerate_compositions(space) == []
    with pytest.raises(ValueError, match="candidates: none given"):
        CampaignAgent.from_candidates(
            store, "empty", space.search_space(), (Objective("gap", Direction.MAXIMIZE),), []
        )
    assert store.campaigns() == []  # not an open-space campaign by accident


def test_instruments_are_told_the_formula_to_make(store: CampaignStore) -> None:
    space = CompositionSpace(("Li", "Fe", "O"), 3, 10, charge_balanced=True, min_elements=3)
    settings = CampaignSettings("random", initial=4, batch_size=2, seed=0)
    goals = (Objective("gap", Direction.MAXIMIZE),)
    CampaignAgent.from_candidates(
        store, "lfo", space.search_space(), goals, enumerate_compositions(space), settings
    )
    robot = {"Authorization": f"Bearer {create_token('robot', 'instrument', ['lfo'])[0]}"}
    with TestClient(create_app()) as api:
        url = "/api/v1/campaigns/lfo"
        claimed = api.post(f"{url}/claims", json={"instrument": "r", "count": 2}, headers=robot)
        [first, second] = claimed.json()["trials"]
        assert first["formula"] == reduced_formula(first["parameters"])
        assert list(first).index("formula") == list(first).index("parameters") + 1
        page = api.get(f"{url}/trials", params={"format": "csv"}, headers=robot)
        rows = list(csv.DictReader(io.StringIO(page.text)))
        assert [r["formula"] for r in rows[:2]] == [first["formula"], second["formula"]]
        beat = api.post(
            f"{url}/trials/{first['id']}/heartbeat", json={"instrument": "r"}, headers=robot
        )
        assert beat.json()["formula"] == first["formula"]


def test_the_dashboard_shows_a_compositions_formula(store: CampaignStore) -> None:
    space = CompositionSpace(("Li", "Fe", "O"), 3, 10, charge_balanced=True, min_elements=3)
    goals = (Objective("gap", Direction.MAXIMIZE),)
    agent = CampaignAgent.from_candidates(
        store, "lfo-view", space.search_space(), goals, enumerate_compositions(space)
    )
    [trial] = agent.propose(1)
    formula = reduced_formula(trial.parameters)
    assert dashboard.point_text(agent.campaign.space, trial.parameters) == f"<b>{formula}</b>"
    table = dashboard.trials_table([trial], {}, agent.campaign)
    assert f'<td class="params">{formula}</td>' in table and "Li=" not in table
    plain = SearchSpace((ContinuousParameter("x", 0, 1),))
    assert dashboard.point_text(plain, {"x": 0.5}) == "x = 0.5"  # no chemistry: as it was
