from __future__ import annotations

import io
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from pymongo.errors import AutoReconnect
from typer.testing import CliRunner

from agents import CampaignAgent, LookupOracle
from db import CampaignStore
from db.documents import MeasurementDocument, TrialDocument
from discovery.datasets import PoolDataset
from discovery.domain import (
    MAX_SEED,
    Campaign,
    CampaignSettings,
    Candidate,
    Direction,
    Measurement,
    Objective,
    TrialStatus,
)
from discovery.planners import Plan, PlanningProblem, RandomPlanner, Suggestion, make_planner
from discovery.spaces import ContinuousParameter, SearchSpace
from matloop.cli import app
from tests.discovery.test_surrogate_plugins import (
    PLUG_GP_ORIGIN,
    install_plugin,
    restored_surrogate_registry,
)


def _results(agent: CampaignAgent, trials: list) -> list[Measurement]:
    return LookupOracle.from_candidates(agent.store.candidates(agent.name)).evaluate(trials)


def test_initial_design_is_random_then_the_gp_proposes_with_a_model_version(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    initial = agent.propose()
    assert len(initial) == 10
    assert {t.strategy for t in initial} == {"random"}
    assert {t.batch for t in initial} == {"b0000"}
    assert all(t.model_version is None for t in initial)
    agent.observe(_results(agent, initial))

    batch = agent.propose()
    assert len(batch) == 4
    assert {t.strategy for t in batch} == {"gp"}
    assert {t.batch for t in batch} == {"b0001"}
    versions = {t.model_version for t in batch}
    assert len(versions) == 1 and None not in versions
    assert all(
        t.acquisition_value is not None and math.isfinite(t.acquisition_value) for t in batch
    )
    model = agent.store.load_model(versions.pop() or "")
    assert model.kind == "gp" and model.metrics["n_train"] == 10 and model.weights


def test_pending_candidates_are_never_proposed_twice(photo_pce10_campaign: CampaignAgent) -> None:
    agent = photo_pce10_campaign
    agent.observe(_results(agent, agent.propose()))
    first = agent.propose(4)
    second = agent.propose(4)  # the first batch is still pending
    third = agent.propose(4)
    candidates = [t.candidate for t in first + second + third]
    measured = {o.trial.candidate for o in agent.observations()}
    assert len(set(candidates)) == 12
    assert not set(candidates) & measured


def test_same_result_twice_is_stored_once(photo_pce10_campaign: CampaignAgent) -> None:
    agent = photo_pce10_campaign
    trials = agent.propose()
    results = _results(agent, trials)
    assert agent.observe(results).stored == 10
    again = agent.observe(results)
    assert (again.stored, again.duplicates) == (0, 10)
    assert MeasurementDocument.objects.count() == 10
    assert agent.status().measurements == 10


def test_results_stand_when_their_metrics_cannot_be_written(
    photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lost after the commit must not tell the lab that nothing was stored."""
    agent = photo_pce10_campaign
    trials = agent.propose()

    def lost(*args: object) -> None:
        raise AutoReconnect("connection closed")

    with monkeypatch.context() as patch:
        patch.setattr(agent.store, "save_metrics", lost)
        assert agent.observe(_results(agent, trials[:4])).stored == 4
    assert {t.status for t in agent.store.trials(agent.name)} >= {TrialStatus.COMPLETED}
    assert agent.metrics_history() == []
    agent.observe(_results(agent, trials[4:]))
    assert [row["measurements"] for row in agent.metrics_history()] == [10]


def test_resumes_from_the_database_alone(
    photo_pce10_campaign: CampaignAgent, store: CampaignStore
) -> None:
    agent = photo_pce10_campaign
    agent.observe(_results(agent, agent.propose()))
    pending = agent.propose()
    fresh = CampaignAgent(CampaignStore(), agent.name)  # as after a restart
    assert [t.id for t in fresh.pending()] == [t.id for t in pending]
    assert fresh.best() == agent.best()
    fresh.observe(_results(fresh, pending))
    assert fresh.status().measurements == 14
    assert fresh.status().trials["completed"] == 14


def test_best_follows_the_objective_direction(photo_pce10_campaign: CampaignAgent) -> None:
    agent = photo_pce10_campaign
    agent.observe(_results(agent, agent.propose()))
    values = [o.measurement.values["degradation"] for o in agent.observations()]
    best = agent.best()
    assert best is not None
    assert best.measurement.values["degradation"] == min(values)  # minimise
    assert agent.status().best_so_far[-1] == min(values)


def _bad(trial_id: str, **values: float) -> Measurement:
    return Measurement(trial_id, dict(values), f"k-{trial_id}-{sorted(values.items())}")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: _bad("000000000000000000000000", degradation=0.1), "not a trial"),
        (lambda t: _bad("not-an-id", degradation=0.1), "not a trial"),
        (lambda t: _bad(t, degradation=math.nan), "not finite"),
        (lambda t: _bad(t, degradation=math.inf), "not finite"),
        (lambda t: _bad(t, degradation=-math.inf), "not finite"),
        (lambda t: _bad(t), r"missing objective value\(s\) \['degradation'\]"),
        (lambda t: _bad(t, degradation=0.1, colour=3.0), "unknown objective"),
        (lambda t: Measurement(t, {"degradation": 0.1}, ""), "idempotency_key"),
        (lambda t: _bad(t, degradation=-2e200), r"values\.degradation = -2e\+200 is beyond"),
    ],
)
def test_bad_results_fail_clearly_and_write_nothing(
    photo_pce10_campaign: CampaignAgent, make, message: str
) -> None:
    agent = photo_pce10_campaign
    trials = agent.propose()
    good = _results(agent, trials[:1])
    bad = make(trials[1].id)
    with pytest.raises(ValueError, match=message):
        agent.observe([*good, bad])  # the valid first result must not be stored either
    assert MeasurementDocument.objects.count() == 0
    assert TrialDocument.objects(status=TrialStatus.COMPLETED.value).count() == 0


def test_a_batch_names_all_its_bad_results_at_once(
    photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = photo_pce10_campaign
    trials = agent.propose()
    batch = [
        *_results(agent, trials[:1]),
        _bad(trials[1].id, degradation=math.nan),
        _bad("not-an-id", degradation=0.1),
        _bad(trials[2].id),
        Measurement(trials[3].id, {"degradation": 0.1}, "k-3", units={"colour": "nm"}),
    ]
    with pytest.raises(ValueError) as refused:
        agent.observe(batch)
    lines = str(refused.value).splitlines()
    assert lines[0] == "4 of 5 results are refused, and none is stored:"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "results[1]",
        "results[2].trial_id",
        "results[3]",
        "results[4]",  # its units, read before the others: still in its place
    ]
    assert "not finite" in lines[1] and "missing objective" in lines[3]
    assert "'colour' is not an outcome" in lines[4]
    with pytest.raises(ValueError) as refused:
        agent.observe([*batch[:1], batch[4]])
    said = str(refused.value)  # one problem is said alone, as before
    assert said.startswith("results[1]: ") and "\n" not in said
    monkeypatch.setattr("agents.campaign.LISTED_PROBLEMS", 2)
    with pytest.raises(ValueError, match=r"results\[2\]\.trial_id: .*\n\.\.\. and 1 more$"):
        agent.observe(batch[:4])
    assert MeasurementDocument.objects.count() == 0


def test_key_reused_for_a_different_result_is_refused(photo_pce10_campaign: CampaignAgent) -> None:
    agent = photo_pce10_campaign
    trials = agent.propose()
    agent.observe([Measurement(trials[0].id or "", {"degradation": 0.1}, "run-1")])
    with pytest.raises(ValueError, match="already used for a different result"):
        agent.observe([Measurement(trials[0].id or "", {"degradation": 0.2}, "run-1")])
    with pytest.raises(ValueError, match="already used for a different result"):
        agent.observe([Measurement(trials[1].id or "", {"degradation": 0.1}, "run-1")])
    in_percent = Measurement(
        trials[0].id or "", {"degradation": 0.1}, "run-1", units={"degradation": "%"}
    )
    with pytest.raises(ValueError, match="already used for a different result"):
        agent.observe([in_percent])  # the same number, in a unit the first report did not give
    with pytest.raises(ValueError, match="is completed"):
        agent.observe([Measurement(trials[0].id or "", {"degradation": 0.3}, "run-2")])
    assert MeasurementDocument.objects.count() == 1


def test_a_result_stored_with_a_since_refused_unit_is_still_a_repeat(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    first, second = agent.propose()[:2]
    labelled = Measurement(first.id or "", {"degradation": 0.1}, "k1", units={"degradation": "%"})
    agent.store.record(agent.name, [labelled])  # stored before such units were refused
    again = agent.observe([labelled])  # the instrument's retry
    assert (again.stored, again.duplicates) == (0, 1)
    fresh = Measurement(second.id or "", {"degradation": 0.2}, "k2", units={"degradation": "%"})
    with pytest.raises(ValueError, match=r"results\[1\]: .*declares no unit for 'degradation'"):
        agent.observe([labelled, fresh])
    assert MeasurementDocument.objects.count() == 1


def _in_percent(store: CampaignStore, dataset: PoolDataset) -> CampaignAgent:
    """A random campaign whose objective, degradation, is declared in %."""
    objective = replace(dataset.objectives[0], unit="%")
    dataset = replace(dataset, objectives=(objective,))
    settings = CampaignSettings("random", initial=4, batch_size=2, seed=0)
    return CampaignAgent.from_dataset(store, "in-percent", dataset, settings)


def test_results_in_another_unit_are_stored_in_the_objective_unit(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    agent = _in_percent(store, photo_pce10_dataset)
    first, second, *_ = agent.propose()
    in_ppm = Measurement(first.id or "", {"degradation": 1000.0}, "a", units={"degradation": "ppm"})
    in_grams = Measurement(second.id or "", {"degradation": 1.0}, "b", units={"degradation": "g"})
    with pytest.raises(
        ValueError, match=r"results\[1\]: .*units\.degradation: 'g' cannot be converted to '%'"
    ):
        agent.observe([in_ppm, in_grams])
    assert MeasurementDocument.objects.count() == 0  # nothing of the batch
    agent.observe([in_ppm])
    agent.observe([in_ppm])  # the same report again: one result, converted the same way
    [stored] = MeasurementDocument.objects
    assert stored.values == {"degradation": pytest.approx(0.1)}
    assert stored.units == {"degradation": "%"}
    best = agent.status().best
    assert best is not None and best.measurement.values == {"degradation": pytest.approx(0.1)}


def test_a_retry_in_another_unit_is_a_repeat_and_keeps_the_first_report(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    agent = _in_percent(store, photo_pce10_dataset)
    first, second, *_ = agent.propose()
    in_ppm = Measurement(first.id or "", {"degradation": 1234.5}, "a", units={"degradation": "ppm"})
    assert (agent.observe([in_ppm]).stored, agent.observe([in_ppm]).duplicates) == (1, 1)
    # the same result in the declared unit is the same report, not a reuse of the key
    assert agent.observe([replace(in_ppm, values={"degradation": 0.12345}, units={})]).duplicates
    other = replace(in_ppm, values={"degradation": 1234.6})
    with pytest.raises(ValueError, match="already used for a different result"):
        agent.observe([other])
    [stored] = agent.store.measurements(agent.name)
    assert stored.values == {"degradation": 0.12345} and stored.units == {"degradation": "%"}
    assert stored.reported == {"degradation": {"value": 1234.5, "unit": "ppm"}}
    # a batch repeating one report and adding another in the declared unit
    fresh = Measurement(second.id or "", {"degradation": 0.2}, "b")
    assert (agent.observe([in_ppm, fresh]).stored, agent.observe([fresh]).duplicates) == (1, 1)
    by_key = {m.idempotency_key: m for m in agent.store.measurements(agent.name)}
    assert by_key["b"].reported == {} and by_key["a"].reported == stored.reported


def test_a_result_converted_before_values_were_rounded_is_repeated_as_the_same(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    agent = _in_percent(store, photo_pce10_dataset)
    first, *_ = agent.propose()
    in_ppm = Measurement(first.id or "", {"degradation": 1234.5}, "a", units={"degradation": "ppm"})
    agent.observe([in_ppm])
    # as stored before: pint's float noise, and nothing of what was reported
    MeasurementDocument._get_collection().update_many(
        {}, {"$set": {"values.degradation": 0.12345000000000002}, "$unset": {"reported": ""}}
    )
    assert agent.observe([in_ppm]).duplicates == 1
    [old] = agent.store.measurements(agent.name)
    assert old.values == {"degradation": 0.12345000000000002} and old.reported == {}


def test_a_result_stored_without_its_unit_label_is_repeated_as_the_same(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    agent = _in_percent(store, photo_pce10_dataset)
    first, *_ = agent.propose()
    result = Measurement(first.id or "", {"degradation": 0.1}, "k")
    agent.observe([result])
    MeasurementDocument.objects.update(units={})  # as results were stored before labels
    assert agent.observe([result]).duplicates == 1


def test_the_largest_seed_drives_model_rounds(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    # round seeds grow as seed * 1_000_003 + round: they must still seed torch
    settings = CampaignSettings("gp", initial=4, batch_size=2, seed=MAX_SEED)
    agent = CampaignAgent.from_dataset(store, "big-seed", photo_pce10_dataset, settings)
    agent.observe(_results(agent, agent.propose()))
    [first, second] = agent.propose()
    assert first.model_version is not None and second.model_version is not None


def test_failed_trial_refuses_results_and_frees_its_candidate(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    trials = agent.propose()
    failed = agent.fail(trials[0].id or "")
    assert failed.status is TrialStatus.FAILED
    with pytest.raises(ValueError, match="is failed"):
        agent.observe(_results(agent, trials[:1]))
    assert len(agent.pending()) == 9


class _BudgetSpy(RandomPlanner):
    """Random choices, remembering the budget each problem carried."""

    def __init__(self) -> None:
        self.budgets: list[int | None] = []

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        self.budgets.append(problem.budget)
        return super().plan(problem, q, seed)


class _FirstAvailable(RandomPlanner):
    """The first available pool member each time: a failed one would come straight back."""

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        first = problem.available_indices()[:q]
        points = problem.space.decode(problem.pool[first]) if problem.pool is not None else []
        return Plan([Suggestion(p, int(i)) for p, i in zip(points, first, strict=True)])


def test_a_candidate_that_failed_twice_is_not_proposed_again(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = CampaignAgent(photo_pce10_campaign.store, photo_pce10_campaign.name, _FirstAvailable())
    agent.observe(_results(agent, agent.propose()))
    candidates = []
    for _ in range(3):
        [trial] = agent.propose(1)
        candidates.append(trial.candidate)
        agent.fail(trial.id or "", reason="the precursor would not dissolve")
    assert candidates[0] == candidates[1] != candidates[2]  # a second chance, not a third
    assert agent.store.trial(agent.name, trial.id or "").reason == (
        "the precursor would not dissolve"
    )


def test_a_budgeted_campaign_plans_towards_its_budget_and_stops_there(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    settings = CampaignSettings("gp", initial=10, batch_size=4, seed=0, budget=17)
    CampaignAgent.from_dataset(store, "budgeted", photo_pce10_dataset, settings)
    spy = _BudgetSpy()
    agent = CampaignAgent(CampaignStore(), "budgeted", planner=spy)  # settings read back
    agent.observe(_results(agent, agent.propose()))
    batches = [agent.propose(), agent.propose()]  # 4, then the 3 left (the first pending)
    assert [len(b) for b in batches] == [4, 3] and spy.budgets == [17, 17]
    assert agent.propose() == []  # spent, counting what is handed out
    agent.fail(batches[1][0].id or "")
    assert len(agent.propose(4)) == 1  # a failed experiment gives its place back
    agent.abandon(batches[1][1].id or "")
    assert len(agent.propose(4)) == 1  # so does one cancelled before it ran
    assert agent.status().campaign.settings.budget == 17


def test_results_reported_out_of_order_are_counted_as_they_arrived(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    first, second = agent.propose(), agent.propose()
    agent.observe(oracle.evaluate(second))  # the later batch came back first
    agent.observe(oracle.evaluate(first))
    observed = agent.observations()
    assert [o.trial.id for o in observed] == [t.id for t in second + first]
    status = agent.status()
    assert status.best_so_far[0] == observed[0].measurement.values["degradation"]


# -- an endgame needs a budget: without one it never plays, and trials must not say it does --
ENDGAME = "gp+top+iwarp+warp+endgame"
NEEDS_BUDGET = (
    r"^budget: strategy gp\+top\+iwarp\+warp\+endgame believes its last 3 batches differently "
    r"and needs a budget to know which they are: --budget N at creation, `matloop campaign "
    r"budget NAME N` after \(settings\.budget, PUT \.\.\./budget in the API\), or drop \+endgame$"
)


def test_an_endgame_without_a_budget_is_refused_when_the_campaign_is_created(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    with pytest.raises(ValueError, match=NEEDS_BUDGET):
        CampaignAgent.from_dataset(store, "opv", photo_pce10_dataset, CampaignSettings(ENDGAME))
    assert store.campaigns() == []  # refused before anything was stored
    budgeted = CampaignSettings(ENDGAME, budget=40)
    agent = CampaignAgent.from_dataset(store, "opv", photo_pce10_dataset, budgeted)
    assert agent.planner.name == ENDGAME


def test_switching_a_campaign_without_a_budget_to_an_endgame_is_refused(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    CampaignAgent.from_dataset(store, "opv", photo_pce10_dataset, CampaignSettings("gp+top"))
    with pytest.raises(ValueError, match=r"^budget: strategy gp\+top\+endgame believes"):
        CampaignAgent(store, "opv", make_planner("gp+top+endgame"))  # some rounds' planner
    assert CampaignAgent(store, "opv", make_planner("bayesgp+top")).planner.name == "bayesgp+top"


def test_looking_ahead_to_a_budget_needs_one_to_create_and_to_keep(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    looks_ahead = r"^budget: strategy gp\+ens\+warp looks ahead to the experiments the budget"
    with pytest.raises(ValueError, match=looks_ahead):
        CampaignAgent.from_dataset(
            store, "opv", photo_pce10_dataset, CampaignSettings("gp+ens+warp")
        )
    assert store.campaigns() == []
    settings = CampaignSettings("gp+ens+warp", budget=40)
    agent = CampaignAgent.from_dataset(store, "opv", photo_pce10_dataset, settings)
    with pytest.raises(ValueError, match=looks_ahead):
        agent.set_budget(None)
    assert agent.set_budget(60).after == 60


def test_the_command_line_refuses_an_endgame_without_a_budget(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    cli = CliRunner()
    create = ["campaign", "create", "opv", "--from-olympus", "photo_pce10", "--strategy", ENDGAME]
    refused = cli.invoke(app, create)
    assert refused.exit_code == 1, refused.output
    assert f"budget: strategy {ENDGAME}" in refused.output and "--budget" in refused.output
    assert CampaignStore().campaigns() == []
    created = cli.invoke(app, [*create, "--budget", "40"])
    assert created.exit_code == 0, created.output


def test_a_campaign_stored_with_an_idle_endgame_proposes_without_it_and_says_so(
    store: CampaignStore, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(1)
    space = SearchSpace((ContinuousParameter("a", 0.0, 1.0), ContinuousParameter("b", 0.0, 1.0)))
    points = space.sample(24, rng)
    values = [{"y": float(np.sin(4 * p["a"]) + p["b"])} for p in points]
    old = Campaign(  # stored before an endgame needed a budget: none was asked for
        "old",
        space,
        (Objective("y", Direction.MAXIMIZE),),
        CampaignSettings("gp+top+endgame", initial=4, batch_size=2),
        pool_size=len(points),
    )
    pool = enumerate(zip(points, values, strict=True))
    store.create(old, [Candidate(i, p, v) for i, (p, v) in pool])
    agent = CampaignAgent(store, "old")
    agent.observe(_results(agent, agent.propose()))
    guided = agent.propose()
    assert {t.strategy for t in guided} == {"gp+top"}  # what chose them: no endgame played
    assert "'old': strategy gp+top+endgame has no budget to play its endgame in" in caplog.text


def test_a_plugin_surrogate_proposes_and_its_model_is_versioned_with_its_release(
    store: CampaignStore,
    photo_pce10_dataset: PoolDataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install_plugin(tmp_path, "plug_gp", "my_surrogates:PLUG_GP")
    monkeypatch.syspath_prepend(str(tmp_path))
    with restored_surrogate_registry():  # the entry point is found as in any process
        settings = CampaignSettings("plug_gp", initial=10, batch_size=4, seed=0)
        agent = CampaignAgent.from_dataset(store, "plugged", photo_pce10_dataset, settings)
        agent.observe(_results(agent, agent.propose()))
        batch = agent.propose()
    assert {t.strategy for t in batch} == {"plug_gp"}
    versions = {t.model_version for t in batch}
    assert len(versions) == 1 and None not in versions
    version = versions.pop() or ""
    model = agent.store.load_model(version)
    assert model.kind == "plug_gp" and model.metrics["n_train"] == 10
    assert model.metrics["surrogate_plugin"] == PLUG_GP_ORIGIN
    assert "covar_module.raw_lengthscale" in torch.load(
        io.BytesIO(model.weights), weights_only=True
    )
    fit = model.metrics["fit"]
    assert fit["surrogate"] == "plug_gp" and fit["plugin"] == PLUG_GP_ORIGIN
    assert version == store.model_version("plugged", "plug_gp", model.data_hash, fit)
    release = {**fit, "plugin": {**PLUG_GP_ORIGIN, "version": "0.2"}}  # another release
    assert store.model_version("plugged", "plug_gp", model.data_hash, release) != version
    # where the plugin is not installed, the campaign names the package its models need
    with restored_surrogate_registry(), pytest.raises(ValueError) as missing:
        monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
        CampaignAgent(store, "plugged").propose()
    assert str(missing.value).startswith("unknown strategy 'plug_gp'")
    assert str(missing.value).endswith(
        "this campaign's models were fitted by surrogate plugin 'plug_gp' from my-surrogates "
        "0.1: install it where the campaign runs"
    )
