"""The learned acquisition policy: features, training by REINFORCE, serialisation."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest
import torch

from discovery.domain import Direction, Objective
from discovery.planners import PlanningProblem, PolicyPlanner
from discovery.policy import (
    FEATURES,
    AcquisitionPolicy,
    PolicyTrainingConfig,
    expected_improvement_scores,
    held_out_regret,
    policy_features,
    train_policy,
    training_digest,
    training_pool,
)
from discovery.spaces import ContinuousParameter, SearchSpace

pytestmark = pytest.mark.usefixtures("single_torch_thread")

SMALL = PolicyTrainingConfig(iterations=40, tasks=4, rollouts=4, pool=60, dims=(1, 3), horizon=12)


@pytest.fixture(scope="module")
def trained() -> AcquisitionPolicy:
    return train_policy(SMALL).policy


def test_features_are_in_units_of_the_measured_spread() -> None:
    y = torch.tensor([0.0, 2.0, 4.0])  # mean 2, std 2, incumbent z = 1
    features = policy_features(torch.tensor([2.0, 6.0]), torch.tensor([2.0, 1.0]), y, 0.25)
    assert features.shape == (2, len(FEATURES))
    column = {name: features[:, i] for i, name in enumerate(FEATURES)}
    assert torch.allclose(column["mean"], torch.tensor([0.0, 2.0]))
    assert torch.allclose(column["std"], torch.tensor([1.0, 0.5]))
    assert torch.allclose(column["improvement"], torch.tensor([-1.0, 1.0]))
    assert torch.allclose(column["z"], torch.tensor([-1.0, 2.0]))
    assert torch.allclose(column["budget_left"], torch.tensor([0.25, 0.25]))


def test_features_do_not_change_when_the_objective_is_rescaled() -> None:
    mean, std, y = torch.tensor([1.0, 3.0]), torch.tensor([0.5, 2.0]), torch.tensor([0.0, 1.0, 5.0])
    a = policy_features(mean, std, y, 0.5)
    b = policy_features(100 * mean + 7, 100 * std, 100 * y + 7, 0.5)
    assert torch.allclose(a, b, atol=1e-5)


def test_a_trained_policy_beats_random_choice_on_tasks_it_never_saw(
    trained: AcquisitionPolicy,
) -> None:
    learned = held_out_regret(trained, SMALL, episodes=32, seed=777)
    random = held_out_regret(lambda f: torch.rand(f.shape[:-1]), SMALL, episodes=32, seed=777)
    ei = held_out_regret(expected_improvement_scores, SMALL, episodes=32, seed=777)
    assert learned < 0.5 * random
    assert ei < 0.5 * random  # the reference rule is sound too


def test_training_is_seeded() -> None:
    config = PolicyTrainingConfig(iterations=3, tasks=2, rollouts=2, pool=30, horizon=5, seed=3)
    a, b = train_policy(config), train_policy(config)
    assert a.regret == b.regret
    for p, q in zip(a.policy.parameters(), b.policy.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_policy_survives_bytes(trained: AcquisitionPolicy) -> None:
    features = torch.randn(5, 7, len(FEATURES))
    again = AcquisitionPolicy.from_bytes(trained.to_bytes())
    assert torch.equal(again(features), trained(features))


def test_a_policy_trained_on_other_features_refuses_to_load(trained: AcquisitionPolicy) -> None:
    import io

    saved = torch.load(io.BytesIO(trained.to_bytes()), weights_only=True)
    saved["features"] = ["mean", "std"]
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    with pytest.raises(ValueError, match="features"):
        AcquisitionPolicy.from_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    ("budget", "spent", "left"),
    [
        (20, 5, 1.0),  # the first choice after an initial design of 5: as in training
        (20, 12, 1 - 7 / 15),
        (20, 40, 1 / 15),  # past the budget: the last value training showed
        (None, 5, 1.0),  # no budget: the policy's own horizon of 10 choices
        (None, 10, 0.5),
        (None, 100, 0.1),
    ],
)
def test_a_campaign_shows_the_policy_the_budget_left_as_training_did(
    trained: AcquisitionPolicy, budget: int | None, spent: int, left: float
) -> None:
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    empty = np.empty((0, 1))
    problem = PlanningProblem(
        space, (Objective("y", Direction.MAXIMIZE),), empty, empty, empty, budget=budget, initial=5
    )
    planner = PolicyPlanner(trained, "test", horizon=10)
    assert planner._budget_left(problem, spent) == pytest.approx(left)


def _gp_sample_pool(lengthscale: float, rows: int = 150, seed: int = 0) -> tuple[Any, Any]:
    """A 2-d pool (inputs in [0, 10]^2) whose values are one draw of an RBF GP, noise 0.1."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 10.0, (rows, 2))
    distance = np.linalg.norm(X[:, None] - X[None], axis=-1) / 10.0  # unit-cube units
    K = np.exp(-0.5 * (distance / lengthscale) ** 2) + 1e-8 * np.eye(rows)
    f = np.linalg.cholesky(K) @ rng.standard_normal(rows)
    return X, 3.0 * (f + 0.1 * rng.standard_normal(rows)) + 40.0


