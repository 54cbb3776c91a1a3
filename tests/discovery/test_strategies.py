"""Strategies beyond qLogNEI: warped outcomes, several objectives, the portfolio, the policy.

Problems are small (pools of at most 120, 12-20 measurements) and GP fits are few.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from botorch.models import SingleTaskGP
from botorch.utils.multi_objective.pareto import is_non_dominated
from scipy import stats

from discovery.acquisition import (
    ENS_CANDIDATES,
    AcquisitionInputs,
    ExpectedTopFinds,
    LogProbabilityInTop,
    LogProbabilityOfTop,
    make_acquisition,
    top_level,
)
from discovery.domain import Direction, Measurement, Objective, OutcomeConstraint
from discovery.metrics import acceleration_factor, top_fraction_trace, top_mask
from discovery.planners import (
    ENDGAME_BATCHES,
    GPPlanner,
    PlanningProblem,
    PolicyPlanner,
    PortfolioPlanner,
    _believer_posterior,
    check_campaign_shape,
    make_planner,
    warp_outcomes,
)
from discovery.policy import AcquisitionPolicy, PolicyTrainingConfig, train_policy
from discovery.simulate import ClairvoyantPlanner, PoolTask, simulate
from discovery.spaces import (
    ContinuousParameter,
    LinearConstraint,
    SearchSpace,
    SimplexConstraint,
)
from discovery.surrogates import fit_gp

pytestmark = pytest.mark.usefixtures("single_torch_thread")

SPACE = SearchSpace((ContinuousParameter("x", 0.0, 1.0), ContinuousParameter("z", 0.0, 1.0)))
MAXIMIZE = (Objective("y", Direction.MAXIMIZE),)
SMALL = GPPlanner(mc_samples=32)


def grid_pool(n: int = 11) -> np.ndarray:
    """``n^2 x 2`` grid over the unit square."""
    axis = np.linspace(0.0, 1.0, n)
    return np.array([(a, b) for a in axis for b in axis])


def bump(X: np.ndarray) -> np.ndarray:
    """One smooth maximum at (0.7, 0.3)."""
    return np.exp(-8 * ((X[:, 0] - 0.7) ** 2 + (X[:, 1] - 0.3) ** 2))


def problem_on(
    pool: np.ndarray,
    values: np.ndarray,
    measured: np.ndarray,
    pending: np.ndarray | None = None,
    objectives: tuple[Objective, ...] = MAXIMIZE,
    strategies: tuple[str | None, ...] = (),
) -> PlanningProblem:
    pending = np.empty(0, int) if pending is None else pending
    available = np.ones(len(pool), bool)
    available[measured] = False
    available[pending] = False
    return PlanningProblem(
        SPACE,
        objectives,
        pool[measured],
        values[measured].reshape(len(measured), -1),
        pool[pending],
        pool,
        available,
        strategies,
    )


@pytest.fixture(scope="module")
def policy() -> AcquisitionPolicy:
    config = PolicyTrainingConfig(iterations=20, tasks=4, rollouts=4, pool=50, horizon=10)
    return train_policy(config).policy


# -- warped outcomes -------------------------------------------------------------------
def test_warping_keeps_the_order_and_standardises() -> None:
    y = np.array([[0.1], [0.2], [0.15], [5.0], [80.0], [0.3]])  # heavy right tail
    warped = warp_outcomes(y)
    assert np.array_equal(np.argsort(warped[:, 0]), np.argsort(y[:, 0]))
    assert warped.mean() == pytest.approx(0.0, abs=1e-9)
    assert warped.std() == pytest.approx(1.0)
    # the tail is pulled in: the largest value is fewer standard deviations out
    assert warped.max() < (y.max() - y.mean()) / y.std()


def test_warping_a_constant_or_two_level_column_only_centres_it() -> None:
    assert np.allclose(warp_outcomes(np.full((4, 1), 3.0)), 0.0)
    two = warp_outcomes(np.array([[1.0], [1.0], [2.0], [2.0]]))
    assert np.allclose(two[:, 0], [-1, -1, 1, 1])


@pytest.mark.parametrize("strategy", ["gp", "gp+top+iwarp+warp+endgame", "botorch"])
def test_planning_on_outcomes_all_equal_tells_the_user_nothing_of_botorch(strategy: str) -> None:
    pool = grid_pool()
    problem = problem_on(pool, np.ones(len(pool)), np.arange(0, len(pool), 9))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = make_planner(strategy).plan(problem, 2, seed=0)
    assert len(plan.suggestions) == 2
    assert [str(w.message) for w in caught] == []


# -- names -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "surrogate", "acquisition", "warp", "input_warp"),
    [
        ("gp+warp", "gp", "qlognei", True, False),
        ("ensemble+qucb", "ensemble", "qucb", False, False),
        ("gp+qsr+warp", "gp", "qsr", True, False),
        ("gp+iwarp+warp", "gp", "qlognei", True, True),
        ("gp+qucb+iwarp", "gp", "qucb", False, True),
        ("gp+top+iwarp+warp", "gp", "top", True, True),
    ],
)
def test_strategy_names_compose(
    name: str, surrogate: str, acquisition: str, warp: bool, input_warp: bool
) -> None:
    planner = make_planner(name)
    assert isinstance(planner, GPPlanner)
    assert (planner.surrogate, planner.acquisition) == (surrogate, acquisition)
    assert (planner.warp, planner.input_warp) == (warp, input_warp)
    assert planner.name == name


def test_the_endgame_flag_composes_with_top_only() -> None:
    planner = make_planner("gp+top+iwarp+warp+endgame")
    assert isinstance(planner, GPPlanner)
    assert (planner.acquisition, planner.endgame_batches) == ("top", ENDGAME_BATCHES)
    assert planner.name == "gp+top+iwarp+warp+endgame"
    with pytest.raises(
        ValueError, match=r"endgame .* top acquisition believes; this planner uses qlognei"
    ):
        make_planner("gp+iwarp+endgame")


def test_the_believer_flag_composes_with_the_top_hunters_alone() -> None:
    planner = make_planner("gp+top+iwarp+warp+believer")
    assert isinstance(planner, GPPlanner) and planner.believer
    assert planner.name == "gp+top+iwarp+warp+believer"
    with pytest.raises(ValueError, match="believer changes what the top acquisitions believe"):
        make_planner("gp+warp+believer")
    with pytest.raises(ValueError, match=r"an endgame would change nothing \(drop \+endgame\)"):
        make_planner("gp+top+endgame+believer")


@pytest.mark.parametrize("name", ["gp+qucb+qlogei", "svm", "gp+warp+warp", "gp+fast"])
def test_unknown_strategy_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        make_planner(name)


def test_input_warping_needs_the_gp_surrogate() -> None:
    with pytest.raises(ValueError, match=r"iwarp.*needs a GP surrogate"):
        make_planner("ensemble+iwarp")


def test_a_prior_and_warping_do_not_mix() -> None:
    pool = grid_pool(5)
    problem = problem_on(pool, bump(pool), np.arange(6))
    with pytest.raises(ValueError, match="prior"):
        GPPlanner(warp=True, prior=lambda rows: rows[:, 0]).plan(problem, 1, 0)


# -- several objectives ------------------------------------------------------------------
def test_two_objectives_are_traded_off_by_hypervolume() -> None:
    pool = grid_pool(9)
    values = np.stack([pool[:, 0], 1.0 - pool[:, 0] ** 2 + 0.1 * pool[:, 1]], axis=1)
    measured = np.random.default_rng(0).choice(len(pool), 14, replace=False)
    objectives = (Objective("a", Direction.MAXIMIZE), Objective("b", Direction.MAXIMIZE))
    problem = problem_on(pool, values, measured, np.array([40]), objectives)
    # BoTorch's Warp is one set of shapes for the whole multi-output GP: refused
    with pytest.raises(ValueError, match="without \\+iwarp"):
        replace(SMALL, input_warp=True).plan(problem, 3, seed=0)
    plan = SMALL.plan(problem, 3, seed=0)
    picks = [s.candidate for s in plan.suggestions]
    assert len(set(picks)) == 3 and not set(picks) & {*measured.tolist(), 40}
    # each pick lies on the true Pareto front of the pool (z = 1 is never dominated in b)
    front = is_non_dominated(torch.as_tensor(values)).numpy()
    assert sum(front[i] for i in picks) >= 2


def test_several_objectives_need_the_gp() -> None:
    pool = grid_pool(5)
    values = np.stack([pool[:, 0], pool[:, 1]], axis=1)
    objectives = (Objective("a", Direction.MAXIMIZE), Objective("b", Direction.MINIMIZE))
    problem = problem_on(pool, values, np.arange(8), objectives=objectives)
    with pytest.raises(ValueError, match="gp surrogate"):
        GPPlanner(surrogate="ensemble").plan(problem, 1, 0)


# -- portfolio ---------------------------------------------------------------------------
def test_the_portfolio_favours_the_arm_whose_picks_paid_off() -> None:
    pool = grid_pool(5)
    measured = np.arange(6)
    values = np.array([0.0, 0.1, 0.0, 5.0, 4.0, 0.2] + [0.0] * (len(pool) - 6))
    strategies = (None, None, "portfolio:qucb", "portfolio:qsr", "portfolio:qsr", "portfolio:qucb")
    problem = problem_on(pool, values, measured, strategies=strategies)
    weights = dict(zip(PortfolioPlanner().arms, PortfolioPlanner().weights(problem), strict=True))
    assert weights["qsr"] > weights["qlognei"] > weights["qucb"]
    assert sum(weights.values()) == pytest.approx(1.0)


def test_the_portfolio_labels_each_pick_with_its_arm() -> None:
    pool = grid_pool(6)
    problem = problem_on(pool, bump(pool), np.arange(0, 36, 5))
    plan = PortfolioPlanner(base=SMALL).plan(problem, 2, seed=4)
    labels = {s.strategy for s in plan.suggestions}
    assert len(labels) == 1 and labels.pop() in {f"portfolio:{a}" for a in PortfolioPlanner.arms}


# -- learned policy ----------------------------------------------------------------------
def test_believing_a_fantasy_shrinks_the_std_near_it_and_keeps_the_mean() -> None:
    pool = grid_pool(6)
    measured = np.arange(0, 36, 7)
    X = torch.as_tensor(pool[measured])
    model = fit_gp(
        X, torch.as_tensor(bump(pool[measured]))[:, None], torch.tensor([[0.0] * 2, [1.0] * 2])
    )
    candidates = torch.as_tensor(pool)
    mean0, std0 = _believer_posterior(model, candidates, candidates[:0])
    mean1, std1 = _believer_posterior(model, candidates, candidates[20:21])
    assert torch.allclose(mean0, mean1)
    assert std1[20] < 0.5 * std0[20]
    assert (std1 <= std0 + 1e-9).all()


def test_the_policy_proposes_distinct_available_candidates(policy: AcquisitionPolicy) -> None:
    pool = grid_pool(8)
    measured, pending = np.arange(0, 64, 6), np.array([3, 9])
    problem = problem_on(pool, bump(pool), measured, pending)
    plan = PolicyPlanner(policy, "v1").plan(problem, 5, seed=0)
    picks = [s.candidate for s in plan.suggestions]
    assert len(set(picks)) == 5
    assert not set(picks) & {*measured.tolist(), *pending.tolist()}
    assert plan.model is not None and plan.model.kind == "gp"
    assert PolicyPlanner(policy, "v1").name == "rl:v1"


def test_the_policy_needs_a_pool(policy: AcquisitionPolicy) -> None:
    pool = grid_pool(4)
    problem = problem_on(pool, bump(pool), np.arange(5))
    open_space = PlanningProblem(SPACE, MAXIMIZE, problem.X, problem.Y, problem.X_pending)
    with pytest.raises(ValueError, match="pool"):
        PolicyPlanner(policy, "v1").plan(open_space, 1, 0)


# -- simulation --------------------------------------------------------------------------
def test_a_simulated_campaign_spends_its_budget_once_per_candidate() -> None:
    pool = grid_pool(7)
    task = PoolTask("bump", SPACE, MAXIMIZE, pool, bump(pool)[:, None])
    result = simulate(SMALL, task, initial=5, batch_size=3, rounds=2, seed=1)
    assert len(result.order) == 11 == len(set(result.order.tolist()))
    assert result.strategies == ("random",) * 5 + ("gp",) * 6
    again = simulate(make_planner("random"), task, 5, 3, 2, seed=1)
    assert np.array_equal(again.order[:5], result.order[:5])  # same initial design per seed


def test_a_simulated_campaign_stops_when_told() -> None:
    pool = grid_pool(7)
    task = PoolTask("bump", SPACE, MAXIMIZE, pool, bump(pool)[:, None])
    best = int(np.argmax(bump(pool)))
    result = simulate(SMALL, task, 5, 2, 20, seed=0, until=lambda order: best in order)
    assert best in result.order.tolist()
    assert len(result.order) < 45


def test_the_clairvoyant_planner_measures_the_best_remaining_first() -> None:
    pool = grid_pool(7)
    values = bump(pool)
    task = PoolTask("bump", SPACE, MAXIMIZE, pool, values[:, None])
    result = simulate(ClairvoyantPlanner(task), task, initial=5, batch_size=3, rounds=3, seed=2)
    guided = result.order[5:]
    remaining = np.setdiff1d(np.arange(len(pool)), result.order[:5])
    best_remaining = remaining[np.argsort(-values[remaining], kind="stable")[:9]]
    assert guided.tolist() == best_remaining.tolist()
    top = top_mask(values, Direction.MAXIMIZE, 0.1)
    gp = simulate(SMALL, task, 5, 3, 3, seed=2)
    ceiling = acceleration_factor(top_fraction_trace(result.order, top), len(pool))
    assert ceiling >= acceleration_factor(top_fraction_trace(gp.order, top), len(pool))


# -- outcome constraints -----------------------------------------------------------------
def test_an_outcome_constraint_needs_a_sound_range() -> None:
    with pytest.raises(ValueError, match="lower or an upper"):
        OutcomeConstraint("gap")
    with pytest.raises(ValueError, match="exceeds"):
        OutcomeConstraint("gap", 2.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        OutcomeConstraint("gap", float("nan"), 1.0)
    window = OutcomeConstraint("gap", 1.1, 1.7, "eV")
    assert window.satisfied(1.1) and window.satisfied(1.7) and not window.satisfied(1.8)
    assert OutcomeConstraint("gap", upper=1.0).satisfied(-5.0)


def test_a_result_must_report_its_constrained_quantities() -> None:
    outcomes = (*MAXIMIZE, OutcomeConstraint("gap", 1.1, 1.7))
    with pytest.raises(ValueError, match=r"missing outcome value\(s\) \['gap'\]"):
        Measurement("t1", {"y": 1.0}, "k").check(outcomes)
    Measurement("t1", {"y": 1.0, "gap": 9.0}, "k").check(outcomes)  # infeasible, still valid


def test_constrained_qlognei_proposes_where_the_constraint_holds() -> None:
    pool = grid_pool(11)
    measured = np.random.default_rng(5).choice(len(pool), 20, replace=False)
    # the objective grows with x; the constrained quantity is z, wanted in [0.4, 0.6]
    window = OutcomeConstraint("c", 0.4, 0.6)
    problem = replace(
        problem_on(pool, pool[:, 0] + 0.1 * pool[:, 1], measured),
        constraints=(window,),
        C=pool[measured, 1:2],
    )
    best = SMALL.plan(problem, 1, seed=0).suggestions[0].candidate
    assert best is not None and window.satisfied(pool[best, 1]) and pool[best, 0] == 1.0
    # without the constraint, the objective alone leads elsewhere (z = 1 adds 0.1)
    free = SMALL.plan(replace(problem, constraints=(), C=None), 1, seed=0).suggestions[0]
    assert free.candidate is not None and not window.satisfied(pool[free.candidate, 1])


def test_constraints_are_refused_by_planners_that_cannot_weigh_them() -> None:
    pool = grid_pool(5)
    problem = replace(
        problem_on(pool, bump(pool), np.arange(6)),
        constraints=(OutcomeConstraint("c", upper=0.5),),
        C=pool[:6, :1],
    )
    with pytest.raises(ValueError, match=r"constraint\(s\) are served by qLogNEHVI or feasibility"):
        make_planner("gp+qucb").plan(problem, 1, 0)


# -- large pools -------------------------------------------------------------------------
def test_a_shortlisted_large_pool_gets_the_same_batch_as_full_scoring() -> None:
    rng = np.random.default_rng(11)
    pool = rng.random((3000, 2))
    measured = rng.choice(len(pool), 24, replace=False)  # enough for the log-EI bound
    problem = problem_on(pool, bump(pool), measured, np.array([int(np.argmax(bump(pool)))]))
    full = GPPlanner(mc_samples=32, shortlist_above=None).plan(problem, 3, seed=0)
    short = GPPlanner(mc_samples=32, shortlist_above=500, shortlist_min=64).plan(problem, 3, 0)
    assert [s.candidate for s in short.suggestions] == [s.candidate for s in full.suggestions]


def test_hunting_the_top_of_a_large_pool_shortlists_by_its_own_score() -> None:
    rng = np.random.default_rng(11)
    pool = rng.random((3000, 2))
    measured = rng.choice(len(pool), 24, replace=False)
    problem = problem_on(pool, bump(pool), measured, np.array([int(np.argmax(bump(pool)))]))
    full = GPPlanner(acquisition="top", shortlist_above=None).plan(problem, 4, seed=0)
    short = GPPlanner(acquisition="top", shortlist_above=500, shortlist_min=64).plan(problem, 4, 0)
    assert [s.candidate for s in short.suggestions] == [s.candidate for s in full.suggestions]


def test_shortlist_scores_are_botorchs_analytic_log_ei() -> None:
    from botorch.acquisition.analytic import LogExpectedImprovement
    from botorch.models import SingleTaskGP

    from discovery.acquisition import _log_ei

    generator = torch.Generator().manual_seed(0)
    X = torch.rand(20, 3, generator=generator, dtype=torch.float64)
    model = SingleTaskGP(X, X.sum(-1, keepdim=True).sin())
    candidates = torch.rand(50, 3, generator=generator, dtype=torch.float64)
    incumbent = torch.tensor(0.5, dtype=torch.float64)
    with torch.no_grad():
        expected = LogExpectedImprovement(model, best_f=incumbent)(candidates.unsqueeze(-2))
        torch.testing.assert_close(_log_ei(model, candidates, incumbent), expected)


def fitted_gp_and_pool(
    n: int = 40, pool: int = 3000, input_warp: bool = False, scale: float = 10.0
) -> tuple:
    """A fitted GP (input normalisation, standardised outcomes) and a pool around it."""
    generator = torch.Generator().manual_seed(3)
    X = 4 * torch.rand(n, 3, generator=generator, dtype=torch.float64) - 2
    y = -(X**2).sum(-1, keepdim=True) + 0.05 * torch.randn(n, 1, generator=generator)
    candidates = 4 * torch.rand(pool, 3, generator=generator, dtype=torch.float64) - 2
    bounds = torch.tensor([[-2.0] * 3, [2.0] * 3], dtype=torch.float64)
    return fit_gp(X, scale * y + 3, bounds, input_warp), X, candidates


def test_the_log_ei_bound_keeps_above_gpytorchs_variance_floor() -> None:
    from discovery import acquisition

    # outcomes a millionth wide: every posterior variance is raised to GPyTorch's floor
    model, X, candidates = fitted_gp_and_pool(scale=1e-6)
    with torch.no_grad():
        incumbent = model.posterior(X).mean.max()
        exact = acquisition._log_ei(model, candidates, incumbent)
        bound = acquisition._log_ei_bound(model, candidates, incumbent)
    assert bound is not None and (bound >= exact - 1e-9).all()


@pytest.mark.parametrize("input_warp", [False, True])
def test_the_log_ei_bound_never_falls_below_the_exact_score(
    monkeypatch: pytest.MonkeyPatch, input_warp: bool
) -> None:
    from discovery import acquisition

    model, X, candidates = fitted_gp_and_pool(input_warp=input_warp)
    with torch.no_grad():
        incumbent = model.posterior(X).mean.max()
        exact = acquisition._log_ei(model, candidates, incumbent)
        bound = acquisition._log_ei_bound(model, candidates, incumbent)
        assert bound is not None and (bound >= exact - 1e-9).all()
        assert (bound - exact).max() > 0.1  # 16 of 40 points: a bound, not the score
        # conditioned on every training point, the bound is the exact score
        monkeypatch.setattr(acquisition, "BOUND_NEIGHBOURS", X.shape[0])
        full = acquisition._log_ei_bound(model, candidates, incumbent)
        assert full is not None
        torch.testing.assert_close(full, exact)


def test_the_pruned_shortlist_equals_scoring_every_candidate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from discovery import acquisition

    model, X, candidates = fitted_gp_and_pool()
    scored: list[int] = []
    exact = acquisition._log_ei

    def counted(model, rows, incumbent):  # type: ignore[no-untyped-def]
        scored.append(rows.shape[0])
        return exact(model, rows, incumbent)

    monkeypatch.setattr(acquisition, "_log_ei", counted)
    pruned = acquisition.shortlist(model, candidates, X, 64)
    assert sum(scored) < candidates.shape[0] / 4  # most were ruled out by their bound
    monkeypatch.setattr(acquisition, "_log_ei_bound", lambda *args: None)
    assert torch.equal(pruned, acquisition.shortlist(model, candidates, X, 64))


# -- linear parameter constraints --------------------------------------------------------
SALTS = SearchSpace(
    (ContinuousParameter("a", 0.0, 1.0), ContinuousParameter("b", 0.0, 1.0)),
    linear=(LinearConstraint((("a", 1.0), ("b", 2.0)), 1.2),),
)


def test_a_linear_constraint_is_validated_sampled_and_stored() -> None:
    with pytest.raises(ValueError, match=r"1\*a \+ 2\*b <= 1.2 fails"):
        SALTS.validate({"a": 1.0, "b": 0.5})
    points = SALTS.sample(200, np.random.default_rng(0))
    assert all(p["a"] + 2 * p["b"] <= 1.2 for p in points)
    assert SearchSpace.from_dict(SALTS.to_dict()) == SALTS
    with pytest.raises(ValueError, match="not a continuous parameter"):
        SearchSpace(SALTS.parameters, linear=(LinearConstraint((("c", 1.0),), 1.0),))


#: Five dopants of at most 0.5 each, 0.2 in all: 1 draw in 10,000 of the box lands.
DOPANTS = SearchSpace(
    (
        ContinuousParameter("anneal_T", 300.0, 900.0),
        *(ContinuousParameter(f"d{i}", 0.0, 0.5) for i in range(1, 6)),
    ),
    linear=(LinearConstraint(tuple((f"d{i}", 1.0) for i in range(1, 6)), 0.2),),
)


def test_a_small_corner_of_the_box_is_sampled_inside_it_uniformly() -> None:
    points = DOPANTS.sample(2000, np.random.default_rng(0))
    for point in points:
        DOPANTS.validate(point)
    X = DOPANTS.encode(points)
    total = X[:, 1:].sum(axis=1)
    # uniform in {d >= 0, sum(d) <= s} in 5 dimensions: the sum has mean 5 s / 6, each
    # dopant s / 6; the unconstrained temperature is uniform on its whole range
    assert total.mean() == pytest.approx(5 / 6 * 0.2, abs=0.005)
    np.testing.assert_allclose(X[:, 1:].mean(axis=0), 0.2 / 6, atol=0.003)
    assert X[:, 0].mean() == pytest.approx(600.0, abs=15.0)
    assert X[:, 0].min() < 320.0 and X[:, 0].max() > 880.0


def test_a_long_thin_polytope_is_sampled_evenly_along_its_length() -> None:
    # a four-part mixture with two parts at most 0.02 together: 1 Dirichlet draw in 830
    # lands, and the rest is a thin sliver along c + d ~ 1; one start mixed it badly
    names = ("a", "b", "c", "d")
    thin = SearchSpace(
        tuple(ContinuousParameter(n, 0.0, 1.0) for n in names),
        (SimplexConstraint(names, 1.0),),
        (LinearConstraint((("a", 1.0), ("b", 1.0)), 0.02),),
    )
    rng = np.random.default_rng(0)
    X = thin.encode(thin.sample(3000, rng, tries=1))  # inside the polytope at once
    reference = rng.dirichlet(np.ones(4), size=400_000)
    reference = reference[reference[:, 0] + reference[:, 1] <= 0.02]  # rejection: exact
    assert len(reference) > 300
    np.testing.assert_allclose(X.mean(axis=0), reference.mean(axis=0), atol=0.03)
    # a diagonal strip |x - y| <= 0.001: even along its length, not bunched at one end
    strip = SearchSpace(
        (ContinuousParameter("x", 0.0, 1.0), ContinuousParameter("y", 0.0, 1.0)),
        linear=(
            LinearConstraint((("x", 1.0), ("y", -1.0)), 0.001),
            LinearConstraint((("x", -1.0), ("y", 1.0)), 0.001),
        ),
    )
    x = strip.encode(strip.sample(3000, rng, tries=1))[:, 0]
    np.testing.assert_allclose(np.quantile(x, [0.25, 0.5, 0.75]), [0.25, 0.5, 0.75], atol=0.05)


def test_open_space_proposals_respect_the_linear_constraint() -> None:
    rng = np.random.default_rng(2)
    X = SALTS.encode(SALTS.sample(10, rng))
    y = (X[:, 0] + X[:, 1])[:, None]  # pushes against the constraint
    problem = PlanningProblem(SALTS, MAXIMIZE, X, y, X[:0])
    plan = GPPlanner(mc_samples=32, num_restarts=2, raw_samples=64).plan(problem, 3, seed=0)
    for suggestion in plan.suggestions:
        SALTS.validate(suggestion.parameters)
    assert max(s.parameters["a"] + 2 * s.parameters["b"] for s in plan.suggestions) > 1.0


# -- hunting the pool's top (active search) ---------------------------------------------
def fitted_bump(n: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor, SingleTaskGP]:
    """A grid pool, the bump on it, and a GP fitted to every ``n``-th grid point."""
    pool = grid_pool()
    values = bump(pool)
    measured = torch.as_tensor(pool[::n])
    model = fit_gp(
        measured, torch.as_tensor(values[::n, None]), torch.tensor([[0.0] * 2, [1.0] * 2])
    )
    return pool, values, measured, model


def test_the_top_level_is_the_pools_top_quantile_when_the_model_is_sure() -> None:
    pool, values, _, model = fitted_bump(1)  # every point measured: the posterior is sharp
    level = top_level(model, torch.as_tensor(pool), 0.05)
    assert level == pytest.approx(np.quantile(values, 0.95), abs=0.02)
    assert top_level(model, torch.as_tensor(pool), 0.5) == pytest.approx(
        np.median(values), abs=0.02
    )


def test_the_top_level_leaves_the_metrics_top_set_above_it() -> None:
    pool = grid_pool()  # 121 points: the top 5% is ceil(6.05) = 7 of them
    values = pool[:, 0] + 0.37 * pool[:, 1]  # no ties on the grid
    unit_square = torch.tensor([[0.0] * 2, [1.0] * 2])
    model = fit_gp(torch.as_tensor(pool), torch.as_tensor(values[:, None]), unit_square)
    level = top_level(model, torch.as_tensor(pool), 0.05)
    ranked = np.sort(values)[::-1]
    assert ranked[7] < level < ranked[6]  # the 7th best is in, the 8th out


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_the_top_level_needs_a_fraction_strictly_between_zero_and_one(fraction: float) -> None:
    _, _, measured, model = fitted_bump(7)
    with pytest.raises(ValueError, match=r"fraction: must be in \(0, 1\)"):
        top_level(model, measured, fraction)


def test_the_top_acquisition_is_the_posterior_tail_above_the_level() -> None:
    pool, _, _, model = fitted_bump(7)
    candidates = torch.as_tensor(pool)
    acqf = LogProbabilityOfTop(model, 0.6)
    posterior = model.posterior(candidates)
    z = (posterior.mean[:, 0] - 0.6) / posterior.variance[:, 0].sqrt()
    expected = stats.norm.logcdf(z.detach().numpy())
    np.testing.assert_allclose(acqf(candidates.unsqueeze(-2)).detach(), expected, atol=1e-6)


def test_a_pending_experiment_believed_to_miss_lowers_its_neighbours_chances() -> None:
    pool, _, _, model = fitted_bump(7)
    acqf = LogProbabilityOfTop(model, top_level(model, torch.as_tensor(pool)))
    candidates = torch.as_tensor(pool).unsqueeze(-2)
    alone = acqf(candidates)
    peak = int(alone.argmax())
    distance = np.linalg.norm(pool - pool[peak], axis=1)
    acqf.set_X_pending(torch.as_tensor(pool[[peak]]))
    believed = acqf(candidates)
    near, far = (distance > 0) & (distance < 0.15), distance > 0.8
    # the expected top finds next to it drop (the batch spreads out); far ones stay
    assert believed[near].exp().sum() < 0.7 * alone[near].exp().sum()
    assert torch.allclose(believed[far].exp(), alone[far].exp(), atol=0.01)
    acqf.set_X_pending(None)
    assert torch.equal(acqf(candidates), alone)


def test_a_pending_experiment_believed_at_its_mean_keeps_its_neighbours_chances() -> None:
    pool, _, _, model = fitted_bump(7)
    acqf = LogProbabilityOfTop(model, top_level(model, torch.as_tensor(pool)), belief="mean")
    candidates = torch.as_tensor(pool).unsqueeze(-2)
    alone = acqf(candidates)
    peak = int(alone.argmax())
    distance = np.linalg.norm(pool - pool[peak], axis=1)
    near = (distance > 0) & (distance < 0.15)
    acqf.set_X_pending(torch.as_tensor(pool[[peak]]))
    # the kriging believer: the mean stays, the spread shrinks, so likely finds stay likely
    means = [m.posterior(torch.as_tensor(pool)).mean[:, 0] for m in (model, acqf.believed)]
    assert torch.allclose(means[0], means[1], atol=1e-6)
    assert acqf(candidates)[near].exp().sum() > 0.99 * alone[near].exp().sum()


def test_the_top_acquisition_knows_only_two_beliefs() -> None:
    _, _, _, model = fitted_bump(7)
    with pytest.raises(ValueError, match=r"belief: one of \('miss', 'mean'\), got 'hit'"):
        LogProbabilityOfTop(model, 0.5, belief="hit")


def test_the_top_acquisition_scores_one_point_per_t_batch() -> None:
    pool, _, _, model = fitted_bump(7)
    with pytest.raises(ValueError, match="one point per t-batch"):
        LogProbabilityOfTop(model, 0.5)(torch.as_tensor(pool[:4]).unsqueeze(0))


def test_the_top_acquisition_needs_a_gp_without_a_prior() -> None:
    with pytest.raises(ValueError, match=r"top acquisition needs a GP surrogate.*ensemble"):
        make_planner("ensemble+top")
    with pytest.raises(ValueError, match=r"top acquisition needs a GP.*not a prior mean"):
        GPPlanner(acquisition="top", prior=lambda rows: np.zeros(len(rows)))


def test_the_top_acquisition_needs_reference_points() -> None:
    _, _, measured, model = fitted_bump(7)
    inputs = AcquisitionInputs(model, measured, torch.zeros(len(measured), 1))
    with pytest.raises(ValueError, match="top acquisition needs reference points"):
        make_acquisition("top", inputs)


def two_bumps() -> tuple[np.ndarray, PlanningProblem]:
    """A 21 x 21 grid with two bumps of nearly equal height, 20 measured and 1 pending."""
    pool = grid_pool(21)
    values = sum(
        h * np.exp(-10 * ((pool[:, 0] - a) ** 2 + (pool[:, 1] - b) ** 2))
        for h, a, b in ((1.0, 0.75, 0.25), (0.97, 0.25, 0.75))
    )
    return pool, problem_on(pool, values, np.arange(0, len(pool), 23), pending=np.array([1]))


def test_a_batch_hunting_the_top_covers_two_promising_regions() -> None:
    # believing its picks miss spreads the batch over both bumps
    pool, problem = two_bumps()
    plan = make_planner("gp+top").plan(problem, 6, seed=0)
    picks = [s.candidate for s in plan.suggestions]
    assert len(set(picks)) == 6
    assert problem.available is not None and all(problem.available[picks])
    right = sum(pool[p, 0] > 0.5 for p in picks)
    assert 2 <= right <= 4  # without the beliefs all six crowd one bump


def test_a_last_batch_in_the_endgame_stays_with_the_likelier_bump() -> None:
    pool, problem = two_bumps()
    spent = len(problem.X) + len(problem.X_pending)
    planner = make_planner("gp+top+endgame")
    assert isinstance(planner, GPPlanner)
    right = []  # picks on the right bump, open-ended, one batch before the endgame, in it
    for budget in (None, spent + 6 * (ENDGAME_BATCHES + 1), spent + 6 * ENDGAME_BATCHES):
        budgeted = replace(problem, budget=budget)
        picks = [s.candidate for s in planner.plan(budgeted, 6, seed=0).suggestions]
        right.append(sum(pool[p, 0] > 0.5 for p in picks))
    # believing misses spreads the batch over both bumps; believing means crowds one
    assert 2 <= right[0] <= 4 and right[1] == right[0]
    assert right[2] == 6


def test_a_believer_batch_stays_with_the_likelier_bump_without_a_budget() -> None:
    pool, problem = two_bumps()
    picks = [s.candidate for s in make_planner("gp+top+believer").plan(problem, 6, 0).suggestions]
    # every batch believes its picks at their mean, as an endgame's last batches do
    assert sum(pool[p, 0] > 0.5 for p in picks) == 6
    last = replace(problem, budget=len(problem.X) + len(problem.X_pending) + 6)
    endgame = make_planner("gp+top+endgame").plan(last, 6, seed=0).suggestions
    assert picks == [s.candidate for s in endgame]


def test_the_endgame_counts_pending_experiments_as_spent() -> None:
    planner = GPPlanner(acquisition="top", endgame_batches=3)
    pool = grid_pool()
    measured, pending = np.arange(0, 60, 2), np.arange(1, 25, 2)  # 30 measured, 12 pending
    problem = problem_on(pool, bump(pool), measured, pending)
    # 70 - 42 = 28 left: 7 batches of 4 but 3 of 10; 54 - 42 = 12: the last 3 of 4
    assert [planner.in_endgame(replace(problem, budget=70), q) for q in (4, 10)] == [False, True]
    assert planner.in_endgame(replace(problem, budget=54), 4) is True
    assert planner.in_endgame(replace(problem, budget=55), 4) is False
    assert GPPlanner(acquisition="top").in_endgame(replace(problem, budget=54), 4) is False


def test_hunting_the_top_of_an_open_space_samples_the_space() -> None:
    rng = np.random.default_rng(2)
    X = SALTS.encode(SALTS.sample(10, rng))
    problem = PlanningProblem(SALTS, MAXIMIZE, X, (X[:, 0] + X[:, 1])[:, None], X[:0])
    planner = GPPlanner(acquisition="top", num_restarts=2, raw_samples=64)
    plan = planner.plan(problem, 3, seed=0)
    assert len(plan.suggestions) == 3
    for suggestion in plan.suggestions:
        SALTS.validate(suggestion.parameters)
    # y = a + b: every pick clears the top 5% of the space (a + b >= 0.95 or so)
    assert min(s.parameters["a"] + s.parameters["b"] for s in plan.suggestions) > 0.9


# -- ranking in the pool's top, from joint samples (topk) --------------------------------
def prepared_topk(n: int, belief: str = "miss") -> tuple[np.ndarray, LogProbabilityInTop]:
    """The grid pool and ``topk`` on a GP fitted to every ``n``-th point, prepared on it."""
    pool, _, _, model = fitted_bump(n)
    acqf = LogProbabilityInTop(model, torch.as_tensor(pool), belief, samples=512)
    acqf.prepare(torch.as_tensor(pool))
    return pool, acqf


def chances(acqf: LogProbabilityInTop, points: np.ndarray) -> torch.Tensor:
    """Each point's probability of ranking in the top, shape ``n``."""
    return acqf(torch.as_tensor(points).unsqueeze(-2)).exp()


