"""The fully Bayesian GP (``bayesgp``): NUTS fit, registry round trip, ``top`` and ``topk``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from botorch.models.fully_bayesian import FullyBayesianSingleTaskGP
from scipy import stats

from discovery.acquisition import LogProbabilityInTop, LogProbabilityOfTop, top_level
from discovery.domain import Direction, Objective
from discovery.metrics import top_count
from discovery.planners import PlanningProblem, make_planner
from discovery.spaces import ContinuousParameter, SearchSpace
from discovery.surrogates import (
    DTYPE,
    NUTS_DRAWS,
    NUTS_THINNING,
    fit_bayesian_gp,
    gp_artifact,
    load_gp,
)

UNIT_SQUARE = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=DTYPE)
SPACE = SearchSpace((ContinuousParameter("x", 0.0, 1.0), ContinuousParameter("z", 0.0, 1.0)))
SAMPLES = NUTS_DRAWS // NUTS_THINNING


def grid_pool(n: int = 11) -> torch.Tensor:
    """``n^2 x 2`` grid over the unit square."""
    axis = torch.linspace(0.0, 1.0, n, dtype=DTYPE)
    return torch.cartesian_prod(axis, axis)


def bump(X: torch.Tensor) -> torch.Tensor:
    """``n x 1`` values with one smooth maximum at (0.7, 0.3)."""
    return torch.exp(-8 * ((X[:, :1] - 0.7) ** 2 + (X[:, 1:] - 0.3) ** 2))


@pytest.fixture(scope="module")
def fitted() -> tuple[FullyBayesianSingleTaskGP, torch.Tensor, torch.Tensor]:
    pool = grid_pool()
    train_X = pool[::6]  # 21 of 121 grid points
    train_Y = bump(train_X)
    return fit_bayesian_gp(train_X, train_Y, UNIT_SQUARE, input_warp=True, seed=0), train_X, train_Y


def per_sample(model: FullyBayesianSingleTaskGP, X: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``S x n`` means and standard deviations, read straight from BoTorch's posterior."""
    with torch.no_grad():
        posterior = model.posterior(X)
    mean, variance = posterior.mean[..., 0], posterior.variance[..., 0]
    return mean.numpy(), variance.sqrt().numpy()


