"""Planners: given what has been measured and what is pending, choose the next batch.

A planner sees encoded arrays only. The agent builds the :class:`PlanningProblem` from
its store and persists the :class:`Plan` it gets back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import ClassVar, Protocol, cast

import numpy as np
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.monte_carlo import MCAcquisitionFunction
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from scipy import spatial, stats

from discovery.acquisition import (
    ENS_CANDIDATES,
    PLUGIN_FAILURES,
    PLUGIN_GROUP,
    POOL_ONLY,
    TOP_HUNTING,
    AcquisitionInputs,
    ExpectedTopFinds,
    LogProbabilityInTop,
    acquisitions,
    hypervolume_acquisition,
    make_acquisition,
    optimize_over_box,
    optimize_over_pool,
    outcome_constraints,
    qlognei,
    shortlist,
)
from discovery.campaign_models import (
    SURROGATE_PLUGIN_GROUP,
    SURROGATE_PLUGINS,
    SURROGATES,
    fit_surrogate,
    gaussian_processes,
    is_gaussian_process,
    surrogates,
)
from discovery.domain import (
    DEFAULT_ACQUISITION,
    STRATEGY_FLAGS,
    ModelArtifact,
    Objective,
    OutcomeConstraint,
    canonical_strategy,
)
from discovery.policy import AcquisitionPolicy, policy_features
from discovery.priors import Prior, PriorMeanModel, fit_scale, prior_data_hash, prior_label
from discovery.spaces import CategoricalParameter, Parameters, SearchSpace
from discovery.surrogates import DTYPE, fit_gp, gp_artifact, routine_warnings_silenced
from discovery.surrogates import device as default_device

#: QMC samples of qLogNEHVI at most: each sample carries its own box decomposition of the
#: Pareto front, recomputed for every pick of a batch, so its cost grows fast with them.
MAX_HYPERVOLUME_SAMPLES = 128

#: The last batches of a budgeted campaign in which ``+endgame`` believes picks at their
#: mean (``GPPlanner.endgame_batches``). Three: the whole of a budget of three batches
#: after the initial design, the Olympus benchmark's smallest; set on development seeds.
ENDGAME_BATCHES = 3

#: Share of a parameter's range within which an optimised value is put on its bound.
OPTIMISER_NOISE = 1e-9

#: Share of every parameter's range within which two open-space points are one experiment
#: (0.1 K of a 1,000 K range): a proposal that close to a measured or pending one repeats it.
SAME_EXPERIMENT = 1e-4

#: Points drawn to replace a repeated open-space proposal: from the whole space, and at
#: each of :data:`NEARBY_SCALES` (shares of each range) around the repeat.
REPLACEMENT_DRAWS = 512
NEARBY_SCALES = (0.01, 0.03, 0.1)
#: Draws of random sampling that may repeat an experiment before it is kept anyway.
REDRAWS = 100


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
        strategies: Strategy recorded on each completed trial (``n``; empty when unknown),
            for planners that learn from which of their choices paid off.
        budget: Total experiments the campaign means to run, when it has a budget.
        initial: Experiments of the campaign's initial design (random), before any model
            chooses.
        constraints: Outcome constraints (measured quantities that must fall in ranges).
        C: ``n x c`` measured values of the constrained quantities, in constraint order.

    """

    space: SearchSpace
    objectives: tuple[Objective, ...]
    X: np.ndarray
    Y: np.ndarray
    X_pending: np.ndarray
    pool: np.ndarray | None = None
    available: np.ndarray | None = None
    strategies: tuple[str | None, ...] = ()
    budget: int | None = None
    constraints: tuple[OutcomeConstraint, ...] = ()
    C: np.ndarray | None = None
    initial: int = 0

    def available_indices(self) -> np.ndarray:
        """Pool indices still available (empty for an open space)."""
        if self.pool is None:
            return np.empty(0, dtype=int)
        mask = np.ones(len(self.pool), bool) if self.available is None else self.available
        return np.flatnonzero(mask)


@dataclass(frozen=True)
class Suggestion:
    """One proposed experiment.

    Attributes:
        parameters: The experiment.
        candidate: Its pool index, for pool campaigns.
        acquisition_value: The acquisition value when it was chosen.
        strategy: What chose it, when more specific than the planner's name (a
            portfolio records the acquisition function it drew).
    """

    parameters: Parameters
    candidate: int | None = None
    acquisition_value: float | None = None
    strategy: str | None = None


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


def warp_outcomes(Y: np.ndarray) -> np.ndarray:
    """Standardise each column and Yeo-Johnson transform it (power fitted by likelihood).

    The transform is monotone, so the best measured point stays the best; a column with
    fewer than 3 distinct values is only standardised.

    Args:
        Y: ``n x m`` values, oriented so that larger is better.

    Returns:
        ``n x m`` warped values, each column with mean 0 and standard deviation 1.
    """
    warped = np.empty_like(Y, dtype=float)
    for j in range(Y.shape[1]):
        column = Y[:, j].astype(float)
        spread = column.std()
        z = (column - column.mean()) / spread if spread > 0 else column - column.mean()
        if np.unique(z).size >= 3:
            z = np.asarray(stats.yeojohnson(z)[0], dtype=float)
            spread = z.std()
            z = (z - z.mean()) / spread if spread > 0 else z - z.mean()
        warped[:, j] = z
    return warped


