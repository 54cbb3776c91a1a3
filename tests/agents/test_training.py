from __future__ import annotations

import dataclasses
import io
import math
from typing import cast

import numpy as np
import pytest
import torch

from agents import CampaignAgent, LookupOracle
from agents.campaign import fit_settings
from agents.training import (
    TrainingData,
    fit_surrogate,
    train_surrogate,
    training_data,
)
from db import CampaignNotFoundError, CampaignStore
from discovery.campaign_models import fitting_code
from discovery.datasets import PoolDataset
from discovery.domain import CampaignSettings, Direction, Objective
from discovery.planners import GPPlanner, PlanningProblem, make_planner
from discovery.spaces import ContinuousParameter, SearchSpace


def _oracle(agent: CampaignAgent) -> LookupOracle:
    return LookupOracle.from_candidates(agent.store.candidates(agent.name))


def _design_of_18(store: CampaignStore, name: str, dataset: PoolDataset) -> CampaignAgent:
    """A GP campaign over ``dataset`` whose 18 random experiments are measured."""
    settings = CampaignSettings("gp", initial=18, batch_size=4, seed=0)
    agent = CampaignAgent.from_dataset(store, name, dataset, settings)
    agent.observe(_oracle(agent).evaluate(agent.propose()))
    return agent


def test_train_surrogate_registers_a_gp_with_leave_one_out_metrics(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    agent = _design_of_18(store, "design", photo_pce10_dataset)
    version = train_surrogate(store, agent.name)
    assert version.startswith("design:gp:")
    metrics = store.load_model(version).metrics
    assert metrics["n_train"] == 18 and metrics["cv"] == "loo"
    assert metrics["objective"] == "degradation"
    observed = agent.observations()
    assert metrics["cv_trials"] == [o.trial.id for o in observed]
    measured = np.array(metrics["cv_measured"])
    predicted = np.array(metrics["cv_predicted"])
    assert measured.tolist() == [o.measurement.values["degradation"] for o in observed]
    assert len(predicted) == len(metrics["cv_std"]) == 18
    assert all(s > 0 for s in metrics["cv_std"])
    # errors on the original scale (degradation is ~0.001-0.2), not the standardised one
    assert metrics["cv_mae"] == pytest.approx(np.mean(np.abs(predicted - measured)))
    assert metrics["cv_rmse"] == pytest.approx(math.sqrt(np.mean((predicted - measured) ** 2)))
    assert 0 < metrics["cv_mae"] <= metrics["cv_rmse"] < measured.std() * 3
    assert 0 <= metrics["cv_coverage_95"] <= 1 and 0 <= metrics["cv_miscalibration_area"] <= 0.5
    assert predicted.min() > -1.0 and predicted.max() < 1.0  # sign undone: positive scale


@pytest.mark.slow  # one qLogNEI proposal over the 1040-blend pool
def test_training_is_idempotent_and_a_later_proposal_reuses_the_version(
    store: CampaignStore, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    agent.observe(_oracle(agent).evaluate(agent.propose()))  # the random initial design
    version = train_surrogate(store, agent.name)
    assert train_surrogate(store, agent.name) == version
    # The planner fits the same model on the same data: same registry version.
    trials = agent.propose()
    assert {t.model_version for t in trials} == {version}
    assert "cv_rmse" in store.load_model(version).metrics


@pytest.mark.slow
def test_training_after_a_proposal_on_the_same_data_adds_cv_metrics(
    store: CampaignStore, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    agent.observe(_oracle(agent).evaluate(agent.propose()))
    proposed = agent.propose()  # registers the planner's model on these 10 results
    version = train_surrogate(store, agent.name)
    assert proposed[0].model_version == version
    assert "cv_rmse" in store.load_model(version).metrics


def test_training_needs_three_measurements(
    store: CampaignStore, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    with pytest.raises(ValueError, match="0 completed measurement"):
        train_surrogate(store, agent.name)
    trials = agent.propose(3)
    agent.observe(_oracle(agent).evaluate(trials[:2]))
    with pytest.raises(ValueError, match=r"has 2 completed measurement\(s\).*at least 3"):
        train_surrogate(store, agent.name)
    agent.observe(_oracle(agent).evaluate(trials[2:]))
    assert train_surrogate(store, agent.name)


def test_training_an_unknown_campaign_fails(store: CampaignStore) -> None:
    with pytest.raises(CampaignNotFoundError):
        train_surrogate(store, "nope")


def test_training_data_is_encoded_like_the_planner(
    store: CampaignStore, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    agent.observe(_oracle(agent).evaluate(agent.propose(5)))
    data = training_data(store, agent.name)
    space = agent.campaign.space
    pool = space.encode([c.parameters for c in store.candidates(agent.name)])
    assert data.sign == -1.0  # minimise degradation
    assert data.X.shape == (5, space.dim)
    np.testing.assert_array_equal(data.bounds, np.stack([pool.min(0), pool.max(0)]))
    artifact = fit_surrogate(data)
    assert artifact.kind == "gp" and artifact.metrics["n_train"] == 5


def test_training_on_an_objective_in_tiny_units_matches_the_plain_one_in_them(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    """A diffusivity-like objective (~1e-14) is fitted in rescaled units, reported in its own."""
    unit = 1e-12
    tiny_data = dataclasses.replace(photo_pce10_dataset, values=photo_pce10_dataset.values * unit)
    plain_agent = _design_of_18(store, "plain", photo_pce10_dataset)  # the same random design
    tiny = _design_of_18(store, "tiny", tiny_data)
    plain = store.load_model(train_surrogate(store, plain_agent.name)).metrics
    scaled = store.load_model(train_surrogate(store, tiny.name)).metrics
    assert "objective_scale" not in plain  # fitted as measured: nothing changes
    measured = np.array(scaled["cv_measured"])
    (scale,) = scaled["objective_scale"]
    assert math.log2(scale).is_integer() and scale == pytest.approx(measured.std(), rel=1)
    np.testing.assert_array_equal(measured, unit * np.array(plain["cv_measured"]))
    for name in ("cv_predicted", "cv_std"):
        np.testing.assert_allclose(scaled[name], unit * np.array(plain[name]), rtol=1e-3)
    for name in ("cv_mae", "cv_rmse"):
        assert scaled[name] == pytest.approx(unit * plain[name], rel=1e-3)
    assert scaled["cv_coverage_95"] == plain["cv_coverage_95"]
    assert scaled["lengthscale"] == pytest.approx(plain["lengthscale"], rel=1e-3)


def test_training_and_the_planner_register_one_version_in_tiny_units() -> None:
    """Training hashes the targets the ``gp`` planner fits on, so both name one model."""
    rng = np.random.default_rng(0)
    space = SearchSpace((ContinuousParameter("a", 0.0, 1.0), ContinuousParameter("b", 0.0, 1.0)))
    pool = space.encode(space.sample(40, rng))
    y = 1e-12 * (np.sin(5 * pool[:12, 0]) + pool[:12, 1] ** 2)
    available = np.arange(40) >= 12
    objective = Objective("d", Direction.MINIMIZE)
    problem = PlanningProblem(space, (objective,), pool[:12], y[:, None], pool[:0], pool, available)
    planned = GPPlanner().plan(problem, 1, seed=0).model
    bounds = np.stack([pool.min(axis=0), pool.max(axis=0)])
    trials = tuple(str(i) for i in range(12))
    data = TrainingData("c", "d", -1.0, pool[:12], y, bounds, trials)
    trained = fit_surrogate(data)
    assert planned is not None
    assert trained.data_hash == planned.data_hash
    assert trained.metrics["objective_scale"] == planned.metrics["objective_scale"]


@pytest.mark.usefixtures("small_gp_limits")
def test_above_the_exact_limit_the_loo_lists_pair_each_trial_with_its_own_values() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((100, 2))
    y = np.sin(5 * X).sum(1)
    trials = tuple(f"t{i}" for i in range(100))
    bounds = np.array([[0.0, 0.0], [1.0, 1.0]])
    metrics = fit_surrogate(TrainingData("c", "d", -1.0, X, y, bounds, trials)).metrics
    assert metrics["n_train"] == 100 and metrics["n_conditioned"] == 60
    listed = [metrics[k] for k in ("cv_trials", "cv_measured", "cv_predicted", "cv_std")]
    assert [len(each) for each in listed] == [60] * 4
    assert metrics["cv_measured"] == [y[int(t[1:])] for t in metrics["cv_trials"]]
    assert max(abs(p - m) for p, m in zip(*listed[1:3], strict=True)) < 0.5  # its own


# -- a model's version names the model, not only its data ----------------------------------


def _small_pool() -> PoolDataset:
    """30 points of a smooth function of two inputs, maximised: a GP fits it in moments."""
    rng = np.random.default_rng(7)
    space = SearchSpace((ContinuousParameter("a", 0.0, 1.0), ContinuousParameter("b", 0.0, 1.0)))
    points = space.sample(30, rng)
    X = space.encode(points)
    y = np.sin(4 * X[:, 0]) + X[:, 1] ** 2
    objectives = (Objective("y", Direction.MAXIMIZE),)
    return PoolDataset("small", space, objectives, points, y[:, None], "test")


def _measured(store: CampaignStore, strategy: str, initial: int = 6) -> CampaignAgent:
    settings = CampaignSettings(strategy, initial=initial, batch_size=2, seed=3)
    agent = CampaignAgent.from_dataset(store, "small", _small_pool(), settings)
    agent.observe(_oracle(agent).evaluate(agent.propose()))  # the random initial design
    return agent


def _weights(store: CampaignStore, version: str) -> dict[str, torch.Tensor]:
    loaded = torch.load(io.BytesIO(store.load_model(version).weights), weights_only=True)
    return cast(dict[str, torch.Tensor], loaded)


def test_an_input_warped_proposal_names_its_own_model_not_the_trained_plain_gp(
    store: CampaignStore,
) -> None:
    agent = _measured(store, "gp+iwarp")
    trained = train_surrogate(store, agent.name)  # a GP without input warping, first
    proposed = agent.propose()
    (version,) = {t.model_version for t in proposed}
    assert version is not None and version != trained  # same data, another model
    assert any(k.startswith("input_transform.warp.") for k in _weights(store, version))
    assert not any(k.startswith("input_transform.warp.") for k in _weights(store, trained))
    fit = store.load_model(version).metrics["fit"]
    assert (fit["surrogate"], fit["input_warp"], fit["outcome_warp"]) == ("gp", True, None)
    assert "cv_mae" not in store.load_model(version).metrics  # training's metrics stay its own


def test_a_plain_gp_proposal_and_training_on_its_data_share_one_version_and_lineage(
    store: CampaignStore,
) -> None:
    agent = _measured(store, "gp")
    first = agent.propose(1)
    again = agent.propose(1)  # nothing measured since: the same model on the same data
    assert first[0].model_version == again[0].model_version is not None
    version = first[0].model_version
    assert train_surrogate(store, agent.name) == version  # the model training fits too
    metrics = store.load_model(version).metrics
    observed = [str(o.trial.id) for o in agent.observations()]
    assert metrics["train_trials"] == observed == metrics["cv_trials"]
    assert metrics["n_train"] == 6 and len(metrics["train_trials_hash"]) == 64
    assert metrics["fit"] == {
        "surrogate": "gp",
        "input_warp": False,
        "outcome_warp": None,
        "prior": None,
        "seed": None,
        "code": fitting_code(),
    }


def test_a_new_fitting_code_fits_a_new_version_on_the_same_data(
    store: CampaignStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = _measured(store, "gp")
    [before] = {t.model_version for t in agent.propose(1)}
    # an upgrade of matloop's discovery code or of torch/gpytorch/botorch
    monkeypatch.setattr("agents.campaign.fitting_code", lambda: "0123456789ab")
    [after] = {t.model_version for t in agent.propose(1)}
    assert None not in (before, after) and after != before
    assert store.load_model(after or "").metrics["fit"]["code"] == "0123456789ab"
    assert train_surrogate(store, agent.name) == after  # training names the new fit alike


def test_proposal_models_record_the_trials_they_were_trained_on(store: CampaignStore) -> None:
    agent = _measured(store, "gp+warp", initial=5)
    batch = agent.propose()
    agent.observe(_oracle(agent).evaluate(batch))
    later = agent.propose()
    versions = [batch[0].model_version, later[0].model_version]
    assert None not in versions and versions[0] != versions[1]
    trained_on = [store.load_model(v).metrics["train_trials"] for v in versions if v]
    ids = [str(o.trial.id) for o in agent.observations()]
    assert trained_on == [ids[:5], ids[:7]]  # the initial design, then with the batch
    assert store.load_model(versions[1] or "").metrics["fit"]["outcome_warp"] == "yeo-johnson"


def test_the_fit_description_holds_what_changes_the_model_and_not_the_acquisition() -> None:
    def fit(strategy: str, seed: int = 5) -> dict[str, object]:
        return fit_settings(make_planner(strategy), seed)

    assert fit("gp") == fit("gp+qucb") == fit("botorch") == fit("gp", seed=6)
    assert fit("gp+iwarp")["input_warp"] is True and fit("gp+iwarp") != fit("gp")
    assert fit("gp+warp")["outcome_warp"] == "yeo-johnson"
    assert fit("bayesgp")["seed"] == 5 and fit("bayesgp", seed=6) != fit("bayesgp")
    assert fit("portfolio") == fit("gp+warp")  # every arm fits the base's model
