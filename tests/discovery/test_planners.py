"""Planners over a discrete pool and over open boxes (simplex, categorical).

GP problems are kept small (12-20 training points, pools of at most 150) and every GP plan
that several tests inspect is computed once per module.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from discovery.acquisition import (
    ACQUISITIONS,
    AcquisitionInputs,
    make_acquisition,
    qlognei,
    register_acquisition,
)
from discovery.domain import (
    Direction,
    ModelArtifact,
    Objective,
    OutcomeConstraint,
    canonical_strategy,
)
from discovery.planners import (
    PLANNERS,
    GPPlanner,
    Plan,
    PlanningProblem,
    RandomPlanner,
    make_planner,
    with_acquisition,
    with_surrogate,
)
from discovery.spaces import (
    CategoricalParameter,
    ContinuousParameter,
    SearchSpace,
    SimplexConstraint,
)
from discovery.surrogates import data_hash, load_gp

SMALL_GP = GPPlanner(mc_samples=64, num_restarts=2, raw_samples=64)
HEX64 = re.compile(r"[0-9a-f]{64}")

SOLVENT_SPACE = SearchSpace(
    (
        ContinuousParameter("x", -1.0, 2.0),
        CategoricalParameter("solvent", ("water", "ethanol", "toluene")),
    )
)
MIXTURE_SPACE = SearchSpace(
    (
        ContinuousParameter("a", 0.0, 1.0),
        ContinuousParameter("b", 0.0, 1.0),
        ContinuousParameter("c", 0.0, 1.0),
        ContinuousParameter("temperature", 20.0, 80.0),
    ),
    (SimplexConstraint(("a", "b", "c"), 1.0),),
)
MAXIMIZE_Y = (Objective("y", Direction.MAXIMIZE),)
MINIMIZE_Y = (Objective("y", Direction.MINIMIZE),)


def solvent_response(X: np.ndarray) -> np.ndarray:
    """``n x 1`` smooth test response on SOLVENT_SPACE encodings: best near x = 1, ethanol."""
    return (-((X[:, 0] - 1.0) ** 2) + 0.5 * X[:, 2] - 0.3 * X[:, 3])[:, None]


def mixture_response(X: np.ndarray) -> np.ndarray:
    """``n x 1`` response on MIXTURE_SPACE encodings: grows with ``a`` and temperature."""
    return (2.0 * X[:, 0] + 0.5 * X[:, 1] + 0.01 * X[:, 3])[:, None]


def pool_picks(plan: Plan) -> list[int]:
    """Candidate indices of a pool plan, in suggestion order (each must name a pool row)."""
    picks = [s.candidate for s in plan.suggestions]
    assert all(isinstance(i, int) for i in picks), picks
    return [int(i) for i in picks if i is not None]


def to_unit(space: SearchSpace, X: np.ndarray) -> np.ndarray:
    """Scale encoded points to the unit cube of the space's bounds."""
    lower, upper = space.bounds()
    return (X - lower) / (upper - lower)


def values_given_pending(problem: PlanningProblem, plan: Plan, seed: int) -> list[float]:
    """Recompute each suggestion's qLogNEI given the pending points and the earlier picks.

    The model is rebuilt from the plan's artifact, so no refit is needed. Sequential
    greedy batch selection must report exactly these values.
    """
    assert plan.model is not None
    sign = problem.objectives[0].direction.sign
    train_X = torch.as_tensor(problem.X, dtype=torch.float64)
    train_Y = torch.as_tensor(sign * problem.Y[:, :1], dtype=torch.float64)
    bounds = torch.as_tensor(GPPlanner._bounds(problem), dtype=torch.float64)
    model = load_gp(plan.model.weights, train_X, train_Y, bounds)
    chosen = torch.as_tensor(
        problem.space.encode([s.parameters for s in plan.suggestions]), dtype=torch.float64
    )
    pending = torch.as_tensor(problem.X_pending, dtype=torch.float64)
    values = []
    for k in range(len(chosen)):
        acqf = qlognei(model, train_X, torch.cat([pending, chosen[:k]]), 64, seed)
        with torch.no_grad():
            values.append(float(acqf(chosen[k : k + 1].unsqueeze(0))))
    return values