class RandomPlanner:
    """Uniform random sampling: from the available pool, or from the space."""

    name: ClassVar[str] = "random"

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        """Draw ``q`` points uniformly at random without replacement."""
        rng = np.random.default_rng(seed)
        if problem.pool is None:
            return Plan([Suggestion(p) for p in self._new_draws(problem, q, rng)])
        available = problem.available_indices()
        picks = rng.choice(available, size=min(q, available.size), replace=False)
        points = problem.space.decode(problem.pool[picks])
        return Plan([Suggestion(p, int(i)) for p, i in zip(points, picks, strict=True)])

    @staticmethod
    def _new_draws(problem: PlanningProblem, q: int, rng: np.random.Generator) -> list[Parameters]:
        """``q`` draws from the space, each repeating an experiment drawn again (100 tries).

        Only a space with few points (categorical choices) repeats: those draws and no
        others are redrawn, so a continuous space's draws are as they always were.
        """
        space = problem.space
        tolerance = _same_experiment(space)
        taken = np.vstack([np.reshape(a, (-1, space.dim)) for a in (problem.X, problem.X_pending)])
        points = []
        for point in space.sample(q, rng):
            for _ in range(REDRAWS):
                if not _repeats(space.encode([point]), taken, tolerance)[0]:
                    break
                point = space.sample(1, rng)[0]
            taken = np.vstack([taken, space.encode([point])])
            points.append(point)
        return points