def test_the_fit_keeps_distinct_hyperparameter_samples_and_tracks_its_data(
    fitted: tuple[FullyBayesianSingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, train_X, train_Y = fitted
    assert not model.training
    assert model.num_mcmc_samples == SAMPLES
    lengthscales = model.covar_module.lengthscale.detach().reshape(SAMPLES, 2)
    assert float(lengthscales.std(dim=0).min()) > 0  # samples, not one optimum repeated
    with torch.no_grad():
        mixture_mean = model.posterior(train_X).mixture_mean
    assert torch.allclose(mixture_mean, train_Y, atol=0.1 * float(train_Y.std()))


def test_a_fully_bayesian_gp_round_trips_through_its_artifact(
    fitted: tuple[FullyBayesianSingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, train_X, train_Y = fitted
    artifact = gp_artifact(model, train_X, train_Y)
    assert artifact.kind == "bayesgp"
    assert artifact.metrics["hyperparameter_samples"] == SAMPLES
    assert len(artifact.metrics["lengthscale"]) == 2  # the median over samples, per input
    restored = load_gp(artifact.weights, train_X, train_Y, UNIT_SQUARE)
    assert isinstance(restored, FullyBayesianSingleTaskGP)
    test_X = grid_pool(7)
    for got, want in zip(per_sample(restored, test_X), per_sample(model, test_X), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_a_fully_bayesian_gp_models_one_output() -> None:
    X = grid_pool(3)
    with pytest.raises(ValueError, match="train_Y: a fully Bayesian GP models one output, not 2"):
        fit_bayesian_gp(X, torch.cat([bump(X), bump(X)], dim=1), UNIT_SQUARE)


def test_top_averages_the_probability_over_the_hyperparameter_samples(
    fitted: tuple[FullyBayesianSingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, _, _ = fitted
    candidates = grid_pool()
    mean, sigma = per_sample(model, candidates)
    acqf = LogProbabilityOfTop(model, 0.6)
    expected = stats.norm.cdf((mean - 0.6) / sigma).mean(axis=0)
    with torch.no_grad():
        probabilities = acqf(candidates.unsqueeze(-2)).exp().numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6, atol=1e-12)
    # not what the first sample alone would give
    assert np.abs(probabilities - stats.norm.cdf((mean[0] - 0.6) / sigma[0])).max() > 1e-3


def test_the_top_level_counts_the_top_set_averaged_over_samples(
    fitted: tuple[FullyBayesianSingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, _, _ = fitted
    pool = grid_pool()
    level = top_level(model, pool)
    mean, sigma = per_sample(model, pool)
    expected_finds = stats.norm.cdf((mean - level) / sigma).mean(axis=0).sum()
    assert expected_finds == pytest.approx(top_count(len(pool), 0.05), abs=1e-6)


def test_each_sample_believes_a_pending_pick_misses(
    fitted: tuple[FullyBayesianSingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, _, _ = fitted
    pool = grid_pool()
    acqf = LogProbabilityOfTop(model, top_level(model, pool))
    candidates = pool.unsqueeze(-2)
    with torch.no_grad():
        alone = acqf(candidates)
        peak = int(alone.argmax())
        acqf.set_X_pending(pool[[peak]])
        believed = acqf(candidates)
    distance = (pool - pool[peak]).norm(dim=1)
    near, far = (distance > 0) & (distance < 0.15), distance > 0.8
    # the chances next to it drop, each of them (the batch spreads out); far ones stay
    assert near.sum() >= 4 and bool((believed[near] < alone[near]).all())
    assert believed[near].exp().sum() < 0.95 * alone[near].exp().sum()
    assert torch.allclose(believed[far].exp(), alone[far].exp(), atol=0.01)
    assert math.isfinite(float(believed.max()))
    acqf.set_X_pending(None)
    with torch.no_grad():
        assert torch.equal(acqf(candidates), alone)


def test_a_bayesgp_planner_proposes_distinct_available_pool_rows() -> None:
    pool = grid_pool().numpy()
    values = bump(torch.as_tensor(pool)).numpy()
    measured, pending = np.arange(0, len(pool), 9), np.array([4])
    available = np.ones(len(pool), bool)
    available[measured] = available[pending] = False
    problem = PlanningProblem(
        SPACE,
        (Objective("y", Direction.MAXIMIZE),),
        pool[measured],
        values[measured],
        pool[pending],
        pool,
        available,
        budget=30,
    )
    planner = make_planner("bayesgp+top+iwarp+warp")
    plan = planner.plan(problem, 3, seed=0)
    picks = [s.candidate for s in plan.suggestions]
    assert len(set(picks)) == 3 and all(available[picks])
    assert plan.model is not None and plan.model.kind == "bayesgp"
    assert planner.name == "bayesgp+top+iwarp+warp"
    # the picks hunt the bump's top: each is within reach of its maximum at (0.7, 0.3)
    assert all(np.linalg.norm(pool[p] - [0.7, 0.3]) < 0.35 for p in picks)


def test_topk_pools_the_samples_of_every_hyperparameter_draw(
    fitted: tuple[FullyBayesianSingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, _, _ = fitted
    pool = grid_pool()
    acqf = LogProbabilityInTop(model, pool, samples=64)
    acqf.prepare(pool)
    assert acqf.member.shape == (64 * SAMPLES, len(pool))  # S joint draws per sample
    with torch.no_grad():
        alone = acqf(pool.unsqueeze(-2)).exp()
        likely = int(((alone - 0.5).abs()).argmin())  # a coin flip, not a sure hit
        acqf.set_X_pending(pool[[likely]])
        believed = acqf(pool.unsqueeze(-2)).exp()
    assert float(believed[likely]) < 0.01 < float(alone[likely])
    # every draw ranks k in the top (and the analytic one about k): the chances add up to
    # k, before and after the belief
    k = top_count(len(pool), 0.05)
    for chances in (alone, believed):
        assert float(chances.sum()) == pytest.approx(k, abs=0.05)