def pool_problem(
    seed: int = 0, n_pool: int = 150, n_measured: int = 12, n_pending: int = 3
) -> tuple[PlanningProblem, np.ndarray, np.ndarray]:
    """A pool problem on SOLVENT_SPACE; returns it with the measured and pending indices."""
    rng = np.random.default_rng(seed)
    pool = SOLVENT_SPACE.encode(SOLVENT_SPACE.sample(n_pool, rng))
    order = rng.permutation(n_pool)
    measured, pending = order[:n_measured], order[n_measured : n_measured + n_pending]
    available = np.ones(n_pool, bool)
    available[measured] = False
    available[pending] = False
    problem = PlanningProblem(
        space=SOLVENT_SPACE,
        objectives=MAXIMIZE_Y,
        X=pool[measured],
        Y=solvent_response(pool[measured]),
        X_pending=pool[pending],
        pool=pool,
        available=available,
    )
    return problem, measured, pending


@pytest.fixture(scope="module")
def pool_case() -> tuple[PlanningProblem, np.ndarray, np.ndarray, Plan]:
    problem, measured, pending = pool_problem()
    return problem, measured, pending, SMALL_GP.plan(problem, 4, seed=0)


@pytest.fixture(scope="module")
def simplex_case() -> tuple[PlanningProblem, Plan]:
    rng = np.random.default_rng(3)
    X = MIXTURE_SPACE.encode(MIXTURE_SPACE.sample(15, rng))
    # the model's favourite corner (a = 1, hot) is already pending
    pending = MIXTURE_SPACE.encode([{"a": 1.0, "b": 0.0, "c": 0.0, "temperature": 80.0}])
    problem = PlanningProblem(MIXTURE_SPACE, MAXIMIZE_Y, X, mixture_response(X), pending)
    return problem, SMALL_GP.plan(problem, 3, seed=1)


# -- PlanningProblem -----------------------------------------------------------------------


def test_available_indices_follow_the_mask_or_default_to_the_whole_pool() -> None:
    problem, measured, pending = pool_problem(n_pool=20, n_measured=3, n_pending=2)
    expected = sorted(set(range(20)) - set(measured) - set(pending))
    assert problem.available_indices().tolist() == expected
    whole = PlanningProblem(
        SOLVENT_SPACE, MAXIMIZE_Y, problem.X, problem.Y, problem.X_pending, pool=problem.pool
    )
    assert whole.available_indices().tolist() == list(range(20))
    open_space = PlanningProblem(SOLVENT_SPACE, MAXIMIZE_Y, problem.X, problem.Y, problem.X_pending)
    assert open_space.available_indices().size == 0


# -- registry ------------------------------------------------------------------------------


def test_make_planner_builds_each_registered_strategy() -> None:
    assert isinstance(make_planner("gp"), GPPlanner)
    assert isinstance(make_planner("random"), RandomPlanner)
    assert {name: make_planner(name).name for name in PLANNERS} == {
        "gp": "gp",
        "ensemble": "ensemble",
        "gnn": "gnn",
        "transformer": "transformer",
        "gp+qucb": "gp+qucb",
        "botorch": "botorch",
        "gp+warp": "gp+warp",
        "gp+iwarp+warp": "gp+iwarp+warp",
        "portfolio": "portfolio",
        "random": "random",
    }


@pytest.mark.parametrize(
    "name",
    [
        "gp",
        "gp+qlognei",
        "gp+warp+qucb",
        "gp+warp+top+iwarp+believer",
        "gp+endgame+top",
        "bayesgp+iwarp+top+warp",
        "ensemble+qucb+warp",
        "gp+ens+iwarp+warp",
        "botorch",
        "portfolio",
        "random",
    ],
)
def test_a_strategy_in_one_order_is_what_its_planner_is_named(name: str) -> None:
    assert canonical_strategy(name) == make_planner(name).name
    assert canonical_strategy(canonical_strategy(name)) == canonical_strategy(name)


@pytest.mark.parametrize("text", ["rl:policy:rl-policy:abc", "gp+qucb+qsr", "gp+warp+warp", "gp+"])
def test_text_that_names_no_one_strategy_is_kept_as_written(text: str) -> None:
    assert canonical_strategy(text) == text


def test_make_planner_rejects_unknown_names_listing_the_choices() -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown strategy 'bayes'; choose from \['botorch', 'ensemble', 'gnn', 'gp', .*"
        r"surrogate\[\+acquisition\]\[\+iwarp\]\[\+warp\].*a campaign also takes rl:VERSION",
    ):
        make_planner("bayes")