@dataclass(frozen=True)
class GPPlanner:
    """A surrogate + a batch acquisition function, qLogNEI by default (single objective).

    Attributes:
        mc_samples: QMC samples for the acquisition function.
        num_restarts: Gradient restarts when optimising over an open space.
        raw_samples: Initial samples for those restarts.
        surrogate: ``gp`` (``SingleTaskGP``), ``bayesgp`` (GP with hyperparameters
            integrated out by NUTS), ``ensemble`` (deep ensemble), ``gnn``
            (composition GNN ensemble), ``transformer`` (element transformer ensemble)
            or a registered one (:func:`discovery.campaign_models.register_surrogate`);
            see :mod:`discovery.campaign_models`.
        acquisition: A registered name (:func:`discovery.acquisition.acquisitions`).
        label: Strategy name to record instead of the derived one.
        prior: Prior prediction of the objective (literature, another database) used as
            the surrogate's mean, scaled by the data (:mod:`discovery.priors`); pool
            campaigns only. A :class:`discovery.priors.NamedPrior` is named in the
            model's metrics (``prior_model``).
        warp: Fit the surrogate to Yeo-Johnson-warped values (:func:`warp_outcomes`), so
            that skewed yields and heavy-tailed errors look Gaussian to it (HEBO,
            Cowen-Rivers et al., JAIR 2022).
        input_warp: Fit a Kumaraswamy warp of each input with the GP (HEBO's other
            half; :func:`discovery.surrogates.build_gp`); GP surrogates only.
        shortlist_above: On pools larger than this, the batch acquisition scores only
            the candidates with the highest analytic log-EI
            (:func:`discovery.acquisition.shortlist`), or for ``top`` its own highest
            scores before any belief; ``topk`` shortlists by its approximate chances above
            :data:`REFERENCE_POINTS` already, as it samples reference and candidates
            jointly; None scores every candidate.
        shortlist_per_point: Candidates kept on a large pool per point to choose or
            pending, at least ``shortlist_min``. Greedy qLogNEI picks, at 1,000
            observations and 100,000 candidates, ranked at most 3.3 x q by log-EI
            (Hartmann, Ackley, Levy; q = 8 and 32), so 32 leaves ten times that.
        shortlist_min: The fewest candidates kept on a large pool.
        endgame_batches: In a budgeted campaign's last this many batches (the one being
            chosen included), ``top`` believes its picks at their posterior mean instead
            of as misses: spreading out explores, and exploring pays only while later
            batches can use it. 0 keeps the misses to the end; open-ended campaigns
            (no budget) always keep them.
        believer: ``top`` believes every batch's picks at their posterior mean (the
            kriging believer), from the first batch on, with or without a budget; an
            endgame would change nothing.
        device: Where the ``gp`` surrogate is fitted and the acquisition scored:
            ``cuda``, ``cpu``, or None for ``cuda`` when present. The other surrogates
            place themselves (NUTS runs on the CPU; ensembles train on ``cuda`` when
            present), so the planner keeps their inputs on the CPU.

    """

    mc_samples: int = 256
    num_restarts: int = 8
    raw_samples: int = 256
    surrogate: str = "gp"
    acquisition: str = DEFAULT_ACQUISITION
    label: str | None = None
    prior: Prior | None = None
    warp: bool = False
    input_warp: bool = False
    shortlist_above: int | None = 10_000
    shortlist_per_point: int = 32
    shortlist_min: int = 256
    endgame_batches: int = 0
    believer: bool = False
    device: str | None = None

    def __post_init__(self) -> None:
        gp = is_gaussian_process(self.surrogate)
        if self.device not in (None, "cpu", "cuda"):
            raise ValueError(f"device: 'cpu', 'cuda' or None (cuda if any), not {self.device!r}")
        if self.device is not None and self.surrogate != "gp":
            raise ValueError(
                f"device: only the gp surrogate is placed by the planner; {self.surrogate} "
                "places itself"
            )
        if self.endgame_batches and self.acquisition not in TOP_HUNTING:
            raise ValueError(
                f"an endgame (endgame_batches = {self.endgame_batches}) changes what the top "
                f"acquisition believes; this planner uses {self.acquisition}"
            )
        if self.believer and self.acquisition not in TOP_HUNTING:
            raise ValueError(
                f"the believer changes what the top acquisitions believe; this planner uses "
                f"{self.acquisition}"
            )
        if self.believer and self.endgame_batches:
            raise ValueError(
                "the believer believes every batch at its mean already: an endgame would "
                "change nothing (drop +endgame)"
            )
        if self.input_warp and not gp:
            raise ValueError(
                f"input warping (iwarp) needs a GP surrogate {gaussian_processes()}, "
                f"not {self.surrogate}"
            )
        if self.acquisition in TOP_HUNTING and (not gp or self.prior is not None):
            # a batch conditions the model on its beliefs, which only the GPs support
            used = "a prior mean" if self.prior is not None else f"the {self.surrogate} surrogate"
            raise ValueError(
                f"the {self.acquisition} acquisition needs a GP surrogate {gaussian_processes()} "
                f"without a prior, not {used}"
            )

    def shortlist_size(self, q: int, pending: int = 0) -> int:
        """Candidates kept on a large pool when choosing ``q`` with ``pending`` handed out."""
        return max(self.shortlist_min, self.shortlist_per_point * (q + pending))

    def placement(self) -> torch.device:
        """The device of the surrogate's inputs and of the acquisition's scores.

        Raises:
            ValueError: when ``cuda`` is asked for and there is none.
        """
        if self.surrogate != "gp":
            return torch.device("cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device: cuda was asked for, and this machine has no CUDA device")
        return torch.device(self.device) if self.device else default_device()

    def check_shape(self, objectives: int, constraints: int) -> None:
        """Refuse a campaign of ``objectives`` and ``constraints`` this planner cannot serve.

        Several objectives or outcome constraints take one GP over every output, and
        qLogNEHVI or qLogNEI weighted by feasibility (:meth:`_joint`).

        Raises:
            ValueError: naming what the campaign needs of the strategy.
        """
        joint = objectives > 1 or constraints > 0
        if self.prior is not None and (self.warp or joint):
            raise ValueError(
                "a prior mean works with one unwarped objective and no outcome constraints"
            )
        if not joint:
            return
        shape = f"{objectives} objective(s) and {constraints} outcome constraint(s)"
        if self.surrogate != "gp":
            raise ValueError(f"{shape} need the gp surrogate, not {self.surrogate}")
        if self.acquisition in TOP_HUNTING:
            raise ValueError(
                f"{shape} are beyond the {self.acquisition} acquisition, which hunts the top "
                f"of one unconstrained objective: use gp or gp+warp, not {self.name!r}"
            )
        # the joint acquisition replaces the named one: a trial must not say otherwise
        # (the botorch baseline's joint form is BoTorch's own qLogNEHVI)
        if self.acquisition != "qlognei" and self.label != "botorch":
            raise ValueError(
                f"{shape} are served by qLogNEHVI or feasibility-weighted qLogNEI, not by "
                f"{self.acquisition}: use gp or gp+warp, not {self.name!r}"
            )
        if self.input_warp:  # its warp is fitted for one output
            raise ValueError(f"{shape} need a strategy without +iwarp")

    def in_endgame(self, problem: PlanningProblem, q: int) -> bool:
        """Whether the batch of ``q`` now chosen is one of the last ``endgame_batches``."""
        if not self.endgame_batches or problem.budget is None:
            return False
        spent = problem.X.shape[0] + len(problem.X_pending)
        return math.ceil((problem.budget - spent) / q) <= self.endgame_batches

    @property
    def name(self) -> str:
        """The strategy recorded on each trial: ``label``, or surrogate[+acquisition][+flags].

        In the one order :func:`discovery.domain.canonical_strategy` gives strategy names.
        """
        if self.label:
            return self.label
        on = (self.input_warp, self.warp, bool(self.endgame_batches), self.believer)
        flags = [flag for flag, chosen in zip(STRATEGY_FLAGS, on, strict=True) if chosen]
        name = canonical_strategy("+".join([self.surrogate, self.acquisition, *flags]))
        return name + ("+prior" if self.prior is not None else "")

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        """Fit the surrogate to the measurements and choose ``q`` points by its acquisition."""
        with routine_warnings_silenced():
            return self._plan(problem, q, seed)

    def _plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        if problem.X.shape[0] < 2:
            raise ValueError("the gp planner needs at least 2 measurements; run random first")
        if problem.pool is not None and problem.available_indices().size == 0:
            return Plan([])  # pool exhausted
        self.check_shape(len(problem.objectives), len(problem.constraints))
        if self.acquisition in POOL_ONLY and problem.pool is None:
            raise ValueError(
                f"the {self.acquisition} acquisition ranks a pool's candidates; an open space "
                "needs top"
            )
        joint = bool(problem.constraints) or len(problem.objectives) > 1
        torch.manual_seed(seed)
        tensor = partial(torch.as_tensor, dtype=DTYPE, device=self.placement())
        signs = np.array([o.direction.sign for o in problem.objectives])
        train_X = tensor(problem.X)
        fitted, scale = fitted_outcomes(signs * problem.Y, self.warp)
        train_Y = tensor(fitted)
        bounds = tensor(self._bounds(problem))
        pending = tensor(problem.X_pending).reshape(-1, train_X.shape[1])
        model: Model
        acqf: AcquisitionFunction
        if joint:
            model, artifact, acqf = self._joint(problem, train_X, train_Y, bounds, pending, seed)
        else:
            prior_factor = float(signs[0] / scale[0])
            model, artifact = self._fit(problem, train_X, train_Y, bounds, prior_factor, seed)
            reference = None
            if self.acquisition in TOP_HUNTING:
                reference = tensor(_reference(problem, seed))
            inputs = AcquisitionInputs(
                model,
                train_X,
                train_Y,
                pending,
                self.mc_samples,
                seed,
                reference,
                endgame=self.believer or self.in_endgame(problem, q),
                budget_left=None if problem.budget is None else problem.budget - len(problem.X),
            )
            acqf = make_acquisition(self.acquisition, inputs)
        artifact = with_scale(artifact, "objective_scale", scale)
        return self._optimise(problem, acqf, bounds, pending, q, artifact, seed)

    def _joint(
        self,
        problem: PlanningProblem,
        train_X: torch.Tensor,
        train_Y: torch.Tensor,
        bounds: torch.Tensor,
        pending: torch.Tensor,
        seed: int,
    ) -> tuple[Model, ModelArtifact, AcquisitionFunction]:
        """One GP over every objective and constrained quantity, and its acquisition.

        Several objectives: qLogNEHVI; one: qLogNEI. Either is weighted by the
        probability of feasibility when there are outcome constraints.
        """
        C = np.empty((train_X.shape[0], 0)) if problem.C is None else problem.C
        if C.shape != (train_X.shape[0], len(problem.constraints)):
            raise ValueError("C: one measured value per constraint and measurement is needed")
        m = train_Y.shape[1]
        scale = fitting_scale(C)
        outputs = torch.cat([train_Y, torch.as_tensor(C / scale).to(train_Y)], dim=1)
        model = fit_gp(train_X, outputs, bounds, self.input_warp)
        constraints = outcome_constraints(
            [
                (m + j, _divided(c.lower, s), _divided(c.upper, s))
                for j, (c, s) in enumerate(zip(problem.constraints, scale, strict=True))
            ]
        )
        if m > 1:
            samples = min(self.mc_samples, MAX_HYPERVOLUME_SAMPLES)
            acqf = hypervolume_acquisition(
                model, train_X, train_Y, pending, samples, seed, constraints
            )
        else:
            acqf = qlognei(model, train_X, pending, self.mc_samples, seed, constraints)
        artifact = with_scale(gp_artifact(model, train_X, outputs), "constraint_scale", scale)
        return model, artifact, acqf

    def _optimise(
        self,
        problem: PlanningProblem,
        acqf: AcquisitionFunction,
        bounds: torch.Tensor,
        pending: torch.Tensor,
        q: int,
        artifact: ModelArtifact,
        seed: int,
    ) -> Plan:
        """Maximise ``acqf`` over the available pool, or over the open space."""
        if problem.pool is not None:
            available = problem.available_indices()
            model = acqf.model
            limit = self.shortlist_above
            if limit is not None and isinstance(acqf, LogProbabilityInTop):
                limit = min(limit, REFERENCE_POINTS)  # it samples reference + candidates jointly
            if isinstance(acqf, ExpectedTopFinds):  # keeps the candidates' joint covariance
                limit = ENS_CANDIDATES if limit is None else min(limit, ENS_CANDIDATES)
            large = limit is not None and available.size > limit
            if large and model.num_outputs == 1:
                pool = torch.as_tensor(problem.pool[available]).to(bounds)
                size = self.shortlist_size(q, len(pending))
                if isinstance(acqf, ExpectedTopFinds):  # a plate-sized batch: still what it keeps
                    size = min(size, ENS_CANDIDATES)
                if isinstance(acqf, MCAcquisitionFunction):
                    baseline = torch.as_tensor(problem.X).to(bounds)
                    keep = shortlist(model, pool, baseline, size)
                elif isinstance(acqf, LogProbabilityInTop | ExpectedTopFinds):
                    keep = acqf.shortlist_scores(pool).topk(min(size, len(pool))).indices
                else:  # analytic (top): its own scores before any belief, in one pass
                    with torch.no_grad():
                        scores = acqf(pool.unsqueeze(-2))
                    keep = scores.topk(min(size, len(pool))).indices
                available = available[keep.cpu().numpy()]
            choices = torch.as_tensor(problem.pool[available]).to(bounds)
            if isinstance(acqf, LogProbabilityInTop | ExpectedTopFinds):
                acqf.prepare(choices, pending)
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
            linear=self._linear_columns(problem.space),
            num_restarts=self.num_restarts,
            raw_samples=self.raw_samples,
            X_pending=pending,
        )
        points = problem.space.decode(X.detach().cpu().numpy(), snap=OPTIMISER_NOISE)
        return Plan(new_experiments(problem, acqf, pending, points, values, seed), artifact)

    def _fit(
        self,
        problem: PlanningProblem,
        train_X: torch.Tensor,
        train_Y: torch.Tensor,
        bounds: torch.Tensor,
        prior_factor: float,
        seed: int,
    ) -> tuple[Model, ModelArtifact]:
        """The surrogate, on the residuals of the scaled prior when there is one.

        ``prior_factor`` takes the prior's predictions to ``train_Y``'s orientation and
        units: the objective's sign over its :func:`fitting_scale`.
        """
        if self.prior is None:
            return fit_surrogate(
                self.surrogate, problem.space, train_X, train_Y, bounds, seed, self.input_warp
            )
        if problem.pool is None:
            raise ValueError("a prior mean needs a pool campaign (its candidates are scored)")
        prior = _RowCache(self.prior, prior_factor)
        at_data = prior(train_X).unsqueeze(-1)
        scale = fit_scale(at_data[:, 0].cpu().numpy(), train_Y[:, 0].cpu().numpy())
        residual, artifact = fit_surrogate(
            self.surrogate,
            problem.space,
            train_X,
            train_Y - scale * at_data,
            bounds,
            seed,
            self.input_warp,
        )
        return PriorMeanModel(residual, prior, scale), self._prior_artifact(artifact, scale)

    def _prior_artifact(self, artifact: ModelArtifact, scale: float) -> ModelArtifact:
        """``artifact`` of a residual model: the prior's scale and name, its identity hashed.

        The registry keeps one record per data hash, so the prior is folded into it
        (:func:`discovery.priors.prior_data_hash`): another prior on the same data is
        another version, whose ``prior_model`` metric names it.
        """
        assert self.prior is not None  # only called with a prior
        label = prior_label(self.prior)
        named = {} if label is None else {"prior_model": label}
        metrics = {**artifact.metrics, "prior_scale": scale, **named}
        data_hash = prior_data_hash(artifact.data_hash, self.prior)
        return replace(artifact, data_hash=data_hash, metrics=metrics)

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
    def _linear_columns(space: SearchSpace) -> list[tuple[list[int], list[float], float]]:
        columns = space.columns
        return [
            ([columns.index(n) for n, _ in c.terms], [v for _, v in c.terms], c.upper)
            for c in space.linear
        ]

    @staticmethod
    def _one_hot_blocks(space: SearchSpace) -> list[list[int]]:
        columns = space.columns
        return [
            [columns.index(f"{p.name}={c}") for c in p.choices]
            for p in space.parameters
            if isinstance(p, CategoricalParameter)
        ]