def test_topk_chances_add_up_to_the_size_of_the_top_set() -> None:
    pool, acqf = prepared_topk(7)
    # every sample ranks exactly k = ceil(0.05 * 121) = 7 of the pool in its top, and so
    # does the analytic sample that completes the counts, give or take its approximation
    assert float(chances(acqf, pool).sum()) == pytest.approx(7, abs=0.01)


def test_topk_ranks_candidates_no_sample_puts_in_the_top_by_their_marginal_chance() -> None:
    pool, acqf = prepared_topk(7)
    log_p = acqf(torch.as_tensor(pool).unsqueeze(-2)).numpy()
    columns = acqf._indices(torch.as_tensor(pool))
    tail = np.flatnonzero(acqf.member[:, columns].sum(0).numpy() == 0)
    assert len(tail) > 50  # most of the pool, as late in a campaign most of what is left
    model = acqf.model
    with torch.no_grad():
        f = acqf.sampler(model.posterior(acqf.reference))[..., 0]  # the samples prepared
        thresholds = f.topk(acqf.count, dim=-1).values[:, -1].numpy()
        posterior = model.posterior(torch.as_tensor(pool[tail]))
    mean, sigma = posterior.mean[:, 0].numpy(), posterior.variance[:, 0].sqrt().numpy()
    chance = stats.norm.sf((thresholds - mean[:, None]) / sigma[:, None]).mean(1)
    # not tied at a floor, where the batch would go by pool order: each its marginal chance
    assert np.isfinite(log_p[tail]).all() and len(set(log_p[tail])) == len(tail)
    assert np.exp(log_p[tail]) * 513 == pytest.approx(chance, rel=1e-6)
    assert np.exp(log_p[tail]).max() < 1 / 513  # less than one sample's worth