# -- RandomPlanner -------------------------------------------------------------------------


def test_random_pool_plan_draws_unique_available_candidates() -> None:
    problem, measured, pending = pool_problem(seed=5)
    plan = RandomPlanner().plan(problem, 10, seed=0)
    picks = pool_picks(plan)
    assert len(picks) == 10
    assert len(set(picks)) == 10
    assert set(picks) <= set(problem.available_indices().tolist())
    assert not set(picks) & (set(measured) | set(pending))
    assert problem.pool is not None
    for s, i in zip(plan.suggestions, picks, strict=True):
        assert s.parameters == SOLVENT_SPACE.decode(problem.pool[i])[0]
        assert s.acquisition_value is None
    assert plan.model is None


def test_random_pool_plan_returns_what_is_left_when_the_pool_runs_out() -> None:
    problem, _, _ = pool_problem(n_pool=20, n_measured=12, n_pending=5)
    plan = RandomPlanner().plan(problem, 10, seed=0)
    assert sorted(pool_picks(plan)) == problem.available_indices().tolist()


def test_random_pool_plan_is_reproducible_from_the_seed() -> None:
    problem, _, _ = pool_problem()
    first = pool_picks(RandomPlanner().plan(problem, 5, seed=11))
    assert first == pool_picks(RandomPlanner().plan(problem, 5, seed=11))
    assert first != pool_picks(RandomPlanner().plan(problem, 5, seed=12))


def test_random_open_space_plan_points_validate_on_simplex_and_categories() -> None:
    space = SearchSpace(
        (*MIXTURE_SPACE.parameters, *SOLVENT_SPACE.parameters), MIXTURE_SPACE.simplex
    )
    empty = np.empty((0, space.dim))
    problem = PlanningProblem(space, MAXIMIZE_Y, empty, np.empty((0, 1)), empty)
    plan = RandomPlanner().plan(problem, 25, seed=2)
    assert len(plan.suggestions) == 25
    for s in plan.suggestions:
        assert s.candidate is None
        space.validate(s.parameters)


# -- GPPlanner: refusals -------------------------------------------------------------------


def test_gp_planner_needs_two_measurements() -> None:
    problem, _, _ = pool_problem(n_measured=1)
    with pytest.raises(ValueError, match="at least 2 measurements"):
        SMALL_GP.plan(problem, 2, seed=0)


def test_gp_planner_names_a_device_it_cannot_use() -> None:
    with pytest.raises(ValueError, match=r"device: 'cpu', 'cuda' or None .* not 'tpu'"):
        GPPlanner(device="tpu")
    with pytest.raises(ValueError, match=r"only the gp surrogate .* ensemble places itself"):
        GPPlanner(surrogate="ensemble", device="cuda")
    assert GPPlanner(surrogate="bayesgp").placement().type == "cpu"  # NUTS runs on the CPU
    assert GPPlanner(device="cpu").placement().type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_gp_planner_asked_for_cuda_without_one_says_so() -> None:
    assert GPPlanner().placement().type == "cpu"  # the default falls back
    problem, _, _ = pool_problem(n_measured=4)
    with pytest.raises(ValueError, match="cuda was asked for, and this machine has no CUDA"):
        GPPlanner(device="cuda").plan(problem, 2, seed=0)


# -- GPPlanner over a pool -----------------------------------------------------------------


def test_gp_pool_plan_proposes_q_unique_available_candidates(
    pool_case: tuple[PlanningProblem, np.ndarray, np.ndarray, Plan],
) -> None:
    problem, measured, pending, plan = pool_case
    picks = pool_picks(plan)
    assert len(picks) == 4
    assert len(set(picks)) == 4
    assert set(picks) <= set(problem.available_indices().tolist())
    assert not set(picks) & set(pending.tolist())
    assert not set(picks) & set(measured.tolist())


def test_gp_pool_suggestions_are_the_pool_rows_they_name(
    pool_case: tuple[PlanningProblem, np.ndarray, np.ndarray, Plan],
) -> None:
    problem, _, _, plan = pool_case
    assert problem.pool is not None
    pending_rows = {tuple(row) for row in problem.X_pending}
    for s in plan.suggestions:
        assert s.candidate is not None
        encoded = SOLVENT_SPACE.encode([s.parameters])[0]
        np.testing.assert_array_equal(encoded, problem.pool[s.candidate])
        assert tuple(encoded) not in pending_rows
        SOLVENT_SPACE.validate(s.parameters)
        assert s.acquisition_value is not None and np.isfinite(s.acquisition_value)