#: Spreads of measured values outside this range are fitted in rescaled units. GPyTorch
#: and BoTorch floor variances and standard deviations at absolute values (1e-10, 1e-8)
#: and qLogEI smooths improvements below 1e-6, so an objective in m^2/s (about 1e-12)
#: would be blurred or flattened. Values with spreads inside are fitted as measured.
SAFE_SPREAD = (1e-3, 1e6)


def new_experiments(
    problem: PlanningProblem,
    acqf: AcquisitionFunction,
    pending: torch.Tensor,
    points: list[Parameters],
    values: list[float],
    seed: int,
) -> list[Suggestion]:
    """Open-space ``points``, each one that repeats an experiment replaced by a new one.

    Once a noise-free surrogate has measured the optimum, its acquisition is flat and the
    optimiser returns there, batch after batch (a corner of the box, mostly): a lab would
    run one experiment again and again. A point within :data:`SAME_EXPERIMENT` of a
    measured one, a pending one or an earlier pick of the batch is replaced by the best,
    by ``acqf`` given the pending experiments and the picks so far, of points drawn from
    the space and around the repeat (the space's own draws, so constraints hold). A pool
    campaign never repeats, as its measured rows are not available; neither does this.
    When every draw repeats (a small categorical space measured in full) the point stays.

    Args:
        problem: The planning problem (its space, measured ``X``, ``X_pending``).
        acqf: The acquisition function the points maximise.
        pending: ``p x d`` experiments handed out, on ``acqf``'s device.
        points: The optimised batch, decoded.
        values: Each point's acquisition value.
        seed: Seed of the replacement draws.

    Returns:
        One suggestion per point, in order.
    """
    space = problem.space
    tolerance = _same_experiment(space)
    taken = [np.asarray(problem.X, float).reshape(-1, space.dim), pending.cpu().numpy()]
    rng = np.random.default_rng(seed)
    suggestions = []
    for point, value in zip(points, values, strict=True):
        x, done = space.encode([point]), np.vstack(taken)
        if _repeats(x, done, tolerance)[0]:
            draws = _replacement_draws(space, x[0], rng)
            fresh = draws[~_repeats(draws, done, tolerance)]
            if len(fresh):
                picks = torch.as_tensor(np.vstack(taken[1:])).to(pending)  # pending + batch
                rows, scores = optimize_over_pool(
                    acqf, torch.as_tensor(fresh).to(pending), 1, picks
                )
                x, value = fresh[rows], scores[0]
                point = space.decode(x)[0]
        taken.append(x)
        suggestions.append(Suggestion(point, None, float(value)))
    return suggestions


