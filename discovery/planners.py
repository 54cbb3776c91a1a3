"""Planners: given what has been measured and what is pending, choose the next batch.

A planner sees encoded arrays only. The agent builds the :class:`PlanningProblem` from
its store and persists the :class:`Plan` it gets back.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import ClassVar, Protocol

import numpy as np
import torch
from botorch.models.model import Model
from linear_operator.utils.warnings import NumericalWarning

from discovery.acquisition import (
    AcquisitionInputs,
    make_acquisition,
    optimize_over_box,
    optimize_over_pool,
)
from discovery.campaign_models import fit_surrogate
from discovery.domain import ModelArtifact, Objective
from discovery.priors import Prior, PriorMeanModel, fit_scale
from discovery.spaces import CategoricalParameter, Parameters, SearchSpace
from discovery.surrogates import DTYPE


@dataclass(frozen=True)
class PlanningProblem:
    """Everything a planner may use.

    Attributes:
        space: The search space.
        objectives: Objectives with directions.
        X: ``n x d`` encoded inputs of completed trials.
        Y: ``n x m`` measured values (raw, in objective order).
        X_pending: ``p x d`` encoded inputs handed out but not measured.
        pool: ``N x d`` encoded pool, or None for an open space.
        available: ``N`` mask of pool rows neither measured nor pending.

    """

    space: SearchSpace
    objectives: tuple[Objective, ...]
    X: np.ndarray
    Y: np.ndarray
    X_pending: np.ndarray
    pool: np.ndarray | None = None
    available: np.ndarray | None = None

    def available_indices(self) -> np.ndarray:
        """Pool indices still available (empty for an open space)."""
        if self.pool is None:
            return np.empty(0, dtype=int)
        mask = np.ones(len(self.pool), bool) if self.available is None else self.available
        return np.flatnonzero(mask)


@dataclass(frozen=True)
class Suggestion:
    """One proposed experiment."""

    parameters: Parameters
    candidate: int | None = None
    acquisition_value: float | None = None


@dataclass(frozen=True)
class Plan:
    """A batch of suggestions and the model that made them (None for model-free planners)."""

    suggestions: list[Suggestion]
    model: ModelArtifact | None = None


class Planner(Protocol):
    """Chooses the next ``q`` experiments."""

    @property
    def name(self) -> str:
        """Registry name of the planner (stored on each trial it proposes)."""
        ...

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        """Return up to ``q`` suggestions (fewer only when the pool runs out)."""
        ...


class RandomPlanner:
    """Uniform random sampling: from the available pool, or from the space."""

    name: ClassVar[str] = "random"

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        """Draw ``q`` points uniformly at random without replacement."""
        rng = np.random.default_rng(seed)
        if problem.pool is None:
            return Plan([Suggestion(p) for p in problem.space.sample(q, rng)])
        available = problem.available_indices()
        picks = rng.choice(available, size=min(q, available.size), replace=False)
        points = problem.space.decode(problem.pool[picks])
        return Plan([Suggestion(p, int(i)) for p, i in zip(points, picks, strict=True)])


@dataclass(frozen=True)
class GPPlanner:
    """A surrogate + a batch acquisition function, qLogNEI by default (single objective).

    Attributes:
        mc_samples: QMC samples for the acquisition function.
        num_restarts: Gradient restarts when optimising over an open space.
        raw_samples: Initial samples for those restarts.
        surrogate: ``gp`` (``SingleTaskGP``), ``ensemble`` (deep ensemble) or ``gnn``
            (composition GNN ensemble); see :mod:`discovery.campaign_models`.
        acquisition: A name in :data:`discovery.acquisition.ACQUISITIONS`.
        label: Strategy name to record instead of the derived one.
        prior: Prior prediction of the objective (literature, another database) used as
            the surrogate's mean, scaled by the data (:mod:`discovery.priors`); pool
            campaigns only.

    """

    mc_samples: int = 256
    num_restarts: int = 8
    raw_samples: int = 256
    surrogate: str = "gp"
    acquisition: str = "qlognei"
    label: str | None = None
    prior: Prior | None = None

    @property
    def name(self) -> str:
        """The strategy recorded on each trial: ``label``, or surrogate[+acquisition]."""
        if self.label:
            return self.label
        suffix = "" if self.acquisition == "qlognei" else f"+{self.acquisition}"
        return f"{self.surrogate}{suffix}" + ("+prior" if self.prior is not None else "")

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        """Fit a GP to the measurements and choose ``q`` points by qLogNEI."""
        with warnings.catch_warnings():
            # Cholesky jitter on near-duplicate inputs is routine, not a user's concern.
            warnings.simplefilter("ignore", NumericalWarning)
            return self._plan(problem, q, seed)

    def _plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        if len(problem.objectives) != 1:
            raise ValueError(
                f"the gp planner optimises one objective; this campaign has "
                f"{len(problem.objectives)} ({[o.name for o in problem.objectives]})"
            )
        if problem.X.shape[0] < 2:
            raise ValueError("the gp planner needs at least 2 measurements; run random first")
        if problem.pool is not None and problem.available_indices().size == 0:
            return Plan([])  # pool exhausted
        torch.manual_seed(seed)
        sign = problem.objectives[0].direction.sign
        train_X = torch.as_tensor(problem.X, dtype=DTYPE)
        train_Y = torch.as_tensor(sign * problem.Y[:, :1], dtype=DTYPE)
        bounds = torch.as_tensor(self._bounds(problem), dtype=DTYPE)
        model, artifact = self._fit(problem, train_X, train_Y, bounds, sign, seed)
        pending = torch.as_tensor(problem.X_pending, dtype=DTYPE).reshape(-1, train_X.shape[1])
        inputs = AcquisitionInputs(model, train_X, train_Y, pending, self.mc_samples, seed)
        acqf = make_acquisition(self.acquisition, inputs)
        if problem.pool is not None:
            available = problem.available_indices()
            choices = torch.as_tensor(problem.pool[available], dtype=DTYPE)
            rows, values = optimize_over_pool(acqf, choices, q, pending)
            picks = available[rows]
            points = problem.space.decode(problem.pool[picks])
            suggestions = [
                Suggestion(p, int(i), float(v))
                for p, i, v in zip(points, picks, values, strict=True)
            ]
            return Plan(suggestions, artifact)
        X, values = optimize_over_box(
            acqf,
            bounds,
            q,
            simplex=self._simplex_columns(problem.space),
            one_hot_blocks=self._one_hot_blocks(problem.space),
            num_restarts=self.num_restarts,
            raw_samples=self.raw_samples,
            X_pending=pending,
        )
        points = problem.space.decode(X.detach().cpu().numpy())
        return Plan(
            [Suggestion(p, None, float(v)) for p, v in zip(points, values, strict=True)], artifact
        )

    def _fit(
        self,
        problem: PlanningProblem,
        train_X: torch.Tensor,
        train_Y: torch.Tensor,
        bounds: torch.Tensor,
        sign: float,
        seed: int,
    ) -> tuple[Model, ModelArtifact]:
        """The surrogate, on the residuals of the scaled prior when there is one."""
        if self.prior is None:
            return fit_surrogate(self.surrogate, problem.space, train_X, train_Y, bounds, seed)
        if problem.pool is None:
            raise ValueError("a prior mean needs a pool campaign (its candidates are scored)")
        prior = _RowCache(self.prior, sign)
        at_data = prior(train_X).unsqueeze(-1)
        scale = fit_scale(at_data[:, 0].numpy(), train_Y[:, 0].numpy())
        residual, artifact = fit_surrogate(
            self.surrogate, problem.space, train_X, train_Y - scale * at_data, bounds, seed
        )
        metrics = {**artifact.metrics, "prior_scale": scale}
        return PriorMeanModel(residual, prior, scale), replace(artifact, metrics=metrics)

    @staticmethod
    def _bounds(problem: PlanningProblem) -> np.ndarray:
        if problem.pool is None:
            return problem.space.bounds()
        return np.stack([problem.pool.min(axis=0), problem.pool.max(axis=0)])

    @staticmethod
    def _simplex_columns(space: SearchSpace) -> list[tuple[list[int], float]]:
        columns = space.columns
        return [([columns.index(n) for n in c.names], c.total) for c in space.simplex]

    @staticmethod
    def _one_hot_blocks(space: SearchSpace) -> list[list[int]]:
        columns = space.columns
        return [
            [columns.index(f"{p.name}={c}") for c in p.choices]
            for p in space.parameters
            if isinstance(p, CategoricalParameter)
        ]


class _RowCache:
    """A prior evaluated once per distinct input row (the pool is scored many times)."""

    def __init__(self, prior: Prior, sign: float) -> None:
        self.prior, self.sign = prior, sign
        self.values: dict[bytes, float] = {}

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        rows = X.detach().cpu().to(torch.float64).numpy()
        keys = [row.tobytes() for row in rows]
        missing = [i for i, k in enumerate(keys) if k not in self.values]
        if missing:
            predicted = np.asarray(self.prior(rows[missing]), dtype=float).reshape(-1)
            self.values.update(zip((keys[i] for i in missing), predicted, strict=True))
        return torch.tensor([self.sign * self.values[k] for k in keys], dtype=DTYPE)


PLANNERS: dict[str, Callable[[], Planner]] = {
    "gp": GPPlanner,
    "ensemble": partial(GPPlanner, surrogate="ensemble"),
    "gnn": partial(GPPlanner, surrogate="gnn"),
    "gp+qucb": partial(GPPlanner, acquisition="qucb"),
    # what a user gets from BoTorch's tutorial recipe: SingleTaskGP + qLogEI, defaults
    "botorch": partial(GPPlanner, acquisition="qlogei", label="botorch"),
    "random": RandomPlanner,
}


def make_planner(name: str) -> Planner:
    """Build a planner by registry name (see :data:`PLANNERS`)."""
    try:
        return PLANNERS[name]()
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(PLANNERS)}") from None