def test_gp_pool_plan_returns_a_gp_artifact_hashing_its_training_data(
    pool_case: tuple[PlanningProblem, np.ndarray, np.ndarray, Plan],
) -> None:
    problem, _, _, plan = pool_case
    artifact = plan.model
    assert isinstance(artifact, ModelArtifact)
    assert artifact.kind == "gp"
    assert HEX64.fullmatch(artifact.data_hash)
    expected = data_hash(
        torch.as_tensor(problem.X, dtype=torch.float64),
        torch.as_tensor(problem.Y[:, :1], dtype=torch.float64),
    )
    assert artifact.data_hash == expected
    assert artifact.metrics["n_train"] == 12
    assert len(artifact.metrics["lengthscale"]) == SOLVENT_SPACE.dim
    assert artifact.metrics["noise"] > 0
    assert isinstance(artifact.weights, bytes) and len(artifact.weights) > 0
    assert artifact.version is None


def test_gp_pool_first_pick_value_accounts_for_pending_points(
    pool_case: tuple[PlanningProblem, np.ndarray, np.ndarray, Plan],
) -> None:
    problem, _, _, plan = pool_case
    first = values_given_pending(problem, plan, seed=0)[0]
    assert plan.suggestions[0].acquisition_value == pytest.approx(first, abs=0.25)


def test_gp_pool_every_pick_value_accounts_for_pending_points(
    pool_case: tuple[PlanningProblem, np.ndarray, np.ndarray, Plan],
) -> None:
    problem, _, _, plan = pool_case
    expected = values_given_pending(problem, plan, seed=0)
    reported = [s.acquisition_value for s in plan.suggestions]
    assert reported == pytest.approx(expected, abs=0.25)


def test_gp_pool_plan_is_reproducible_from_the_seed(
    pool_case: tuple[PlanningProblem, np.ndarray, np.ndarray, Plan],
) -> None:
    problem, _, _, plan = pool_case
    again = SMALL_GP.plan(problem, 4, seed=0)
    assert pool_picks(again) == pool_picks(plan)
    assert again.model is not None and plan.model is not None
    assert again.model.data_hash == plan.model.data_hash


def test_gp_pool_plan_returns_what_is_left_when_the_pool_runs_out() -> None:
    problem, _, _ = pool_problem(n_pool=20, n_measured=15, n_pending=3)
    plan = SMALL_GP.plan(problem, 4, seed=0)
    assert sorted(pool_picks(plan)) == problem.available_indices().tolist()


def test_gp_pool_plan_on_an_exhausted_pool_is_empty() -> None:
    problem, _, _ = pool_problem(n_pool=15, n_measured=12, n_pending=3)
    assert problem.available_indices().size == 0
    assert SMALL_GP.plan(problem, 2, seed=0).suggestions == []


@pytest.mark.parametrize(
    ("objectives", "end"), [(MAXIMIZE_Y, "upper"), (MINIMIZE_Y, "lower")], ids=["max", "min"]
)
def test_gp_pool_plan_follows_the_objective_direction(
    objectives: tuple[Objective, ...], end: str
) -> None:
    # a linear trend measured in the middle of [0, 1]: the best candidate is at one end
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    pool = np.linspace(0.0, 1.0, 41)[:, None]
    measured = np.arange(12, 30, 2)
    available = np.ones(41, bool)
    available[measured] = False
    problem = PlanningProblem(
        space, objectives, pool[measured], 3.0 * pool[measured], np.empty((0, 1)), pool, available
    )
    (suggestion,) = SMALL_GP.plan(problem, 1, seed=0).suggestions
    x = suggestion.parameters["x"]
    assert isinstance(x, float)
    assert x >= 0.85 if end == "upper" else x <= 0.15


# -- GPPlanner over an open box ------------------------------------------------------------


def test_gp_simplex_plan_points_lie_on_the_simplex_within_bounds(
    simplex_case: tuple[PlanningProblem, Plan],
) -> None:
    _, plan = simplex_case
    assert len(plan.suggestions) == 3
    lower, upper = MIXTURE_SPACE.bounds()
    for s in plan.suggestions:
        assert s.candidate is None
        MIXTURE_SPACE.validate(s.parameters)
        encoded = MIXTURE_SPACE.encode([s.parameters])[0]
        assert np.all(encoded >= lower) and np.all(encoded <= upper)
        assert abs(encoded[:3].sum() - 1.0) <= 1e-6
        assert s.acquisition_value is not None and np.isfinite(s.acquisition_value)