def test_topk_is_sure_of_the_top_set_when_every_point_is_measured() -> None:
    pool = grid_pool()
    values = pool[:, 0] + 0.37 * pool[:, 1]  # no ties on the grid
    unit_square = torch.tensor([[0.0] * 2, [1.0] * 2])
    model = fit_gp(torch.as_tensor(pool), torch.as_tensor(values[:, None]), unit_square)
    acqf = LogProbabilityInTop(model, torch.as_tensor(pool), samples=512)
    acqf.prepare(torch.as_tensor(pool))
    p = chances(acqf, pool)
    top = np.argsort(values)[-7:]
    assert set(torch.topk(p, 7).indices.tolist()) == set(top.tolist())
    assert float(p[top].min()) > 0.9


def test_a_pending_experiment_believed_to_miss_the_topk_passes_its_chance_to_rivals() -> None:
    pool, acqf = prepared_topk(7)
    alone = chances(acqf, pool)
    pending = int((alone - 0.5).abs().argmin())  # a coin flip: in the top or not
    rivals = (alone > 0.05) & (alone < 0.95)
    rivals[pending] = False
    acqf.set_X_pending(torch.as_tensor(pool[[pending]]))
    believed = chances(acqf, pool)
    assert float(believed[pending]) < 0.01  # among the samples kept, it never ranks in the top
    # the top set keeps its size: the place it would have taken goes to the other rivals
    gained = float((believed - alone)[rivals].sum())
    assert gained == pytest.approx(float(alone[pending]), abs=0.02)
    assert torch.all(believed[alone > 0.99] > 0.99)
    acqf.set_X_pending(None)
    assert torch.equal(chances(acqf, pool), alone)