def _same_experiment(space: SearchSpace) -> np.ndarray:
    """``d`` distances within which two encoded points are one experiment (SAME_EXPERIMENT)."""
    return SAME_EXPERIMENT * np.ptp(space.bounds(), axis=0)


def _repeats(X: np.ndarray, taken: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """``n`` mask: whether each row of ``X`` is within ``tolerance`` of a row of ``taken``."""
    if not len(taken):
        return np.zeros(len(X), bool)
    unit = np.where(tolerance > 0, tolerance, 1.0)  # a fixed parameter: equal everywhere
    distance, _ = spatial.cKDTree(taken / unit).query(X / unit, p=np.inf)
    return np.asarray(distance <= 1.0)


def _replacement_draws(space: SearchSpace, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Encoded points from the whole space, and around ``x`` at each of the scales."""
    draws = [space.encode(space.sample(REPLACEMENT_DRAWS, rng))]
    bounds = space.bounds()
    widths = [len(getattr(p, "choices", ())) or 1 for p in space.parameters]
    categorical = [isinstance(p, CategoricalParameter) for p in space.parameters]
    span = np.where(np.repeat(categorical, widths), 0.0, np.ptp(bounds, axis=0))  # keep choices
    for scale in NEARBY_SCALES:
        moved = x + rng.normal(size=(REPLACEMENT_DRAWS, space.dim)) * scale * span
        points = [_onto_totals(space, p) for p in space.decode(np.clip(moved, *bounds))]
        nearby = [p for p in points if space.contains(p)]
        if nearby:
            draws.append(space.encode(nearby))
    return np.vstack(draws)


def _onto_totals(space: SearchSpace, point: Parameters) -> Parameters:
    """``point`` with each mixture rescaled to its simplex total (a move breaks it)."""
    for simplex in space.simplex:
        total = sum(float(point[name]) for name in simplex.names)
        if total > 0:
            point |= {name: float(point[name]) * simplex.total / total for name in simplex.names}
    return point


def fitting_scale(values: np.ndarray) -> np.ndarray:
    """The divisor of each column of ``values`` that the surrogate is fitted in.

    Args:
        values: ``n x k`` measured values.

    Returns:
        ``k`` divisors: the power of two nearest each column's standard deviation where
        that is outside :data:`SAFE_SPREAD` (dividing by it is exact in floating point),
        else 1. A model's artifact notes them (``objective_scale``, ``constraint_scale``
        in its metrics, :func:`with_scale`) when they are not 1.
    """
    spread = np.std(values, axis=0) if len(values) else np.ones(values.shape[1:])
    low, high = SAFE_SPREAD
    far = np.isfinite(spread) & (spread > 0) & ((spread < low) | (spread > high))
    return np.where(far, np.exp2(np.round(np.log2(np.where(far, spread, 1.0)))), 1.0)


def fitted_outcomes(oriented: np.ndarray, warp: bool) -> tuple[np.ndarray, np.ndarray]:
    """Measured values as a surrogate is fitted on them, and the scale they were divided by.

    The one place that decides it: the planners, campaign training and the dashboard's
    diagnostics all fit on these values, so that a model trained on some data is the one
    a proposal on them fits.

    Args:
        oriented: ``n x m`` values, oriented so that larger is better.
        warp: Warp them (:func:`warp_outcomes`), which standardises
            them first; else divide them by their :func:`fitting_scale`.

    Returns:
        ``n x m`` values to fit and ``m`` divisors (ones when warped).
    """
    if warp:
        return warp_outcomes(oriented), np.ones(oriented.shape[1])
    scale = fitting_scale(oriented)
    return oriented / scale, scale


def with_scale(artifact: ModelArtifact, name: str, scale: np.ndarray) -> ModelArtifact:
    """``artifact`` noting the :func:`fitting_scale` its model was fitted in, if not 1.

    The stored model predicts measured values divided by it. The planner's models and
    those campaign training registers are noted this way.

    Args:
        artifact: The fitted model's registry artifact.
        name: Metric to note the scale under (``objective_scale``, ``constraint_scale``).
        scale: ``k`` divisors from :func:`fitting_scale` or :func:`fitted_outcomes`.

    Returns:
        ``artifact`` with ``metrics[name] = scale`` as a list, or unchanged when all are 1.
    """
    if (scale == 1).all():
        return artifact
    return replace(artifact, metrics={**artifact.metrics, name: scale.tolist()})


def _divided(bound: float | None, scale: float) -> float | None:
    return None if bound is None else bound / scale


#: Points standing for the population whose top is hunted (``top``): pools larger than
#: this are subsampled, and open spaces are sampled this densely.
REFERENCE_POINTS = 4096


def _reference(problem: PlanningProblem, seed: int) -> np.ndarray:
    """``r x d`` points standing for the population: the whole pool, or a space sample."""
    rng = np.random.default_rng(seed)
    if problem.pool is None:
        points = problem.space.encode(problem.space.sample(REFERENCE_POINTS, rng))
    elif len(problem.pool) > REFERENCE_POINTS:
        points = problem.pool[rng.choice(len(problem.pool), REFERENCE_POINTS, replace=False)]
    else:
        points = problem.pool
    return points


class _RowCache:
    """A prior evaluated once per distinct input row (the pool is scored many times)."""

    def __init__(self, prior: Prior, factor: float) -> None:
        self.prior, self.factor = prior, factor  # orientation and fitting scale
        self.values: dict[bytes, float] = {}

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        rows = X.detach().cpu().to(torch.float64).numpy()
        keys = [row.tobytes() for row in rows]
        missing = [i for i, k in enumerate(keys) if k not in self.values]
        if missing:
            predicted = np.asarray(self.prior(rows[missing]), dtype=float).reshape(-1)
            self.values.update(zip((keys[i] for i in missing), predicted, strict=True))
        values = [self.factor * self.values[k] for k in keys]
        return torch.tensor(values, dtype=DTYPE, device=X.device)


@dataclass(frozen=True)
class PortfolioPlanner:
    """GP-Hedge-style portfolio: each round, draw an acquisition function by its rewards.

    An arm's gain is the sum of the standardised values (larger is better) of the
    completed experiments it chose, read from the strategy recorded on each trial, so the
    portfolio needs no state of its own and resumes exactly. The arm is drawn with
    probability proportional to ``exp(eta * gain)`` (Hedge; Hoffman et al., UAI 2011,
    with observed rather than predicted rewards).

    Attributes:
        arms: Registered acquisition names (:func:`discovery.acquisition.acquisitions`).
        eta: Hedge learning rate.
        base: The planner each arm runs with (surrogate, warping, MC samples).

    """

    arms: tuple[str, ...] = ("qlognei", "qucb", "qsr")
    eta: float = 1.0
    base: GPPlanner = GPPlanner(warp=True)

    name: ClassVar[str] = "portfolio"

    def weights(self, problem: PlanningProblem) -> np.ndarray:
        """Probability of drawing each arm this round, shape ``len(arms)``."""
        y = problem.objectives[0].direction.sign * problem.Y[:, 0]
        z = (y - y.mean()) / y.std() if y.size > 1 and y.std() > 0 else np.zeros_like(y)
        strategies = problem.strategies or (None,) * len(z)
        gains = np.array(
            [
                sum(v for v, s in zip(z, strategies, strict=True) if s == self._label(arm))
                for arm in self.arms
            ]
        )
        logits = self.eta * np.clip(gains, -50, 50)
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        """Draw an arm and let it choose the whole batch."""
        check_campaign_shape(self, len(problem.objectives), len(problem.constraints))
        rng = np.random.default_rng(seed)
        arm = self.arms[int(rng.choice(len(self.arms), p=self.weights(problem)))]
        plan = replace(self.base, acquisition=arm).plan(problem, q, seed)
        label = self._label(arm)
        return Plan([replace(s, strategy=label) for s in plan.suggestions], plan.model)

    def _label(self, arm: str) -> str:
        return f"{self.name}:{arm}"


@dataclass(frozen=True)
class PolicyPlanner:
    """A learned acquisition policy (:mod:`discovery.policy`) on a GP's posterior.

    Each pick of a batch is the pool candidate the policy scores highest; pending
    experiments and earlier picks enter as kriging-believer fantasies, which leave the
    posterior mean unchanged and shrink the standard deviation near them, so a batch
    spreads out instead of repeating one region.

    Attributes:
        policy: The trained policy.
        version: Its registry version (the strategy is recorded as ``rl:VERSION``).
        horizon: Experiments the policy was trained to choose after an initial design.
            The fraction of its budget left is, as in training, that of the model's own
            choices: ``1 - chosen / (budget - initial)``, with ``horizon`` for the
            campaign's choices when it has no budget; never below ``1 / horizon``, the
            last value training showed it.
        warp: Fit the GP to warped values (see :class:`GPPlanner`).

    """

    policy: AcquisitionPolicy
    version: str
    horizon: int = 30
    warp: bool = False

    @property
    def name(self) -> str:
        """``rl:VERSION``."""
        return f"rl:{self.version}"

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        """Fit a GP and choose ``q`` pool candidates by the policy's scores."""
        shape = len(problem.objectives), len(problem.constraints)
        check_campaign_shape(self, *shape, pool=problem.pool is not None)
        assert problem.pool is not None  # refused above: the policy scores a pool
        available = problem.available_indices()
        if available.size == 0:
            return Plan([])
        torch.manual_seed(seed)
        oriented = problem.objectives[0].direction.sign * problem.Y[:, :1]
        train_Y = torch.as_tensor(fitted_outcomes(oriented, self.warp)[0], dtype=DTYPE)
        train_X = torch.as_tensor(problem.X, dtype=DTYPE)
        bounds = torch.as_tensor(GPPlanner._bounds(problem), dtype=DTYPE)
        with routine_warnings_silenced():
            model = fit_gp(train_X, train_Y, bounds)
        candidates = torch.as_tensor(problem.pool[available], dtype=DTYPE)
        pending = torch.as_tensor(problem.X_pending, dtype=DTYPE).reshape(-1, train_X.shape[1])
        done = problem.X.shape[0] + pending.shape[0]
        before = _believer_posterior(model, candidates, pending[:0])
        picks: list[int] = []
        values: list[float] = []
        for i in range(min(q, available.size)):
            fantasies = torch.cat([pending, candidates[picks]])
            mean, std = _believer_posterior(model, candidates, fantasies, before)
            left = self._budget_left(problem, done + i)
            with torch.no_grad():
                features = policy_features(mean, std, train_Y[:, 0], left).float()
                scores = self.policy(features)
            scores[picks] = -torch.inf
            best = int(scores.argmax())
            picks.append(best)
            values.append(float(scores[best]))
        chosen = available[picks]
        points = problem.space.decode(problem.pool[chosen])
        suggestions = [
            Suggestion(p, int(i), v) for p, i, v in zip(points, chosen, values, strict=True)
        ]
        return Plan(suggestions, gp_artifact(model, train_X, train_Y))

    def _budget_left(self, problem: PlanningProblem, spent: int) -> float:
        """Share of the model's choices left: in training, ``1 - step / horizon``."""
        chosen = max(spent - problem.initial, 0)  # the initial design is not the policy's
        horizon = self.horizon if problem.budget is None else problem.budget - problem.initial
        horizon = max(horizon, 1)
        return float(np.clip(1 - chosen / horizon, 1 / horizon, 1.0))


def check_campaign_shape(
    planner: Planner, objectives: int, constraints: int, pool: bool = True
) -> None:
    """Refuse a planner that cannot choose for a campaign of this shape.

    Called when a campaign is created, so that it is refused before its random initial
    design is spent, not at its first model-guided batch.

    Args:
        planner: The campaign's planner.
        objectives: How many objectives the campaign has.
        constraints: How many outcome constraints it has.
        pool: Whether the campaign chooses from a pool of candidates (False: an open space).

    Raises:
        ValueError: naming the strategy and what the campaign needs.
    """
    if isinstance(planner, RandomPlanner):
        return
    scores_pool = isinstance(planner, PolicyPlanner) or (
        isinstance(planner, GPPlanner)
        and (planner.prior is not None or planner.acquisition in POOL_ONLY)
    )
    if scores_pool and not pool:
        raise ValueError(
            f"strategy {planner.name!r} scores a pool of candidates; this campaign is an "
            "open space (give it candidates, or choose a strategy without a policy, a prior, "
            "topk, ens or ensfinal)"
        )
    if isinstance(planner, GPPlanner):
        planner.check_shape(objectives, constraints)
    elif objectives != 1 or constraints:
        raise ValueError(
            f"strategy {planner.name!r} chooses for one objective without outcome constraints; "
            f"this campaign has {objectives} objective(s) and {constraints} constraint(s) "
            "(gp or gp+warp serve it)"
        )


def _believer_posterior(
    model: Model,
    candidates: torch.Tensor,
    fantasies: torch.Tensor,
    before: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std at ``candidates`` after believing the mean at ``fantasies``.

    Args:
        model: Fitted single-output GP.
        candidates: ``N x d`` inputs.
        fantasies: ``p x d`` inputs whose outcome is taken to be the posterior mean.
        before: This function's result without fantasies, if already known (a batch
            asks once per pick).

    Returns:
        ``N`` means (unchanged by fantasies) and ``N`` latent standard deviations.
    """
    with torch.no_grad():
        if before is None:
            posterior = cast(GPyTorchPosterior, model.posterior(candidates))
            mean, variance = posterior.mean.squeeze(-1), posterior.variance.squeeze(-1)
        else:
            mean, variance = before[0], before[1].square()
        if fantasies.shape[0] > 0:
            joint = torch.cat(
                [candidates.unsqueeze(1), fantasies.expand(len(candidates), -1, -1)], 1
            )
            # noisy covariance: a fantasy is a noisy measurement like any other
            noisy = cast(GPyTorchPosterior, model.posterior(joint, observation_noise=True))
            cov = noisy.distribution.covariance_matrix
            k = cov[:, 1:, :1]
            variance = (
                variance - (k.transpose(1, 2) @ torch.linalg.solve(cov[:, 1:, 1:], k))[:, 0, 0]
            )
        return mean, variance.clamp_min(1e-12).sqrt()


PLANNERS: dict[str, Callable[[], Planner]] = {
    "gp": GPPlanner,
    "ensemble": partial(GPPlanner, surrogate="ensemble"),
    "gnn": partial(GPPlanner, surrogate="gnn"),
    "transformer": partial(GPPlanner, surrogate="transformer"),
    "gp+qucb": partial(GPPlanner, acquisition="qucb"),
    # what a user gets from BoTorch's tutorial recipe: SingleTaskGP + qLogEI, defaults
    "botorch": partial(GPPlanner, acquisition="qlogei", label="botorch"),
    "gp+warp": partial(GPPlanner, warp=True),
    # HEBO's surrogate: Kumaraswamy-warped inputs and power-transformed outcomes
    "gp+iwarp+warp": partial(GPPlanner, input_warp=True, warp=True),
    "portfolio": PortfolioPlanner,
    "random": RandomPlanner,
}


def with_acquisition(name: str, acquisition: str) -> str:
    """The strategy ``name`` with its acquisition switched to ``acquisition``.

    The surrogate and the flags are kept, but ``endgame`` and ``believer``, which only
    change what the top hunters believe, go with any other acquisition. A strategy
    without a surrogate part (``random``, ``botorch``, ``portfolio``, ``rl:VERSION``)
    gives ``gp+acquisition``.
    Examples: ``gp+top+iwarp+warp+endgame`` with ``qucb`` is ``gp+qucb+iwarp+warp``;
    ``ensemble`` with ``qsr`` is ``ensemble+qsr``.
    """
    surrogate, *options = name.split("+")
    if surrogate not in surrogates():
        return f"gp+{acquisition}"
    hunting = acquisition in TOP_HUNTING
    beliefs = ("endgame", "believer")  # what top hunters believe: no other's concern
    flags = [o for o in options if o not in acquisitions() and (o not in beliefs or hunting)]
    return "+".join([surrogate, acquisition, *flags])


def with_surrogate(name: str, surrogate: str) -> str:
    """The strategy ``name`` with its surrogate switched to ``surrogate``.

    The acquisition and flags are kept where the new surrogate serves them: ``top``, its
    ``endgame`` and ``iwarp`` need a GP
    (:func:`~discovery.campaign_models.gaussian_processes`), so another surrogate drops
    them and takes its default acquisition. A strategy without a surrogate part
    (``random``, ``botorch``, ``portfolio``, ``rl:VERSION``) gives ``surrogate`` alone.
    Examples: ``gp+qucb+iwarp+warp`` on ``ensemble`` is ``ensemble+qucb+warp``;
    ``gp+top+iwarp+warp+endgame`` on ``bayesgp`` is ``bayesgp+top+iwarp+warp+endgame``.
    """
    base, *options = name.split("+")
    if base not in surrogates():
        return surrogate
    needs_gp = {*TOP_HUNTING, "iwarp", "endgame", "believer"}
    gp = is_gaussian_process(surrogate)
    return "+".join([surrogate, *(o for o in options if gp or o not in needs_gp)])


def strategy_words() -> frozenset[str]:
    """Words a strategy name is made of, other than acquisitions: none may name one.

    The surrogates among them are those registered so far: the plugin loaders ask while
    they register, so this loads no plugins.
    """
    return frozenset({*SURROGATES, *SURROGATE_PLUGINS, *STRATEGY_FLAGS, *PLANNERS, "rl", "oracle"})


def make_planner(name: str) -> Planner:
    """Build a planner by name: in :data:`PLANNERS`, or ``surrogate[+acquisition][+flags]``.

    The flags are ``iwarp``, ``warp`` and, with the top hunters, ``endgame``
    (:data:`ENDGAME_BATCHES`) or ``believer``. Examples: ``gp``, ``random``, ``portfolio``,
    ``ensemble+qucb``, ``gp+qlogei+iwarp``, ``gp+top+iwarp+warp+endgame``.

    Raises:
        ValueError: for an unknown name, listing what is known.
    """
    if name in PLANNERS:
        return PLANNERS[name]()
    surrogate, *options = name.split("+")
    registered = acquisitions()
    chosen = [o for o in options if o in registered]
    known = surrogate in surrogates() and len(chosen) <= 1
    extra = set(options) - {*chosen, *STRATEGY_FLAGS}
    if not known or extra or len(set(options)) < len(options):
        broken = [PLUGIN_FAILURES[w] for w in (surrogate, *options) if w in PLUGIN_FAILURES]
        if broken:  # an installed plugin it names: why that one is missing
            raise ValueError(f"strategy {name!r}: {broken[0]}")
        raise ValueError(
            f"unknown strategy {name!r}; choose from {sorted(PLANNERS)} or "
            f"surrogate[+acquisition][+iwarp][+warp][+endgame|+believer] with surrogate in "
            f"{list(surrogates())} and acquisition in {sorted(registered)} (a surrogate or "
            f"acquisition of your own is registered by an installed package's "
            f"{SURROGATE_PLUGIN_GROUP!r} or {PLUGIN_GROUP!r} entry point); a campaign also "
            "takes rl:VERSION, a policy trained by matloop model train-policy"
        )
    return GPPlanner(
        surrogate=surrogate,
        acquisition=chosen[0] if chosen else DEFAULT_ACQUISITION,
        warp="warp" in options,
        input_warp="iwarp" in options,
        endgame_batches=ENDGAME_BATCHES if "endgame" in options else 0,
        believer="believer" in options,
    )