def test_gp_simplex_plan_points_are_distinct_and_the_first_avoids_pending(
    simplex_case: tuple[PlanningProblem, Plan],
) -> None:
    problem, plan = simplex_case
    unit = to_unit(MIXTURE_SPACE, MIXTURE_SPACE.encode([s.parameters for s in plan.suggestions]))
    pending = to_unit(MIXTURE_SPACE, problem.X_pending)
    assert np.abs(unit[0] - pending).max(axis=1).min() > 1e-3
    for i in range(len(unit)):
        for j in range(i):
            assert np.abs(unit[i] - unit[j]).max() > 1e-3


def test_gp_simplex_plan_artifact_hashes_the_sign_oriented_targets(
    simplex_case: tuple[PlanningProblem, Plan],
) -> None:
    problem, plan = simplex_case
    assert plan.model is not None
    assert HEX64.fullmatch(plan.model.data_hash)
    X = torch.as_tensor(problem.X, dtype=torch.float64)
    Y = torch.as_tensor(problem.Y, dtype=torch.float64)
    assert plan.model.data_hash == data_hash(X, Y)
    assert plan.model.data_hash != data_hash(X, -Y)
    assert plan.model.metrics["n_train"] == 15


def test_gp_simplex_first_pick_value_accounts_for_pending_points(
    simplex_case: tuple[PlanningProblem, Plan],
) -> None:
    problem, plan = simplex_case
    first = values_given_pending(problem, plan, seed=1)[0]
    assert plan.suggestions[0].acquisition_value == pytest.approx(first, abs=0.25)


def test_gp_simplex_every_pick_value_accounts_for_pending_points(
    simplex_case: tuple[PlanningProblem, Plan],
) -> None:
    problem, plan = simplex_case
    expected = values_given_pending(problem, plan, seed=1)
    reported = [s.acquisition_value for s in plan.suggestions]
    assert reported == pytest.approx(expected, abs=0.25)


def test_gp_categorical_box_plan_returns_a_valid_point_with_one_category() -> None:
    rng = np.random.default_rng(4)
    X = SOLVENT_SPACE.encode(SOLVENT_SPACE.sample(14, rng))
    pending = SOLVENT_SPACE.encode([{"x": 1.0, "solvent": "ethanol"}])
    problem = PlanningProblem(SOLVENT_SPACE, MAXIMIZE_Y, X, solvent_response(X), pending)
    plan = SMALL_GP.plan(problem, 1, seed=0)
    (s,) = plan.suggestions
    SOLVENT_SPACE.validate(s.parameters)
    assert s.candidate is None
    assert s.acquisition_value is not None and np.isfinite(s.acquisition_value)
    assert plan.model is not None and HEX64.fullmatch(plan.model.data_hash)


def test_gp_categorical_box_plan_proposes_a_batch() -> None:
    rng = np.random.default_rng(4)
    X = SOLVENT_SPACE.encode(SOLVENT_SPACE.sample(14, rng))
    problem = PlanningProblem(
        SOLVENT_SPACE, MAXIMIZE_Y, X, solvent_response(X), np.empty((0, SOLVENT_SPACE.dim))
    )
    plan = SMALL_GP.plan(problem, 2, seed=0)
    assert len(plan.suggestions) == 2
    for s in plan.suggestions:
        SOLVENT_SPACE.validate(s.parameters)


BOX = SearchSpace((ContinuousParameter("x", 0.0, 1.0), ContinuousParameter("y", 0.0, 1.0)))


def box_corner_problem(pending: list[dict[str, float]]) -> PlanningProblem:
    """A noise-free slope whose best point, the corner (1, 1), is measured already."""
    points = [{"x": 1.0, "y": 1.0}, *BOX.sample(7, np.random.default_rng(0))]
    X = BOX.encode(points)
    empty = np.empty((0, BOX.dim))
    return PlanningProblem(
        BOX, MAXIMIZE_Y, X, X @ [[1.0], [0.5]], BOX.encode(pending) if pending else empty
    )


