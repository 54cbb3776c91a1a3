"""A prior mean from other sources: scaled by the data, switchable, pool campaigns only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from discovery.domain import Direction, Objective
from discovery.planners import GPPlanner, PlanningProblem
from discovery.priors import NamedPrior, PriorMeanModel, composition_formulas, fit_scale
from discovery.spaces import ContinuousParameter, SearchSpace, SimplexConstraint

SPACE = SearchSpace((ContinuousParameter("a", 0, 1), ContinuousParameter("b", 0, 1)))


def truth(X: np.ndarray) -> np.ndarray:
    """A bumpy function whose maximum a GP on a few points will not guess."""
    return np.sin(9 * X[:, 0]) * np.cos(7 * X[:, 1]) + X[:, 0]


@pytest.fixture
def bumpy_problem() -> PlanningProblem:
    rng = np.random.default_rng(0)
    pool = rng.random((400, 2))
    measured = rng.choice(400, 6, replace=False)
    available = np.ones(400, bool)
    available[measured] = False
    return PlanningProblem(
        SPACE,
        (Objective("y", Direction.MAXIMIZE),),
        pool[measured],
        truth(pool[measured])[:, None],
        np.empty((0, 2)),
        pool,
        available,
    )


def test_fit_scale_is_the_clipped_least_squares_slope() -> None:
    p = np.array([0.0, 1.0, 2.0, 3.0])
    assert fit_scale(p, 0.5 * p + 3) == pytest.approx(0.5)
    assert fit_scale(p, 10 * p) == 2.0  # clipped
    assert fit_scale(p, -p) == 0.0  # a prior that points the wrong way is ignored
    assert fit_scale(np.ones(4), p) == 0.0  # a constant prior explains nothing


def test_a_good_prior_finds_the_best_candidate_at_once(bumpy_problem: PlanningProblem) -> None:
    problem = bumpy_problem
    assert problem.pool is not None
    best = int(np.argmax(truth(problem.pool)))
    informed = GPPlanner(prior=lambda X: 0.5 * truth(X) + 1.0).plan(problem, 1, seed=0)
    plain = GPPlanner().plan(problem, 1, seed=0)
    assert informed.suggestions[0].candidate == best
    assert plain.suggestions[0].candidate != best  # without it, 6 points are not enough
    assert informed.model is not None
    assert informed.model.metrics["prior_scale"] == pytest.approx(2.0)
    assert GPPlanner(prior=lambda X: X[:, 0]).name == "gp+prior"


def test_a_named_prior_is_named_by_its_model_and_folded_into_its_data_hash(
    bumpy_problem: PlanningProblem,
) -> None:
    # constant priors explain nothing (scale 0): the residuals are the data for both
    models = [
        GPPlanner(prior=prior).plan(bumpy_problem, 1, seed=0).model
        for prior in (
            NamedPrior(lambda X: np.zeros(len(X)), "model:gp:aaaaaaaaaaaa"),
            NamedPrior(lambda X: np.ones(len(X)), "model:gp:bbbbbbbbbbbb"),
            lambda X: np.zeros(len(X)),
        )
    ]
    plain = GPPlanner().plan(bumpy_problem, 1, seed=0).model
    assert all(m is not None for m in models) and plain is not None
    named_a, named_b, anonymous = (m.metrics.get("prior_model") for m in models if m)
    assert (named_a, named_b, anonymous) == ("model:gp:aaaaaaaaaaaa", "model:gp:bbbbbbbbbbbb", None)
    assert all(m.metrics["prior_scale"] == 0.0 for m in models if m)
    hashes = {m.data_hash for m in [*models, plain] if m}
    assert len(hashes) == 4  # each prior, and none, is its own registry version
    assert NamedPrior(truth, "x")(bumpy_problem.X).tolist() == truth(bumpy_problem.X).tolist()


def test_the_posterior_is_the_residual_shifted_by_the_scaled_prior(
    bumpy_problem: PlanningProblem,
) -> None:
    from discovery.surrogates import fit_gp

    X = torch.as_tensor(bumpy_problem.X)
    gp = fit_gp(X, torch.as_tensor(bumpy_problem.Y), torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    model = PriorMeanModel(gp, lambda Z: Z[:, 0] * 10, scale=0.5)
    Z = torch.rand(5, 1, 2, dtype=torch.float64)
    shifted, base = model.posterior(Z), gp.posterior(Z)
    torch.testing.assert_close(shifted.mean, base.mean + 5 * Z[..., :1])
    torch.testing.assert_close(shifted.variance, base.variance)


def test_a_prior_needs_a_pool(bumpy_problem: PlanningProblem) -> None:
    open_space = PlanningProblem(
        SPACE, bumpy_problem.objectives, bumpy_problem.X, bumpy_problem.Y, np.empty((0, 2))
    )
    with pytest.raises(ValueError, match="a prior mean needs a pool campaign"):
        GPPlanner(prior=truth).plan(open_space, 1, seed=0)


def test_compositions_are_written_as_formulas() -> None:
    space = SearchSpace(
        (ContinuousParameter("Fe", 0, 1), ContinuousParameter("O", 0, 1)),
        (SimplexConstraint(("Fe", "O")),),
    )
    assert composition_formulas(space, np.array([[0.4, 0.6], [1.0, 0.0]])) == ["Fe0.4O0.6", "Fe1"]
    with pytest.raises(ValueError, match="needs a composition space"):
        composition_formulas(SPACE, np.zeros((1, 2)))
