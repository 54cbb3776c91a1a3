"""The learned acquisition policy: features, training by REINFORCE, serialisation."""

from __future__ import annotations

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