def test_gp_open_space_never_proposes_a_measured_or_pending_experiment_again() -> None:
    # the optimiser lands on the measured corner; a lab would run it again and again
    pending = [{"x": 1.0, "y": 0.999}]
    problem = box_corner_problem(pending)
    plan = SMALL_GP.plan(problem, 3, seed=0)
    unit = BOX.encode([s.parameters for s in plan.suggestions])  # the box is the unit square
    done = np.vstack([problem.X, problem.X_pending])
    assert np.abs(unit[:, None] - done[None]).max(axis=-1).min() > 1e-4
    assert min(np.abs(unit[i] - unit[j]).max() for i in range(3) for j in range(i)) > 1e-4
    for s in plan.suggestions:
        BOX.validate(s.parameters)
        assert s.acquisition_value is not None and np.isfinite(s.acquisition_value)
    assert unit.sum(axis=1).min() > 1.5  # still near the best corner, not thrown away


def test_a_repeat_is_replaced_inside_the_space_s_constraints() -> None:
    rng = np.random.default_rng(1)
    X = MIXTURE_SPACE.encode(
        [{"a": 1.0, "b": 0.0, "c": 0.0, "temperature": 80.0}, *MIXTURE_SPACE.sample(9, rng)]
    )
    Y = X[:, :1] + X[:, 3:] / 80.0  # best at the measured corner a = 1, 80 degrees
    empty = np.empty((0, MIXTURE_SPACE.dim))
    plan = SMALL_GP.plan(PlanningProblem(MIXTURE_SPACE, MAXIMIZE_Y, X, Y, empty), 2, seed=0)
    unit = to_unit(MIXTURE_SPACE, MIXTURE_SPACE.encode([s.parameters for s in plan.suggestions]))
    assert np.abs(unit[:, None] - to_unit(MIXTURE_SPACE, X)[None]).max(axis=-1).min() > 1e-4
    for s in plan.suggestions:
        MIXTURE_SPACE.validate(s.parameters)
    # drawn around the repeat, rescaled onto the mixture's total: still by the best corner
    assert max(float(s.parameters["a"]) for s in plan.suggestions) > 0.99


def test_a_categorical_space_measured_in_full_proposes_a_repeat_rather_than_nothing() -> None:
    space = SearchSpace((CategoricalParameter("solvent", ("water", "ethanol")),))
    X = space.encode([{"solvent": "water"}, {"solvent": "ethanol"}] * 2)
    empty = np.empty((0, space.dim))
    plan = SMALL_GP.plan(PlanningProblem(space, MAXIMIZE_Y, X, X[:, :1], empty), 1, seed=0)
    assert [s.parameters for s in plan.suggestions] == [{"solvent": "water"}]


def test_random_open_space_draws_choices_not_yet_tried_first() -> None:
    space = SearchSpace((CategoricalParameter("solvent", ("water", "ethanol", "toluene")),))
    X = space.encode([{"solvent": "water"}])
    pending = space.encode([{"solvent": "toluene"}])
    problem = PlanningProblem(space, MAXIMIZE_Y, X, np.ones((1, 1)), pending)
    for seed in range(5):
        (first, second) = RandomPlanner().plan(problem, 2, seed=seed).suggestions
        assert first.parameters == {"solvent": "ethanol"}  # the one choice left
        assert second.parameters["solvent"] in {"water", "ethanol", "toluene"}  # then any


def test_random_open_continuous_draws_are_unchanged_by_the_repeat_check() -> None:
    problem = box_corner_problem([])
    drawn = RandomPlanner().plan(problem, 4, seed=3).suggestions
    assert [s.parameters for s in drawn] == BOX.sample(4, np.random.default_rng(3))


@pytest.mark.parametrize("strategy", ["gp+qucb", "botorch"])
def test_each_acquisition_proposes_distinct_available_pool_rows(strategy: str) -> None:
    rng = np.random.default_rng(3)
    pool = rng.random((40, 2))
    X, Y = pool[:8], (-((pool[:8] - 0.3) ** 2).sum(1, keepdims=True))
    available = np.ones(40, bool)
    available[:10] = False  # measured or pending
    problem = PlanningProblem(
        SearchSpace((ContinuousParameter("a", 0, 1), ContinuousParameter("b", 0, 1))),
        MAXIMIZE_Y,
        X,
        Y,
        pool[8:10],
        pool,
        available,
    )
    plan = make_planner(strategy).plan(problem, 4, seed=0)
    picks = [s.candidate for s in plan.suggestions]
    assert len(set(picks)) == 4 and all(p is not None and p >= 10 for p in picks)
    assert all(s.acquisition_value is not None for s in plan.suggestions)