def test_in_the_endgame_topk_believes_nothing_of_a_pending_experiment() -> None:
    pool, acqf = prepared_topk(7, belief="mean")
    alone = chances(acqf, pool)
    acqf.set_X_pending(torch.as_tensor(pool[[int(alone.argmax())]]))
    assert torch.equal(chances(acqf, pool), alone)


def test_topk_scores_only_the_candidates_it_was_prepared_with() -> None:
    pool, acqf = prepared_topk(7)
    with pytest.raises(ValueError, match="topk scores only the candidates it was prepared with"):
        chances(acqf, np.array([[0.33, 0.33]]))
    acqf.prepare(torch.as_tensor(pool[:3]), torch.as_tensor(np.array([[0.33, 0.33]])))
    assert chances(acqf, np.array([[0.33, 0.33]])).shape == (1,)


def test_a_batch_ranking_in_the_top_covers_two_promising_regions() -> None:
    pool, problem = two_bumps()
    plan = make_planner("gp+topk").plan(problem, 6, seed=0)
    picks = [s.candidate for s in plan.suggestions]
    assert len(set(picks)) == 6
    assert problem.available is not None and all(problem.available[picks])
    right = sum(pool[p, 0] > 0.5 for p in picks)
    assert 2 <= right <= 4  # without the beliefs all six crowd one bump


