"""Planners, campaign surrogates and property models on a CUDA device (skipped without one).

Run on a GPU machine with ``pytest --noconftest tests/discovery/test_cuda.py`` (these tests
need no database). The GP planner computes in float64 on both devices, so a CUDA plan is
compared with the CPU plan of the same problem: the fitted noise agrees closely and the
batches share all but at most one pick (a near tie may fall either way).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import numpy as np
import pytest
import torch
from botorch.posteriors.gpytorch import GPyTorchPosterior
from pymatgen.core import Composition, Lattice, Structure

from discovery.campaign_models import fit_surrogate
from discovery.diagnostics import loo_predictions
from discovery.domain import Direction, Objective, OutcomeConstraint
from discovery.ensembles import TrainingConfig
from discovery.planners import GPPlanner, Plan, PlanningProblem, make_planner
from discovery.property_models import PropertyModel, PropertyModelConfig, fit_property_model
from discovery.spaces import ContinuousParameter, SearchSpace, SimplexConstraint
from discovery.surrogates import DTYPE, fit_gp, load_gp

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

Q = 8
CUBE = SearchSpace(tuple(ContinuousParameter(f"x{i}", 0.0, 1.0) for i in range(3)))
ALLOY = SearchSpace(
    tuple(ContinuousParameter(e, 0.0, 1.0) for e in ("Fe", "Ni", "Co", "Cr")),
    (SimplexConstraint(("Fe", "Ni", "Co", "Cr"), 1.0),),
)
ALLOY_BOUNDS = torch.as_tensor(ALLOY.bounds(), dtype=DTYPE)
MAXIMIZE = (Objective("y", Direction.MAXIMIZE),)


def response(X: np.ndarray) -> np.ndarray:
    """``n x 1``: a smooth bump near (0.7, 0.3, ...) with a tilt, plus a little noise."""
    rng = np.random.default_rng(len(X))
    bump = np.exp(-8 * ((X[:, 0] - 0.7) ** 2 + (X[:, 1] - 0.3) ** 2))
    return (bump + 0.2 * X[:, -1] + 0.01 * rng.standard_normal(len(X)))[:, None]


def pool_problem(space: SearchSpace, **extra: object) -> PlanningProblem:
    """40 measurements, 3 pending and a 3,000-row pool of ``space``."""
    rng = np.random.default_rng(0)
    pool = space.encode(space.sample(3000, rng))
    measured, pending = np.arange(40), np.arange(40, 43)
    available = np.ones(len(pool), bool)
    available[:43] = False
    fields: dict = {"objectives": MAXIMIZE, "Y": response(pool[measured]), **extra}
    return PlanningProblem(
        space=space,
        X=pool[measured],
        X_pending=pool[pending],
        pool=pool,
        available=available,
        budget=70,
        **fields,
    )


def picks(plan: Plan) -> set[int]:
    return {int(s.candidate) for s in plan.suggestions if s.candidate is not None}


def on_both(planner: GPPlanner, problem: PlanningProblem) -> tuple[Plan, Plan]:
    """The plan on CUDA and on the CPU; the pool is shortlisted (above 1,000 rows)."""
    planner = replace(planner, shortlist_above=1000)
    cuda = replace(planner, device="cuda").plan(problem, Q, seed=1)
    cpu = replace(planner, device="cpu").plan(problem, Q, seed=1)
    return cuda, cpu


def assert_same_batch(cuda: Plan, cpu: Plan) -> None:
    assert len(cuda.suggestions) == Q
    assert len(picks(cuda) & picks(cpu)) >= Q - 1, (sorted(picks(cuda)), sorted(picks(cpu)))
    assert cuda.model is not None and cpu.model is not None
    noise = cuda.model.metrics["noise"], cpu.model.metrics["noise"]
    assert noise[0] == pytest.approx(noise[1], rel=1e-2)


@pytest.mark.parametrize(
    "strategy", ["gp", "botorch", "gp+qucb", "gp+iwarp+warp", "gp+top+iwarp+warp+endgame"]
)
def test_a_pool_batch_on_cuda_is_the_cpu_batch(strategy: str) -> None:
    planner = make_planner(strategy)
    assert isinstance(planner, GPPlanner)
    assert planner.placement().type == "cuda"  # the default where a GPU is present
    assert_same_batch(*on_both(planner, pool_problem(CUBE)))


def test_a_prior_mean_on_cuda() -> None:
    planner = GPPlanner(prior=lambda rows: rows[:, 0] - rows[:, 1])
    assert_same_batch(*on_both(planner, pool_problem(CUBE)))


def test_two_objectives_and_an_outcome_constraint_on_cuda() -> None:
    problem = pool_problem(CUBE)
    second = Objective("z", Direction.MINIMIZE)
    two = replace(
        problem, objectives=(*MAXIMIZE, second), Y=np.hstack([problem.Y, problem.X[:, :1]])
    )
    assert_same_batch(*on_both(GPPlanner(), two))
    constrained = replace(
        problem, constraints=(OutcomeConstraint("c", upper=0.5),), C=problem.X[:, :1]
    )
    cuda, cpu = on_both(GPPlanner(), constrained)
    assert_same_batch(cuda, cpu)
    assert constrained.pool is not None
    chosen = constrained.pool[sorted(picks(cuda))]
    assert (chosen[:, 0] <= 0.6).mean() >= 0.75  # feasibility is learned, not certain


def test_an_open_simplex_batch_on_cuda_stays_on_the_simplex() -> None:
    rng = np.random.default_rng(2)
    X = ALLOY.encode(ALLOY.sample(30, rng))
    problem = PlanningProblem(ALLOY, MAXIMIZE, X, response(X), np.empty((0, 4)))
    plan = GPPlanner(device="cuda", num_restarts=4, raw_samples=128).plan(problem, 4, seed=3)
    assert len(plan.suggestions) == 4
    for suggestion in plan.suggestions:
        fractions = np.array([suggestion.parameters[e] for e in ("Fe", "Ni", "Co", "Cr")])
        assert fractions.sum() == pytest.approx(1.0, abs=1e-6)
        assert (fractions >= -1e-9).all()
    # the registry's weights are CPU tensors: they load on a machine without a GPU
    assert plan.model is not None
    train_X = torch.as_tensor(X, dtype=DTYPE)
    load_gp(plan.model.weights, train_X, torch.as_tensor(response(X)), ALLOY_BOUNDS)


def test_leave_one_out_of_a_cuda_gp_matches_the_cpu() -> None:
    rng = np.random.default_rng(4)
    X = rng.random((50, 3))
    results = []
    for where in ("cuda", "cpu"):
        tensor = torch.as_tensor(X, dtype=DTYPE, device=where)
        Y = torch.as_tensor(response(X), dtype=DTYPE, device=where)
        torch.manual_seed(0)
        bounds = torch.tensor([[0.0] * 3, [1.0] * 3], dtype=DTYPE, device=where)
        model = fit_gp(tensor, Y, bounds)
        results.append(loo_predictions(model))
    np.testing.assert_allclose(results[0].mean, results[1].mean, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("surrogate", ["ensemble", "gnn", "transformer"])
def test_network_surrogates_train_on_cuda_and_plan_from_cpu_inputs(surrogate: str) -> None:
    problem = pool_problem(ALLOY)
    train_X = torch.as_tensor(problem.X, dtype=DTYPE)
    train_Y = torch.as_tensor(problem.Y, dtype=DTYPE)
    model, artifact = fit_surrogate(
        surrogate, ALLOY, train_X, train_Y, ALLOY_BOUNDS, seed=0, input_warp=False
    )
    assert artifact.kind == surrogate
    assert next(model.parameters()).device.type == "cuda"
    posterior = cast(GPyTorchPosterior, model.posterior(train_X.unsqueeze(-2)))
    assert posterior.mean.device.type == "cpu"  # back on the inputs' device
    assert torch.isfinite(posterior.variance).all()
    plan = GPPlanner(surrogate=surrogate).plan(problem, Q, seed=0)
    assert len(picks(plan)) == Q
    assert problem.available is not None and problem.available[sorted(picks(plan))].all()


CATIONS = ("Li", "Na", "K", "Rb", "Mg", "Ca", "Sr", "Ba")
#: Binary formulas with a made-up smooth target: mean electronegativity + mass / 100 (amu).
FORMULAS = [f"{cation}{anion}" for cation in CATIONS for anion in ("F", "Cl", "Br", "O", "S")]
TARGETS = np.array(
    [Composition(f).average_electroneg + Composition(f).weight / 100 for f in FORMULAS]
)
#: Rock salts of 16 of them, the target their lattice constant (4 to 4.9 angstrom).
ROCK_SALTS = [
    Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.0 + 0.06 * i), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    for i, (cation, anion) in enumerate((c, a) for c in CATIONS for a in ("F", "O"))
]


@pytest.mark.parametrize("kind", ["ensemble", "gnn", "transformer", "hybrid", "crystal-gnn"])
def test_property_models_train_on_cuda_and_reload_on_the_cpu(kind: str) -> None:
    training = TrainingConfig(n_members=2, epochs=5, patience=5, batch_size=8, device="cuda")
    materials: list[Any] = list(FORMULAS)
    y = TARGETS
    if kind == "crystal-gnn":
        materials = list(ROCK_SALTS)
        y = np.array([s.lattice.a for s in ROCK_SALTS])
    model = fit_property_model(
        materials[:-6], y[:-6], materials[-6:], y[-6:], PropertyModelConfig(kind, training)
    )
    on_cuda = model.predict(materials[-6:])
    assert np.isfinite(on_cuda.mean).all() and (on_cuda.std > 0).all()
    on_cpu = PropertyModel.from_bytes(model.to_bytes(), device="cpu").predict(materials[-6:])
    np.testing.assert_allclose(on_cpu.mean, on_cuda.mean, rtol=1e-3, atol=1e-3 * np.ptp(y))