def test_a_training_pool_is_scaled_standardised_and_its_gp_fitted() -> None:
    X, values = _gp_sample_pool(lengthscale=0.2)
    pool = training_pool("sample", X, values, maximise=False)
    assert pool.X.min() == 0.0 and pool.X.max() == 1.0
    assert float(pool.y.mean()) == pytest.approx(0.0, abs=1e-9)
    assert float(pool.y.std(unbiased=False)) == pytest.approx(1.0)
    assert int(pool.y.argmax()) == int(np.argmin(values))  # smaller is better: flipped
    # the marginal likelihood finds the lengthscale the values were drawn with (x sqrt(2))
    assert 0.12 < pool.lengthscale / math.sqrt(2) < 0.35
    assert pool.noise <= 0.3
    rough = training_pool("rough", *_gp_sample_pool(lengthscale=0.05), maximise=True)
    assert rough.lengthscale < pool.lengthscale


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([1.0, 2.0], "values: .*does not match"),
        ([1.0, 1.0, 1.0], "values: .*all its values equal"),
        ([1.0, np.nan, 2.0], "values: pool 'bad' has entries that are not finite"),
    ],
)
def test_a_training_pool_refuses_values_it_cannot_use(values: list[float], problem: str) -> None:
    with pytest.raises(ValueError, match=f"^{problem}"):
        training_pool("bad", np.zeros((3, 2)), np.array(values), maximise=True)
    with pytest.raises(ValueError, match=r"^X: pool 'bad' has entries that are not finite"):
        training_pool("bad", np.full((3, 2), np.inf), np.array([1.0, 2.0, 3.0]), maximise=True)


def test_a_policy_trains_on_development_pools_seeded_and_apart_from_gp_samples() -> None:
    config = PolicyTrainingConfig(iterations=6, tasks=2, rollouts=2, pool=30, horizon=5, seed=3)
    pools = [training_pool(f"p{i}", *_gp_sample_pool(0.2, seed=i), maximise=True) for i in (1, 2)]
    a = train_policy(config, pools=pools, pool_share=1.0)
    b = train_policy(config, pools=pools, pool_share=1.0)
    alone = train_policy(config)
    assert a.regret == b.regret and a.tasks_digest() == b.tasks_digest()
    assert a.regret != alone.regret and a.tasks_digest() != alone.tasks_digest()
    # without pools (or never drawing them): the GP-sample training and name of before
    named_so = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()
    assert training_digest(config) == alone.tasks_digest() == named_so
    never = train_policy(config, pools=pools, pool_share=0.0)
    assert never.regret == alone.regret and never.tasks_digest() == named_so
    assert training_digest(config, pools, 1) == training_digest(config, pools, 1.0)
    assert [p["name"] for p in a.metrics()["training_pools"]] == ["p1", "p2"]
    assert "100% of updates on development pools: p1, p2" in a.metrics()["training_tasks"]
    other = [training_pool("p1", *_gp_sample_pool(0.2, seed=3), maximise=True), pools[1]]
    assert train_policy(config, pools=other, pool_share=1.0).tasks_digest() != a.tasks_digest()


def test_training_refuses_a_pool_smaller_than_an_episode_and_a_share_outside_0_1() -> None:
    config = PolicyTrainingConfig(iterations=1, tasks=2, rollouts=2, pool=30, horizon=5)
    small = training_pool("small", *_gp_sample_pool(0.2, rows=5), maximise=True)
    with pytest.raises(ValueError, match=r"^pools: 'small' has 5 rows, fewer than an episode"):
        train_policy(config, pools=[small])
    with pytest.raises(ValueError, match=r"^pool_share: must be in \[0, 1\], got 1.5"):
        train_policy(config, pool_share=1.5)