def test_the_acquisition_registry_refuses_duplicates_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="'qucb' is already registered"):
        register_acquisition("qucb", ACQUISITIONS["qlognei"])
    inputs = AcquisitionInputs(None, torch.zeros(1, 1), torch.zeros(1, 1))  # type: ignore[arg-type]
    unknown = r"unknown acquisition 'pi'; choose from \['ens', 'ensfinal', 'qlogei'"
    with pytest.raises(ValueError, match=unknown):
        make_acquisition("pi", inputs)


@pytest.mark.parametrize(
    ("strategy", "acquisition", "switched"),
    [
        ("gp+top+iwarp+warp+endgame", "qucb", "gp+qucb+iwarp+warp"),
        ("gp+qucb+iwarp", "top", "gp+top+iwarp"),
        ("gp+top+endgame", "top", "gp+top+endgame"),
        ("gp+top+iwarp+warp+believer", "ens", "gp+ens+iwarp+warp+believer"),
        ("gp+top+iwarp+warp+believer", "qlogei", "gp+qlogei+iwarp+warp"),
        ("ensemble", "qsr", "ensemble+qsr"),
        ("gp+iwarp+warp", "qlogei", "gp+qlogei+iwarp+warp"),
        ("botorch", "qucb", "gp+qucb"),
        ("rl:policy:rl-policy:0123456789ab", "qucb", "gp+qucb"),
        ("portfolio", "top", "gp+top"),
    ],
)
def test_switching_acquisition_keeps_the_surrogate_and_flags(
    strategy: str, acquisition: str, switched: str
) -> None:
    assert with_acquisition(strategy, acquisition) == switched
    make_planner(switched)  # a strategy that exists


@pytest.mark.parametrize(
    ("strategy", "surrogate", "switched"),
    [
        ("gp+qucb+iwarp+warp", "ensemble", "ensemble+qucb+warp"),
        ("gp+top+iwarp+warp+endgame", "ensemble", "ensemble+warp"),
        ("gp+top+iwarp+warp+endgame", "bayesgp", "bayesgp+top+iwarp+warp+endgame"),
        ("gp+top+warp+believer", "ensemble", "ensemble+warp"),
        ("ensemble+qsr", "gp", "gp+qsr"),
        ("gp", "gnn", "gnn"),
        ("botorch", "ensemble", "ensemble"),
        ("portfolio", "bayesgp", "bayesgp"),
    ],
)
def test_switching_surrogate_keeps_what_it_serves(
    strategy: str, surrogate: str, switched: str
) -> None:
    assert with_surrogate(strategy, surrogate) == switched
    make_planner(switched)  # a strategy that exists


@pytest.mark.parametrize("strategy", ["gp", "gp+top", "gp+topk", "botorch"])
@pytest.mark.parametrize("unit", [1e-12, 1e9])
def test_an_objective_in_tiny_or_huge_units_is_chosen_for_as_in_plain_ones(
    strategy: str, unit: float
) -> None:
    problem, _, _ = pool_problem(seed=3)
    planner = make_planner(strategy)
    plain = planner.plan(problem, 4, seed=0)
    scaled = planner.plan(replace(problem, Y=problem.Y * unit), 4, seed=0)
    assert pool_picks(scaled) == pool_picks(plain)
    assert plain.model is not None and scaled.model is not None
    assert "objective_scale" not in plain.model.metrics  # fitted as measured
    assert scaled.model.metrics["objective_scale"][0] == pytest.approx(unit, rel=1)


def test_a_constraint_in_tiny_units_is_judged_as_in_plain_ones() -> None:
    problem, measured, _ = pool_problem(seed=4)
    quantity = np.sin(3 * problem.pool[measured, :1])  # n x 1, the constrained quantity
    plain = replace(problem, constraints=(OutcomeConstraint("q", -0.2, 0.5),), C=quantity)
    bounds = OutcomeConstraint("q", -0.2e-12, 0.5e-12)
    tiny = replace(problem, constraints=(bounds,), C=quantity * 1e-12)
    planner = make_planner("gp")
    expected = pool_picks(planner.plan(plain, 3, seed=0))
    assert pool_picks(planner.plan(tiny, 3, seed=0)) == expected