def test_ranking_in_the_top_of_a_large_pool_shortlists_by_approximate_chances() -> None:
    rng = np.random.default_rng(11)
    pool = rng.random((3000, 2))
    measured = rng.choice(len(pool), 24, replace=False)
    problem = problem_on(pool, bump(pool), measured, np.array([int(np.argmax(bump(pool)))]))
    full = GPPlanner(acquisition="topk", shortlist_above=None).plan(problem, 4, seed=0)
    short = GPPlanner(acquisition="topk", shortlist_above=500, shortlist_min=64)
    kept = short.plan(problem, 4, 0).suggestions
    # many rows are sure to rank in the top 150 here, so the picks may differ among ties
    values = [s.acquisition_value for s in full.suggestions]
    assert [s.acquisition_value for s in kept] == pytest.approx(values, abs=1e-9)
    assert len({s.candidate for s in kept}) == 4


@pytest.mark.parametrize("acquisition", ["topk", "ens"])
def test_a_jointly_scored_acquisition_needs_a_pool(acquisition: str) -> None:
    rng = np.random.default_rng(2)
    X = SALTS.encode(SALTS.sample(10, rng))
    problem = PlanningProblem(SALTS, MAXIMIZE, X, (X[:, 0] + X[:, 1])[:, None], X[:0])
    with pytest.raises(ValueError, match=f"{acquisition} acquisition ranks a pool's candidates"):
        GPPlanner(acquisition=acquisition).plan(problem, 3, seed=0)
    strategy = f"gp+{acquisition}"
    with pytest.raises(ValueError, match=rf"'gp\+{acquisition}' scores a pool of candidates; "):
        check_campaign_shape(make_planner(strategy), 1, 0, pool=False)


@pytest.mark.parametrize(
    ("acquisition", "scorer", "rows", "shortlist_above"),
    [
        # beyond the 4,096 reference points: not every row is sampled jointly
        ("topk", LogProbabilityInTop, 5000, 10_000),
        # beyond the rows whose covariance ens keeps, even with no shortlist asked for
        ("ens", ExpectedTopFinds, ENS_CANDIDATES + 500, None),
    ],
)
def test_a_pool_scored_jointly_is_shortlisted_past_its_limit(
    monkeypatch: pytest.MonkeyPatch,
    acquisition: str,
    scorer: type[LogProbabilityInTop | ExpectedTopFinds],
    rows: int,
    shortlist_above: int | None,
) -> None:
    rng = np.random.default_rng(5)
    pool = rng.random((rows, 2))
    measured = rng.choice(len(pool), 24, replace=False)
    problem = replace(problem_on(pool, bump(pool), measured), budget=60)
    prepared: list[int] = []
    prepare = scorer.prepare

    def counted(self: object, candidates: torch.Tensor, *rest: object) -> None:
        prepared.append(len(candidates))
        prepare(self, candidates, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(scorer, "prepare", counted)
    planner = GPPlanner(acquisition=acquisition, shortlist_above=shortlist_above, shortlist_min=64)
    plan = planner.plan(problem, 4, seed=0)
    assert prepared == [planner.shortlist_size(4)] and len(plan.suggestions) == 4


def test_a_sure_find_pending_leaves_the_other_pending_beliefs_standing() -> None:
    pool, acqf = prepared_topk(7)
    alone = chances(acqf, pool)
    sure, coin = int(alone.argmax()), int((alone - 0.5).abs().argmin())
    assert float(alone[sure]) > 0.99  # in the top in (nearly) every sample
    acqf.set_X_pending(torch.as_tensor(pool[[coin]]))
    coin_only = chances(acqf, pool)
    assert float(coin_only[coin]) < 0.01 < float(alone[coin])
    # believing the sure find missed would leave a few samples at most: it is passed over,
    # in either order, and the coin flip is still believed to miss
    for pending in ([sure, coin], [coin, sure]):
        acqf.set_X_pending(torch.as_tensor(pool[pending]))
        assert torch.equal(chances(acqf, pool), coin_only)


# -- nonmyopic search: the top finds expected by the budget's end (ens) ----------------
def prepared_ens(budget_left: int | None, n: int = 7) -> tuple[np.ndarray, ExpectedTopFinds]:
    """The grid pool and ``ens`` on a GP fitted to every ``n``-th point, prepared on it."""
    pool, _, _, model = fitted_bump(n)
    acqf = ExpectedTopFinds(model, top_level(model, torch.as_tensor(pool)), budget_left)
    acqf.prepare(torch.as_tensor(pool))
    return pool, acqf


def ens_scores(acqf: ExpectedTopFinds, points: np.ndarray) -> torch.Tensor:
    return acqf(torch.as_tensor(points).unsqueeze(-2))


@pytest.mark.parametrize("budget_left", [None, 0, 1])
def test_with_nothing_left_to_look_ahead_to_ens_is_the_top_chance(
    budget_left: int | None,
) -> None:
    pool, acqf = prepared_ens(budget_left)
    top = LogProbabilityOfTop(acqf.model, acqf.level)(torch.as_tensor(pool).unsqueeze(-2))
    torch.testing.assert_close(ens_scores(acqf, pool), top.exp())


@pytest.mark.parametrize("reward", ["final", "cumulative"])
def test_ens_adds_the_best_chances_left_after_each_outcome_of_the_candidate(reward: str) -> None:
    # brute force for two candidates: condition the GP on each Gauss-Hermite outcome
    pool, acqf = prepared_ens(budget_left=6)
    acqf.reward = reward
    acqf.set_X_pending(None)
    candidates = torch.as_tensor(pool)
    level, model = acqf.level, acqf.model
    scores = ens_scores(acqf, pool)
    nodes, weights = np.polynomial.hermite_e.hermegauss(8)
    # 6 left: this one and 5 after it, the j-th of them the (j + 1)-th experiment from now
    later = np.ones(5) if reward == "final" else 1 - np.arange(1, 6) / 6

    def chances(model: SingleTaskGP) -> np.ndarray:
        posterior = model.posterior(candidates)
        z = (level - posterior.mean[:, 0]) / posterior.variance[:, 0].sqrt()
        return stats.norm.sf(z.numpy())

    with torch.no_grad():
        for row in (0, 60):
            x = candidates[[row]]
            outcome = model.posterior(x, observation_noise=True)
            mean, sd = float(outcome.mean), float(outcome.variance.sqrt())
            future = 0.0
            for t, w in zip(nodes, weights / weights.sum(), strict=True):
                told = model.condition_on_observations(x, torch.tensor([[mean + sd * t]]))
                chance = chances(told)
                chance[row] = 0.0
                future += w * np.sort(chance)[::-1][:5] @ later
            own = chances(model)[row]
            assert float(scores[row]) == pytest.approx(own + future, rel=1e-4)


def test_ens_knows_two_rewards() -> None:
    _, acqf = prepared_ens(budget_left=6)
    with pytest.raises(ValueError, match=r"reward: one of \('final', 'cumulative'\), got 'x'"):
        ExpectedTopFinds(acqf.model, acqf.level, 6, reward="x")


def test_ens_looks_ahead_only_to_experiments_the_budget_has_left() -> None:
    pool, acqf = prepared_ens(budget_left=5)
    before = ens_scores(acqf, pool)
    picks = torch.as_tensor(pool[[0, 1]])
    acqf.set_X_pending(picks)  # 5 - 2 pending: 2 experiments after the next one
    pending = ens_scores(acqf, pool)
    shorter = ExpectedTopFinds(acqf.believed, acqf.level, budget_left=3)
    shorter.prepare(torch.as_tensor(pool))
    # the same as three left and nothing pending, save that the picks are not looked to
    assert (pending <= ens_scores(shorter, pool) + 1e-9).all()
    assert not torch.allclose(pending, before)
    acqf.set_X_pending(None)
    torch.testing.assert_close(ens_scores(acqf, pool), before)


def test_a_long_budget_makes_ens_pick_where_an_outcome_teaches_most() -> None:
    # a short budget takes the likeliest find; a long one a point whose outcome moves
    # many neighbours' chances
    pool, short = prepared_ens(budget_left=1)
    _, long = prepared_ens(budget_left=40)
    assert int(ens_scores(short, pool).argmax()) != int(ens_scores(long, pool).argmax())
    gain = ens_scores(long, pool) - ens_scores(short, pool)
    assert gain.min() > 0


def test_ens_scores_only_prepared_candidates_and_at_most_its_limit() -> None:
    _, acqf = prepared_ens(budget_left=10)
    with pytest.raises(ValueError, match="ens scores only the candidates it was prepared"):
        acqf(torch.tensor([[[0.123, 0.456]]], dtype=torch.float64))
    too_many = torch.rand(ENS_CANDIDATES + 1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=f"ens scores at most {ENS_CANDIDATES}"):
        acqf.prepare(too_many)
    with pytest.raises(ValueError, match="budget_left: must be >= 0, got -1"):
        ExpectedTopFinds(acqf.model, acqf.level, budget_left=-1)


def test_a_budgeted_ens_batch_is_distinct_available_and_spread() -> None:
    pool, problem = two_bumps()
    budgeted = replace(problem, budget=len(problem.X) + 1 + 30)
    plan = make_planner("gp+ens").plan(budgeted, 6, seed=0)
    picks = [s.candidate for s in plan.suggestions]
    assert len(set(picks)) == 6
    assert problem.available is not None and all(problem.available[picks])
    assert 1 <= sum(pool[p, 0] > 0.5 for p in picks) <= 5  # not all on one bump


def test_a_batch_larger_than_ens_keeps_is_shortlisted_to_what_it_keeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 32 rows per point of a 10-point batch (320) would pass the rows ens keeps (here 300)
    import discovery.acquisition as acquisition
    import discovery.planners as planners

    monkeypatch.setattr(acquisition, "ENS_CANDIDATES", 300)
    monkeypatch.setattr(planners, "ENS_CANDIDATES", 300)
    rng = np.random.default_rng(5)
    pool = rng.random((400, 2))
    measured = rng.choice(len(pool), 24, replace=False)
    problem = replace(problem_on(pool, bump(pool), measured), budget=60)
    plan = GPPlanner(acquisition="ens", shortlist_min=256).plan(problem, 10, seed=0)
    assert len({s.candidate for s in plan.suggestions}) == 10
