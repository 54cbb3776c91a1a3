"""Batch acquisition: qLogNoisyExpectedImprovement over a discrete pool or a box.

Pending experiments (proposed, not yet measured) enter as ``X_pending``, and every pick of
a batch is conditioned on them and on the earlier picks (greedy sequential batch), so a
new batch never duplicates work already handed out.

Besides the improvement family, ``top`` hunts for the candidates in the top fraction of
the pool (Bayesian active search): it scores each by its probability of lying above the
level that the model expects the pool's top 5% to clear, believing that pending
experiments miss it; ``topk`` scores its chance of ranking among the pool's top 5% in
joint posterior samples; ``ens`` adds the top finds its outcome would make likelier among
the experiments the budget has left (nonmyopic active search).
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

import gpytorch
import numpy as np
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import (
    AnalyticAcquisitionFunction,
    _log_ei_helper,  # LogEI's stable core; pinned
)
from botorch.acquisition.cached_cholesky import supports_cache_root
from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.acquisition.monte_carlo import (
    MCAcquisitionFunction,
    qSimpleRegret,
    qUpperConfidenceBound,
)
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf, optimize_acqf_mixed
from botorch.posteriors.gpytorch import GPyTorchPosterior
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from botorch.utils.multi_objective.pareto import is_non_dominated
from botorch.utils.probability.utils import log_phi
from gpytorch.likelihoods import GaussianLikelihood
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch.special import log_ndtr, ndtr

from discovery.metrics import top_count

MAX_CATEGORY_COMBINATIONS = 256


def qmc_sampler(mc_samples: int, seed: int) -> SobolQMCNormalSampler:
    """A seeded Sobol QMC sampler of ``mc_samples`` posterior draws."""
    return SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed)


def nonempty(X_pending: torch.Tensor | None) -> torch.Tensor | None:
    """``X_pending``, or None when there is none (BoTorch's convention)."""
    return X_pending if X_pending is not None and X_pending.shape[0] > 0 else None


#: An outcome constraint for BoTorch: samples ``... x q x outputs`` -> feasible where <= 0.
Constraint = Callable[[torch.Tensor], torch.Tensor]


def outcome_constraints(
    bounds: Sequence[tuple[int, float | None, float | None]],
) -> list[Constraint]:
    """BoTorch constraint callables for model outputs that must lie in ranges.

    Args:
        bounds: ``(output index, lower or None, upper or None)`` per constrained output.

    """
    constraints: list[Constraint] = []
    for index, lower, upper in bounds:
        if lower is not None:
            constraints.append(partial(_at_least, index=index, bound=lower))
        if upper is not None:
            constraints.append(partial(_at_most, index=index, bound=upper))
    return constraints


def _at_least(Z: torch.Tensor, index: int, bound: float) -> torch.Tensor:
    return bound - Z[..., index]


def _at_most(Z: torch.Tensor, index: int, bound: float) -> torch.Tensor:
    return Z[..., index] - bound


def _first_output(Z: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
    return Z[..., 0]


def qlognei(
    model: Model,
    X_baseline: torch.Tensor,
    X_pending: torch.Tensor | None = None,
    mc_samples: int = 256,
    seed: int = 0,
    constraints: Sequence[Constraint] = (),
) -> qLogNoisyExpectedImprovement:
    """Build qLogNEI with a seeded quasi-Monte-Carlo sampler.

    Args:
        model: Fitted surrogate; output 0 is the objective (larger is better), any
            further outputs are constrained quantities.
        X_baseline: ``n x d`` inputs already measured.
        X_pending: ``p x d`` inputs handed out but not measured, or None.
        mc_samples: Number of QMC posterior samples.
        seed: Sampler seed.
        constraints: Outcome constraints (:func:`outcome_constraints`); improvement is
            weighted by the probability of feasibility.

    """
    sampler, pending = qmc_sampler(mc_samples, seed), nonempty(X_pending)
    extra: dict[str, Any] = {}
    if constraints:
        extra = {
            "objective": GenericMCObjective(_first_output),
            "constraints": list(constraints),
        }
    return qLogNoisyExpectedImprovement(
        model=model,
        X_baseline=X_baseline,
        sampler=sampler,
        X_pending=pending,
        cache_root=supports_cache_root(model),  # ensembles have no Cholesky factor to cache
        **extra,
    )


@dataclass(frozen=True)
class AcquisitionInputs:
    """What an acquisition builder may use.

    Attributes:
        model: Fitted single-output surrogate (larger is better).
        X_baseline: ``n x d`` inputs already measured.
        Y_baseline: ``n x 1`` their values, oriented so that larger is better.
        X_pending: ``p x d`` inputs handed out but not measured, or None.
        mc_samples: Number of QMC posterior samples.
        seed: Sampler seed.
        reference: ``r x d`` points standing for the population whose top fraction is
            hunted (the pool, or a sample of an open space); ``top`` needs them.
        endgame: The batch is one of a budgeted campaign's last, where exploring no
            longer pays; ``top`` then believes its picks at their mean, not as misses.
        budget_left: Experiments of the campaign's budget not yet measured (pending
            included), or None without a budget; ``ens`` looks ahead to them.

    """

    model: Model
    X_baseline: torch.Tensor
    Y_baseline: torch.Tensor
    X_pending: torch.Tensor | None = None
    mc_samples: int = 256
    seed: int = 0
    reference: torch.Tensor | None = None
    endgame: bool = False
    budget_left: int | None = None

    @property
    def sampler(self) -> SobolQMCNormalSampler:
        """A seeded Sobol QMC sampler."""
        return qmc_sampler(self.mc_samples, self.seed)

    @property
    def pending(self) -> torch.Tensor | None:
        """``X_pending``, or None when empty."""
        return nonempty(self.X_pending)


def _qlognei(inputs: AcquisitionInputs) -> MCAcquisitionFunction:
    return qlognei(
        inputs.model, inputs.X_baseline, inputs.X_pending, inputs.mc_samples, inputs.seed
    )


def _qucb(inputs: AcquisitionInputs) -> MCAcquisitionFunction:
    # beta = 2: the common default (BoTorch tutorials), a ~1.4 sigma optimism
    return qUpperConfidenceBound(
        inputs.model, beta=2.0, sampler=inputs.sampler, X_pending=inputs.pending
    )


def _qlogei(inputs: AcquisitionInputs) -> MCAcquisitionFunction:
    # BoTorch's default recipe: improvement over the best observed value
    return qLogExpectedImprovement(
        inputs.model,
        best_f=inputs.Y_baseline.max(),
        sampler=inputs.sampler,
        X_pending=inputs.pending,
    )


def _qsr(inputs: AcquisitionInputs) -> MCAcquisitionFunction:
    # pure exploitation: the expected best of the batch (an arm of the portfolio)
    return qSimpleRegret(inputs.model, sampler=inputs.sampler, X_pending=inputs.pending)


#: The share of a pool that counts as its top, as in the campaign metrics (EF, AF): the
#: ``top`` acquisition hunts for it.
TOP_FRACTION = 0.05


def top_level(model: Model, reference: torch.Tensor, fraction: float = TOP_FRACTION) -> float:
    """The value that the top ``fraction`` of ``reference`` is expected to exceed.

    Solves ``sum_i P(f(x_i) > level) = k`` over the posterior marginals of the ``r``
    reference points (averaged over a fully Bayesian GP's hyperparameter samples) by
    bisection (the expected count is monotone in the level), with
    ``k = ceil(fraction * r)`` as in the campaign metrics' top set
    (:func:`discovery.metrics.top_count`). On a small pool the rounding matters: a level
    for ``fraction * r`` expected finds would leave the metrics' last member out.

    Args:
        model: Fitted single-output surrogate (larger is better).
        reference: ``r x d`` points standing for the population (a pool, or a sample).
        fraction: Share of the population that counts as its top, in ``(0, 1)``.

    Returns:
        The level, in the model's outcome units.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction: must be in (0, 1), got {fraction}")
    # the expected count stays under r at every level: with k = r, aim just below it
    count = min(top_count(len(reference), fraction), len(reference) - 0.5)
    with torch.no_grad():
        mean, sigma = _sampled_marginals(model, reference)
    low = float((mean - 8 * sigma).min())
    high = float((mean + 8 * sigma).max())
    for _ in range(60):  # halves a bracket of any width to double precision
        level = (low + high) / 2
        expected = float(ndtr((mean - level) / sigma).mean(0).sum())
        low, high = (level, high) if expected > count else (low, level)
    return (low + high) / 2


#: What ``top`` believes a batch's picks measure: a miss, or the posterior mean.
BELIEFS = ("miss", "mean")


class LogProbabilityOfTop(AcquisitionFunction):
    """``log P(f(x) > level)``: how likely a candidate is to be a top find.

    Summed over a batch, these probabilities are the expected number of top finds
    (one-step Bayesian active search; Garnett et al., ICML 2012). Left alone, the greedy
    batch would crowd around the likeliest region, since the count ignores how outcomes
    correlate. So each pending experiment and earlier pick is believed to miss: the model
    is conditioned on its expected value given that it stays below the level, which
    lowers its neighbours' chances and spreads the batch out. This approximates
    sequential simulation with a pessimistic oracle (Jiang et al., NeurIPS 2018): every
    belief is taken from the model before any of them, and all are conditioned on at
    once. A point sure to clear the level is believed to sit just under it.

    Spreading out is exploration, and it pays only while later batches can use what it
    finds. In a campaign's last batches (``belief="mean"``) each pick is believed at its
    posterior mean instead (the kriging believer): the means stay and only the spread
    near a pick shrinks, so a batch may stay where top finds are likely.

    Under a fully Bayesian GP the probability is averaged over its hyperparameter
    samples, and each sample believes its own outcome.

    Args:
        model: Fitted single-output surrogate (larger is better).
        level: The value a top find must exceed (:func:`top_level`).
        belief: What each pending experiment and earlier pick is believed to measure:
            ``miss`` (its mean below the level) or ``mean`` (its posterior mean).

    Example:
        >>> acqf = LogProbabilityOfTop(model, top_level(model, pool))
        >>> acqf(pool.unsqueeze(-2))  # N log-probabilities
    """

    def __init__(self, model: Model, level: float, belief: str = "miss") -> None:
        if belief not in BELIEFS:
            raise ValueError(f"belief: one of {BELIEFS}, got {belief!r}")
        super().__init__(model)
        self.level = level
        self.belief = belief
        self.believed = model
        super().set_X_pending(None)  # read by BoTorch's sequential optimisers

    def set_X_pending(self, X_pending: torch.Tensor | None = None) -> None:
        """Condition the model on what each pending experiment is believed to measure."""
        super().set_X_pending(X_pending)
        self.believed = self.model
        if X_pending is not None and len(X_pending):
            with torch.no_grad():
                mean, sigma = _sampled_marginals(self.model, X_pending)  # S x p
                believed = mean
                if self.belief == "miss":
                    alpha = (self.level - mean) / sigma
                    believed = mean - sigma * torch.exp(log_phi(alpha) - log_ndtr(alpha))
            if len(believed) == 1:
                X_believed, Y_believed = X_pending, believed[0].unsqueeze(-1)
            else:  # each hyperparameter sample believes its own outcome
                X_believed = X_pending.expand(len(believed), -1, -1)
                Y_believed = believed.unsqueeze(-1)
            self.believed = self.model.condition_on_observations(X_believed, Y_believed)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Log-probability of each ``b x 1 x d`` candidate, shape ``b``."""
        if X.shape[-2] != 1:
            raise ValueError(f"X: one point per t-batch is scored, got q = {X.shape[-2]}")
        mean, sigma = _sampled_marginals(self.believed, X.reshape(-1, X.shape[-1]))
        log_p = log_ndtr((mean - self.level) / sigma)  # S x b
        mixture = torch.logsumexp(log_p, dim=0) - math.log(len(log_p))
        return mixture.reshape(X.shape[:-2])


def _sampled_marginals(model: Model, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations of output 0 at ``n x d`` points, each ``S x n``.

    ``S`` is the number of a fully Bayesian GP's hyperparameter samples (its posterior is
    their equal mixture), 1 for any other model.
    """
    means, variances = [], []
    for chunk in X.split(SHORTLIST_CHUNK):
        posterior = cast(GPyTorchPosterior, model.posterior(chunk))
        means.append(posterior.mean[..., 0].reshape(-1, len(chunk)))
        variances.append(posterior.variance[..., 0].reshape(-1, len(chunk)))
    return torch.cat(means, dim=-1), torch.cat(variances, dim=-1).clamp_min(1e-12).sqrt()


def _marginals(model: Model, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations of output 0 at ``n x d`` points, each ``n``.

    For a fully Bayesian GP, those of the mixture over its hyperparameter samples.
    """
    mean, sigma = _sampled_marginals(model, X)
    mixture_mean = mean.mean(0)
    variance = sigma.square().mean(0) + (mean - mixture_mean).square().mean(0)
    return mixture_mean, variance.clamp_min(1e-12).sqrt()


def _top(inputs: AcquisitionInputs) -> AcquisitionFunction:
    if inputs.reference is None:
        raise ValueError("the top acquisition needs reference points (the pool or a sample)")
    belief = "mean" if inputs.endgame else "miss"
    return LogProbabilityOfTop(inputs.model, top_level(inputs.model, inputs.reference), belief)


#: Joint posterior samples from which ``topk`` estimates each candidate's chance of
#: ranking in the top.
MEMBERSHIP_SAMPLES = 2048
#: The fewest samples ``topk`` conditions on: a pending pick that would leave fewer (one
#: in the top in more than 98% of them, at 2,048) is a sure find, believed nothing of.
MIN_KEPT_SAMPLES = 32


class LogProbabilityInTop(AcquisitionFunction):
    """``log P(x ranks among the population's top k)``, from joint posterior samples.

    ``top`` asks whether a candidate clears one level, set from the marginals; but the
    top set is relative: where the model is unsure of the whole landscape's height, the
    candidates rise and fall together, and the k-th best moves with them. So this
    draws joint samples of the latent function over the reference population and the
    candidates; in each, the top set is the reference's ``k = ceil(0.05 r)`` best, and a
    candidate's probability is the share of samples in which it clears that sample's
    k-th value (Thompson-sampling estimates of top-k membership).

    Each pending experiment and earlier pick of a batch is believed to miss, as ``top``
    believes it, but exactly under the samples: the probabilities are taken over the
    samples in which none of them ranks in the top (the batch spreads out). They are
    taken in turn, and one that ranks in the top in all but a few of the samples still
    kept (fewer than :data:`MIN_KEPT_SAMPLES` would be left: a sure find) is believed
    nothing of, since chances over so few samples are noise; the others still count. In a
    campaign's endgame (``belief="mean"``) nothing is conditioned on.

    Late in a campaign the top rows left are unlikely ones, and most candidates rank in
    the top in none of the samples: counts alone would tie them, and the batch would go
    by pool order. So each count is completed by one more sample, an analytic one: the
    candidate's chance of clearing each kept sample's k-th value from its marginal
    (:meth:`shortlist_scores`' estimate; under a fully Bayesian GP, the marginal of the
    sample's own hyperparameter draw), which ranks candidates however far in the tail
    and moves a count by less than one sample. It follows the beliefs only through the
    thresholds of the samples kept, not through a candidate's correlation with the
    pending experiments: among candidates that no sample puts in the top, a batch
    spreads out little.

    The candidates must be given before scoring (:meth:`prepare`), since they are sampled
    jointly with the reference: the pool's available rows, or a large pool's shortlist
    (chosen by :meth:`shortlist_scores`). A fully Bayesian GP's samples pool its
    hyperparameter samples.

    Args:
        model: Fitted single-output surrogate (larger is better).
        reference: ``r x d`` points standing for the population (a pool, or a sample of
            a large one).
        belief: What each pending experiment and earlier pick is believed to measure:
            ``miss`` (it ranks outside the top) or ``mean`` (nothing is conditioned on).
        samples: Joint posterior samples drawn (QMC).
        seed: Sampler seed.

    Example:
        >>> acqf = LogProbabilityInTop(model, pool)
        >>> acqf.prepare(pool[available])
        >>> acqf(pool[available].unsqueeze(-2))  # log-probabilities, one per candidate
    """

    def __init__(
        self,
        model: Model,
        reference: torch.Tensor,
        belief: str = "miss",
        samples: int = MEMBERSHIP_SAMPLES,
        seed: int = 0,
    ) -> None:
        if belief not in BELIEFS:
            raise ValueError(f"belief: one of {BELIEFS}, got {belief!r}")
        super().__init__(model)
        self.reference, self.belief = reference, belief
        self.sampler = SobolQMCNormalSampler(torch.Size([samples]), seed=seed)
        self.count = top_count(len(reference), TOP_FRACTION)
        self.rows: dict[bytes, int] = {}
        self.member = torch.zeros(samples, 0, dtype=reference.dtype, device=reference.device)
        self.tail_shift = self.member[0]  # n, and S x n: see _prepare_tail
        self.tail_share = self.member
        self.weights = self._uniform()
        super().set_X_pending(None)

    def _draw(self, X: torch.Tensor) -> torch.Tensor:
        """``S x n`` joint samples of the latent function at ``n x d`` points."""
        with torch.no_grad():
            f = self.sampler(self.model.posterior(X))[..., 0]
        return f.reshape(-1, X.shape[0])

    def _thresholds(self, f: torch.Tensor) -> torch.Tensor:
        """Each sample's k-th best value over the reference (its first ``r`` columns)."""
        return f[:, : len(self.reference)].topk(self.count, dim=-1).values[:, -1:]

    def prepare(self, candidates: torch.Tensor, X_pending: torch.Tensor | None = None) -> None:
        """Sample the candidates (and pending experiments) jointly with the reference.

        Args:
            candidates: ``n x d`` points that will be scored.
            X_pending: ``p x d`` experiments handed out but not measured, or None.
        """
        rows = {_key(x): i for i, x in enumerate(self.reference)}
        points = [self.reference]
        for X in (candidates, X_pending):
            for x in [] if X is None else X:
                if _key(x) not in rows:
                    rows[_key(x)] = len(rows)
                    points.append(x.unsqueeze(0))
        X = torch.cat(points)
        f = self._draw(X)
        self.rows = rows
        thresholds = self._thresholds(f)  # S x 1
        self.member = (f >= thresholds).to(f)  # S x n; (S M) x n under a bayesgp
        self._prepare_tail(X, thresholds)
        self.set_X_pending(self.X_pending)

    def _prepare_tail(self, X: torch.Tensor, thresholds: torch.Tensor) -> None:
        """The analytic sample's terms: ``log P(f(x) > t_s)`` from x's marginal, per sample.

        Kept as ``shift + log(share)`` (the largest over the samples, and ``S x n``
        shares of it), so that :meth:`forward` averages them over the kept samples with
        one product, as it counts.

        Args:
            X: ``n x d`` points sampled.
            thresholds: ``S x 1`` each sample's k-th value; a fully Bayesian GP's samples
                cycle through its ``M`` hyperparameter draws (row ``r`` is draw ``r % M``).
        """
        with torch.no_grad():
            mean, sigma = _sampled_marginals(self.model, X)  # M x n
        cycles = len(thresholds) // len(mean)
        log_p = log_ndtr((mean.repeat(cycles, 1) - thresholds) / sigma.repeat(cycles, 1))
        self.tail_shift = log_p.max(0).values
        self.tail_share = (log_p - self.tail_shift).exp()

    def shortlist_scores(self, candidates: torch.Tensor) -> torch.Tensor:
        """Approximate log-probabilities of ``n x d`` candidates, shape ``n``.

        Each candidate is taken as independent of the reference's samples: good enough
        to shortlist a large pool, since the exact scores of :meth:`prepare` decide.
        """
        thresholds = self._thresholds(self._draw(self.reference)).squeeze(-1)  # S
        with torch.no_grad():
            mean, sigma = _marginals(self.model, candidates)
        z = (mean.unsqueeze(-1) - thresholds) / sigma.unsqueeze(-1)  # n x S
        return torch.logsumexp(log_ndtr(z), dim=-1) - math.log(len(thresholds))

    def _uniform(self) -> torch.Tensor:
        """Equal weights for every sample drawn (a fully Bayesian GP's: S times M)."""
        return torch.ones(len(self.member), dtype=self.member.dtype, device=self.member.device)

    def _indices(self, X: torch.Tensor) -> torch.Tensor:
        return _prepared_rows(self.rows, X, "topk").to(self.member.device)

    def set_X_pending(self, X_pending: torch.Tensor | None = None) -> None:
        """Keep the samples in which the pending experiments miss the top, each in turn."""
        super().set_X_pending(X_pending)
        self.weights = self._uniform()
        if self.belief == "mean" or X_pending is None or not len(X_pending) or not self.rows:
            return
        for index in self._indices(X_pending):
            kept = self.weights * (1 - self.member[:, index])
            if kept.sum() >= MIN_KEPT_SAMPLES:  # else a sure find: too few samples left
                self.weights = kept

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Log-probability of each ``b x 1 x d`` candidate, shape ``b``."""
        if X.shape[-2] != 1:
            raise ValueError(f"X: one point per t-batch is scored, got q = {X.shape[-2]}")
        columns = self._indices(X.reshape(-1, X.shape[-1]))
        counts = self.weights @ self.member[:, columns]  # b, over the kept samples
        kept = self.weights.sum()
        # the analytic sample: the weighted mean over kept samples of P(f(x) > t_s)
        shares = (self.weights @ self.tail_share[:, columns]).clamp_min(
            torch.finfo(kept.dtype).tiny
        )
        tail = self.tail_shift[columns] + shares.log() - kept.log()
        log_p = torch.logaddexp(counts.log(), tail) - (kept + 1).log()
        return log_p.reshape(X.shape[:-2])


def _key(x: torch.Tensor) -> bytes:
    """A point's identity: its coordinates' bytes (pool rows are scored as stored)."""
    return x.detach().cpu().numpy().tobytes()


def _prepared_rows(rows: dict[bytes, int], X: torch.Tensor, name: str) -> torch.Tensor:
    """Rows of ``n x d`` points among the candidates acquisition ``name`` was prepared with.

    Raises:
        ValueError: for a point it was not prepared with.
    """
    try:
        found = [rows[_key(x)] for x in X]
    except KeyError:
        raise ValueError(f"{name} scores only the candidates it was prepared with") from None
    return torch.tensor(found, dtype=torch.long, device=X.device)


def _topk(inputs: AcquisitionInputs) -> AcquisitionFunction:
    if inputs.reference is None:
        raise ValueError("the topk acquisition needs reference points (the pool)")
    belief = "mean" if inputs.endgame else "miss"
    return LogProbabilityInTop(inputs.model, inputs.reference, belief, seed=inputs.seed)


#: Gauss-Hermite nodes over which ``ens`` averages a candidate's possible outcomes.
OUTCOME_NODES = 8
#: What ``ens`` counts: the top finds at the budget's end, or summed over the experiments
#: left (a find counted once for every experiment after it: the sooner the better).
REWARDS = ("final", "cumulative")
#: Candidates ``ens`` scores at most: it keeps their joint covariance (``n x n``).
ENS_CANDIDATES = 2048
#: Candidates whose lookahead ``ens`` computes at once (memory ``chunk x n`` per node).
ENS_CHUNK = 128


class ExpectedTopFinds(LogProbabilityOfTop):
    """Efficient nonmyopic search (ENS): the top finds expected from the experiments left.

    ``top`` counts only the finds of the batch being chosen. But an experiment also
    teaches the model where the top lies, which pays while experiments remain. ENS
    (Jiang et al., ICML 2017) scores a candidate by its own chance of being a top find
    plus the expected sum of the ``k`` highest chances that would remain among the other
    candidates once its outcome is known, ``k`` being the experiments left after it: as
    if the rest of the budget were then spent at once. Early on the second term favours
    informative candidates; as the budget runs out ``k`` shrinks and the score becomes
    ``top``'s, so exploration ends when it no longer pays, with no endgame rule.

    ``reward="final"`` is Jiang et al.'s: the finds at the budget's end, however late
    they come. It is indifferent to when a sure find is measured, so it leaves sure
    finds for last and spends the budget learning first. A lab counts experiments until
    its finds, so by default (``"cumulative"``) a find counts once for every experiment
    left from it on, the area under the discovery curve: the ``j``-th best chance left is
    the ``(j + 1)``-th experiment from now and weighs ``1 - j / (k + 1)``.

    The outcome is averaged over :data:`OUTCOME_NODES` Gauss-Hermite nodes of its
    predictive distribution; each updates the other candidates' marginals exactly (one
    Gaussian observation). A batch is chosen by sequential simulation, each pick believed
    to miss (or, with ``belief="mean"``, at its mean) as in ``top``; Jiang et al.
    (NeurIPS 2018) found the pessimistic belief the better one for batch ENS. Without a
    budget nothing is left to look ahead to, and the scores are ``top``'s.

    The candidates must be given before scoring (:meth:`prepare`): their joint posterior
    is kept, at most :data:`ENS_CANDIDATES` of them (a large pool's shortlist).

    Args:
        model: Fitted single-output GP (larger is better).
        level: The value a top find must exceed (:func:`top_level`).
        budget_left: Experiments not yet measured in the campaign's budget (those pending
            included), or None for an open-ended campaign.
        belief: What each pending experiment and earlier pick is believed to measure.
        reward: ``cumulative`` (finds weighted by the experiments left after them) or
            ``final`` (finds at the budget's end).

    Example:
        >>> acqf = ExpectedTopFinds(model, top_level(model, pool), budget_left=40)
        >>> acqf.prepare(pool[available])
        >>> acqf(pool[available].unsqueeze(-2))  # one score per candidate
    """

    def __init__(
        self,
        model: Model,
        level: float,
        budget_left: int | None,
        belief: str = "miss",
        reward: str = "cumulative",
    ) -> None:
        if budget_left is not None and budget_left < 0:
            raise ValueError(f"budget_left: must be >= 0, got {budget_left}")
        if reward not in REWARDS:
            raise ValueError(f"reward: one of {REWARDS}, got {reward!r}")
        super().__init__(model, level, belief)
        self.budget_left, self.reward = budget_left, reward
        self.candidates: torch.Tensor | None = None
        self.rows: dict[bytes, int] = {}
        self.scores: torch.Tensor | None = None  # computed when first asked for

    def shortlist_scores(self, candidates: torch.Tensor) -> torch.Tensor:
        """Log-chances of ``n x d`` candidates before any belief (``top``'s), shape ``n``."""
        with torch.no_grad():
            return LogProbabilityOfTop.forward(self, candidates.unsqueeze(-2))

    def prepare(self, candidates: torch.Tensor, X_pending: torch.Tensor | None = None) -> None:
        """Keep the candidates to be scored.

        Args:
            candidates: ``n x d`` points that will be scored.
            X_pending: ``p x d`` experiments handed out but not measured, or None.
        """
        if len(candidates) > ENS_CANDIDATES:
            raise ValueError(
                f"candidates: ens scores at most {ENS_CANDIDATES} (got {len(candidates)}); "
                "shortlist them first"
            )
        self.candidates = candidates
        self.rows = {_key(x): i for i, x in enumerate(candidates)}
        self.set_X_pending(X_pending)

    def set_X_pending(self, X_pending: torch.Tensor | None = None) -> None:
        """Condition on the pending experiments' beliefs; the candidates are scored anew."""
        super().set_X_pending(X_pending)
        self.scores = None

    def _expected_finds(self, X: torch.Tensor) -> torch.Tensor:
        """ENS score of every candidate ``X`` (``n x d``), shape ``n``.

        Averaged over a fully Bayesian GP's hyperparameter samples. The candidates
        pending or picked are not looked ahead to.
        """
        pending = self.X_pending if self.X_pending is not None else X[:0]
        excluded = torch.zeros(len(X), dtype=torch.bool, device=X.device)
        for x in pending:
            if (row := self.rows.get(_key(x))) is not None:
                excluded[row] = True
        ahead = 0 if self.budget_left is None else self.budget_left - len(pending) - 1
        posterior = cast(GPyTorchPosterior, self.believed.posterior(X))
        mean = posterior.mean[..., 0].reshape(-1, len(X))  # S x n
        covariance = posterior.mvn.covariance_matrix.reshape(-1, len(X), len(X))  # S x n x n
        noisy = cast(GPyTorchPosterior, self.believed.posterior(X, observation_noise=True))
        variance = covariance.diagonal(dim1=-2, dim2=-1).clamp_min(1e-12)
        outcome_variance = torch.maximum(noisy.variance[..., 0].reshape(-1, len(X)), variance)
        own = ndtr((mean - self.level) / variance.sqrt())  # S x n
        ahead = min(ahead, int((~excluded).sum()) - 1)
        if ahead <= 0:
            return own.mean(0)
        nodes, weights = _outcome_nodes(X)
        future = torch.zeros_like(own)
        order = torch.arange(1, ahead + 1, dtype=X.dtype, device=X.device)
        rank_weights = (
            1 - order / (ahead + 1) if self.reward == "cumulative" else torch.ones_like(order)
        )
        for s in range(len(mean)):
            for rows in torch.arange(len(X), device=X.device).split(ENS_CHUNK):
                # the update of every candidate's marginal by a standardised outcome t at x
                shift = covariance[s, rows] / outcome_variance[s, rows, None].sqrt()
                sigma = (variance[s] - shift.square()).clamp_min(1e-12).sqrt()  # chunk x n
                gone = excluded | torch.nn.functional.one_hot(rows, len(X)).bool()
                for t, w in zip(nodes, weights, strict=True):
                    chance = ndtr((mean[s] + shift * t - self.level) / sigma)
                    chance = chance.masked_fill(gone, 0.0)
                    future[s, rows] += w * chance.topk(ahead, dim=-1).values @ rank_weights
        return (own + future).mean(0)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """ENS score of each ``b x 1 x d`` candidate, shape ``b``."""
        if X.shape[-2] != 1:
            raise ValueError(f"X: one point per t-batch is scored, got q = {X.shape[-2]}")
        found = _prepared_rows(self.rows, X.reshape(-1, X.shape[-1]), "ens")
        if self.scores is None:
            with torch.no_grad():
                self.scores = self._expected_finds(cast(torch.Tensor, self.candidates))
        return self.scores[found.to(self.scores.device)].reshape(X.shape[:-2])


def _outcome_nodes(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilists' Gauss-Hermite nodes and weights for a standard normal outcome."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(OUTCOME_NODES)
    weights = weights / weights.sum()
    return torch.as_tensor(nodes).to(like), torch.as_tensor(weights).to(like)


def _ens(inputs: AcquisitionInputs, reward: str = "cumulative") -> AcquisitionFunction:
    if inputs.reference is None:
        raise ValueError("the ens acquisitions need reference points (the pool)")
    belief = "mean" if inputs.endgame else "miss"
    level = top_level(inputs.model, inputs.reference)
    return ExpectedTopFinds(inputs.model, level, inputs.budget_left, belief, reward)


#: Acquisitions that hunt a population's top: they read ``AcquisitionInputs.reference``
#: (planners sample it only for them) and condition the model on a batch's beliefs.
TOP_HUNTING = frozenset({"top", "topk", "ens", "ensfinal"})
#: Acquisitions that score a pool's rows only (sampled jointly, or their covariance kept).
POOL_ONLY = frozenset({"topk", "ens", "ensfinal"})
#: Acquisitions that look ahead to the experiments a campaign's budget has left: without
#: a budget they score as ``top`` does.
LOOKAHEAD = frozenset({"ens", "ensfinal"})

#: Acquisition builders by name; :func:`register_acquisition` adds more.
ACQUISITIONS: dict[str, Callable[[AcquisitionInputs], AcquisitionFunction]] = {
    "qlognei": _qlognei,
    "qucb": _qucb,
    "qlogei": _qlogei,
    "qsr": _qsr,
    "top": _top,
    "topk": _topk,
    "ens": _ens,
    "ensfinal": partial(_ens, reward="final"),
}


#: The entry-point group through which an installed package adds acquisitions, each
#: entry point naming a builder: in its ``pyproject.toml``,
#: ``[project.entry-points."matloop.acquisitions"]`` then ``mine = "my_package.acq:build"``.
#: Every matloop process (CLI, API, flows, benchmark workers) loads them.
PLUGIN_GROUP = "matloop.acquisitions"

logger = logging.getLogger(__name__)

#: Installed plugins that could not be registered, by name: why (their package failed to
#: import, or their name is taken). A strategy naming one is refused with it.
PLUGIN_FAILURES: dict[str, str] = {}

#: A plugin's name is one part of a strategy name (``gp+mine+warp``, ``mine+top``).
PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]*")


def register_acquisition(
    name: str, builder: Callable[[AcquisitionInputs], AcquisitionFunction]
) -> None:
    """Add an acquisition builder under a new name.

    The builder gets the fitted model and the data (:class:`AcquisitionInputs`) and
    returns an acquisition function that scores ``b x 1 x d`` candidates and holds
    pending experiments (``set_X_pending``): batches are chosen one point at a time, each
    conditioned on what is pending and picked before it. BoTorch's Monte-Carlo
    acquisitions (``qUpperConfidenceBound``, ...) do; its analytic ones do not, and are
    refused when first built (:func:`make_acquisition`). A campaign names it in its
    strategy (``gp+mine``), so every process that runs the campaign must register it:
    an installed package does so through :data:`PLUGIN_GROUP`.

    Raises:
        ValueError: if the name is taken (silently replacing one would change campaigns),
            is not lower-case letters, digits and ``_``, or is a word of strategy names
            (a surrogate, a flag such as ``warp``, a strategy such as ``random``).

    """
    if not PLUGIN_NAME.fullmatch(name):
        raise ValueError(
            f"acquisition name {name!r}: lower-case letters, digits and _, starting with a "
            "letter (it is one part of a strategy name, gp+NAME)"
        )
    from discovery.campaign_models import SURROGATE_PLUGINS
    from discovery.planners import strategy_words  # planners import this module

    if name in SURROGATE_PLUGINS:
        raise ValueError(f"acquisition name {name!r} is a surrogate plugin's name already")
    if name in strategy_words():
        raise ValueError(
            f"acquisition name {name!r} is a word of strategy names; {name!r} would "
            "change what those strategies mean"
        )
    if name in ACQUISITIONS:
        raise ValueError(f"acquisition {name!r} is already registered")
    ACQUISITIONS[name] = builder


@cache
def load_plugins() -> tuple[str, ...]:
    """Register the acquisitions of installed packages (:data:`PLUGIN_GROUP`), once.

    Returns:
        The names registered (those that fail are in :data:`PLUGIN_FAILURES`).
    """
    return register_entry_points(
        PLUGIN_GROUP, "acquisition", lambda entry: register_acquisition(entry.name, entry.load())
    )


def register_entry_points(
    group: str, what: str, register: Callable[[EntryPoint], object]
) -> tuple[str, ...]:
    """Register every installed entry point of ``group`` with ``register``.

    The loader behind each plugin group (acquisitions here, surrogates in
    :mod:`discovery.campaign_models`); each group caches its own call, so that every
    process registers its plugins once, when a strategy name is first read. A plugin
    that cannot be loaded or registered is logged and kept in :data:`PLUGIN_FAILURES`:
    one broken package must not stop the strategies that do not name it.

    Args:
        group: The entry-point group (``matloop.acquisitions``, ...).
        what: What the group adds, for messages (``acquisition``, ...).
        register: Loads one entry point and registers it under its name.

    Returns:
        The names registered, in the order found.
    """
    names = []
    for entry in entry_points(group=group):
        try:
            register(entry)
        except Exception as error:  # an import error, any name problem: name the plugin
            why = f"{what} plugin {entry.name!r} ({entry.value}) is not registered: {error}"
            PLUGIN_FAILURES[entry.name] = why
            logger.warning("%s", why)
        else:
            names.append(entry.name)
    return tuple(names)


def load_all_plugins() -> None:
    """Register the installed acquisitions, then the installed surrogates.

    Always in this order, so that a name both kinds of plugin claim is the acquisition's
    in every process, and the surrogate is the one refused (:data:`PLUGIN_FAILURES`).
    """
    load_plugins()
    from discovery.campaign_models import load_surrogate_plugins  # it imports this module

    load_surrogate_plugins()


def acquisitions() -> dict[str, Callable[[AcquisitionInputs], AcquisitionFunction]]:
    """The registered acquisition builders by name, installed plugins included."""
    load_all_plugins()
    return ACQUISITIONS


def make_acquisition(name: str, inputs: AcquisitionInputs) -> AcquisitionFunction:
    """Build the acquisition function registered as ``name``.

    Raises:
        ValueError: for an unknown name, listing the registered ones; for a function
            that cannot hold pending experiments (see :func:`register_acquisition`).

    """
    try:
        builder = acquisitions()[name]
    except KeyError:
        raise ValueError(
            f"unknown acquisition {name!r}; choose from {sorted(ACQUISITIONS)}"
        ) from None
    acqf = builder(inputs)
    if type(acqf).set_X_pending is AnalyticAcquisitionFunction.set_X_pending:
        raise ValueError(
            f"acquisition {name!r}: {type(acqf).__name__} is analytic and cannot hold "
            "pending experiments, which every batch is chosen with; use its Monte-Carlo "
            "form (qUpperConfidenceBound for UpperConfidenceBound) or override set_X_pending"
        )
    return acqf


def hypervolume_acquisition(
    model: Model,
    X_baseline: torch.Tensor,
    Y_baseline: torch.Tensor,
    X_pending: torch.Tensor | None = None,
    mc_samples: int = 128,
    seed: int = 0,
    constraints: Sequence[Constraint] = (),
) -> AcquisitionFunction:
    """Build qLogNEHVI for several objectives, with BoTorch's inferred reference point.

    The reference point sits 10% of the observed range below the worst Pareto-optimal
    value of each objective (``infer_reference_point``), so every measured Pareto point
    adds hypervolume.

    Args:
        model: Fitted surrogate: ``m`` objective outputs (larger is better), then any
            constrained quantities.
        X_baseline: ``n x d`` inputs already measured.
        Y_baseline: ``n x m`` their objective values, oriented so that larger is better.
        X_pending: ``p x d`` inputs handed out but not measured, or None.
        mc_samples: Number of QMC posterior samples.
        seed: Sampler seed.
        constraints: Outcome constraints on the outputs after the ``m`` objectives.

    """
    pareto = Y_baseline[is_non_dominated(Y_baseline)]
    m = Y_baseline.shape[-1]
    sampler, pending = qmc_sampler(mc_samples, seed), nonempty(X_pending)
    return qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=infer_reference_point(pareto).tolist(),
        X_baseline=X_baseline,
        sampler=sampler,
        X_pending=pending,
        prune_baseline=True,
        cache_root=False,
        objective=IdentityMCMultiOutputObjective(outcomes=list(range(m))),
        constraints=list(constraints) or None,
    )


#: Candidates per posterior in :func:`shortlist`. GPyTorch evaluates the chunk's own
#: ``chunk x chunk`` kernel block even though only its diagonal is read, so large chunks
#: cost quadratically: 8,192 took 2.6x as long as 256 at 100,000 candidates (2 CPUs).
SHORTLIST_CHUNK = 256

#: Training points each candidate's variance bound conditions on (:func:`_log_ei_bound`).
BOUND_NEIGHBOURS = 16

#: Candidate x training kernel values computed at once by the bound (32 MB of float64).
BOUND_CROSS_ENTRIES = 4_000_000


def shortlist(
    model: Model, pool: torch.Tensor, X_baseline: torch.Tensor, size: int
) -> torch.Tensor:
    """The ``size`` pool rows with the highest analytic log expected improvement.

    One marginal posterior per candidate costs far less than the joint posteriors over
    baseline and batch that qLogNEI needs; since expected improvement grows with both
    mean and standard deviation, the batch's picks (q of them, and those pending) lie
    among the best few hundred by it, and qLogNEI then chooses among those.

    For an exact GP, the exact variance (the costly part) is computed only where it can
    matter: every candidate first gets an upper bound on its log-EI, and candidates are
    scored exactly in decreasing order of that bound until the next bound falls below
    the ``size``-th best exact score. The result is the same as scoring every candidate.

    Args:
        model: Fitted single-output surrogate (larger is better).
        pool: ``N x d`` candidates.
        X_baseline: ``n x d`` measured inputs; the incumbent is the best posterior mean
            among them.
        size: Rows to keep.

    Returns:
        Indices into ``pool``, best first, at most ``size``.
    """
    size = min(size, pool.shape[0])
    with torch.no_grad():
        incumbent = cast(GPyTorchPosterior, model.posterior(X_baseline)).mean.max()
        bound = _log_ei_bound(model, pool, incumbent)
        if bound is None:
            chunks = pool.split(SHORTLIST_CHUNK)
            scores = torch.cat([_log_ei(model, chunk, incumbent) for chunk in chunks])
            return scores.topk(size).indices
        order = bound.argsort(descending=True)
        rows = torch.empty(0, dtype=torch.long, device=pool.device)
        scores = torch.empty(0, dtype=pool.dtype, device=pool.device)
        for chunk in order.split(SHORTLIST_CHUNK):
            if rows.numel() >= size and bound[chunk[0]] < scores.min():
                break  # no later candidate can beat the size-th best
            rows = torch.cat([rows, chunk])
            scores = torch.cat([scores, _log_ei(model, pool[chunk], incumbent)])
            best = scores.topk(min(size, scores.numel())).indices
            rows, scores = rows[best], scores[best]
    return rows


def _log_ei_bound(model: Model, pool: torch.Tensor, incumbent: torch.Tensor) -> torch.Tensor | None:
    """An upper bound on each candidate's analytic log-EI, or None for other models.

    The mean is exact; the variance is the posterior variance given only the candidate's
    :data:`BOUND_NEIGHBOURS` most correlated training points, which is never below the
    variance given all of them, and EI grows with the standard deviation. Costs
    ``N x n`` kernel values and ``N`` small Cholesky factors instead of the ``N x n x n``
    products of the exact variance.

    Args:
        model: Fitted surrogate; only a homoskedastic ``SingleTaskGP`` with at most a
            ``Standardize`` outcome transform gets a bound.
        pool: ``N x d`` candidates.
        incumbent: The incumbent, in outcome units (computing it builds the GP's
            prediction caches, which the mean here reuses).

    Returns:
        ``N`` upper bounds, or None.
    """
    if not _bounded(model):
        return None
    gp = cast(SingleTaskGP, model)
    train = gp.train_inputs[0]
    if train.shape[0] < BOUND_NEIGHBOURS:
        return None
    scale, shift = pool.new_ones(()), pool.new_zeros(())
    if isinstance(gp.outcome_transform, Standardize):
        scale, shift = gp.outcome_transform.stdvs.squeeze(), gp.outcome_transform.means.squeeze()
    strategy: Any = gp.prediction_strategy  # exists once a posterior was computed
    if strategy is None:
        return None
    mean_cache = strategy.mean_cache  # K^-1 (y - m)
    noise = gp.likelihood.noise.squeeze()
    eye = torch.eye(BOUND_NEIGHBOURS, dtype=pool.dtype, device=pool.device)
    floor = gpytorch.settings.min_variance.value(pool.dtype)
    bounds = []
    rows = max(SHORTLIST_CHUNK, BOUND_CROSS_ENTRIES // train.shape[0])  # caps memory
    for chunk in pool.split(rows):
        X = gp.transform_inputs(chunk)
        cross = gp.covar_module(X, train).to_dense()  # chunk x n
        mean = gp.mean_module(X) + cross @ mean_cache
        near_k, near = cross.topk(BOUND_NEIGHBOURS, dim=-1)
        near_X = train[near]  # chunk x m x d
        K = gp.covar_module(near_X, near_X).to_dense() + noise * eye
        L = psd_safe_cholesky(K)
        v = torch.linalg.solve_triangular(L, near_k.unsqueeze(-1), upper=False)
        prior = gp.covar_module(X, X, diag=True)
        # GPyTorch floors variances (in latent or outcome units, depending on the path);
        # flooring both here keeps the bound above the exact score for tiny outcomes
        latent = (prior - v.square().sum((-2, -1))).clamp_min(floor)
        sigma = (latent * scale**2).clamp_min(floor).sqrt()
        bounds.append(_log_ei_helper((mean * scale + shift - incumbent) / sigma) + sigma.log())
    return torch.cat(bounds)


def _bounded(model: Model) -> bool:
    """Whether :func:`_log_ei_bound` knows ``model``'s posterior (exactly one plain GP)."""
    transform = getattr(model, "outcome_transform", None)
    return (
        type(model) is SingleTaskGP
        and type(model.likelihood) is GaussianLikelihood
        and model.train_inputs[0].dim() == 2
        and model.num_outputs == 1
        and (transform is None or isinstance(transform, Standardize))
    )


def _log_ei(model: Model, candidates: torch.Tensor, incumbent: torch.Tensor) -> torch.Tensor:
    """Analytic log-EI of each of ``candidates`` (``N x d``), as ``N`` values.

    The same numbers as BoTorch's ``LogExpectedImprovement`` on ``N x 1 x d``, about twice
    as fast at 100,000 candidates: one joint posterior whose covariance is never formed
    (only its diagonal is read) instead of ``N`` one-point posteriors, each of which
    broadcasts the training inputs.
    """
    mean, sigma = _marginals(model, candidates)
    return _log_ei_helper((mean - incumbent) / sigma) + sigma.log()


def _greedy(
    acqf: AcquisitionFunction,
    q: int,
    pick: Callable[[], tuple[torch.Tensor, float]],
    X_pending: torch.Tensor | None,
) -> tuple[torch.Tensor, list[float]]:
    """Choose ``q`` points one at a time, each conditioned on pending + earlier picks.

    BoTorch's sequential optimisers reset ``X_pending`` to the earlier picks alone, which
    drops the experiments already handed out (qLogNEI keeps them in its baseline, not in
    ``X_pending``); this loop passes both every time.

    Args:
        acqf: Acquisition function.
        q: Number of points.
        pick: Maximises ``acqf`` over one point, returning ``1 x d`` and its value.
        X_pending: ``p x d`` experiments handed out but not measured, or None.

    Returns:
        ``q x d`` points and the value of each when it was chosen.
    """
    base = nonempty(X_pending)
    chosen: list[torch.Tensor] = []
    values: list[float] = []
    for _ in range(q):
        parts = ([base] if base is not None else []) + chosen
        acqf.set_X_pending(torch.cat(parts, dim=-2) if parts else None)
        point, value = pick()
        chosen.append(point.reshape(1, -1))
        values.append(value)
    acqf.set_X_pending(base)
    return torch.cat(chosen, dim=-2), values


def optimize_over_pool(
    acqf: AcquisitionFunction,
    pool: torch.Tensor,
    q: int,
    X_pending: torch.Tensor | None = None,
) -> tuple[list[int], list[float]]:
    """Choose ``q`` distinct pool rows greedily, each conditioned on pending + earlier picks.

    Args:
        acqf: Acquisition function.
        pool: ``N x d`` candidates still available.
        q: Batch size (at most ``N``; fewer when the pool is smaller).
        X_pending: ``p x d`` experiments handed out but not measured, or None.

    Returns:
        Row indices into ``pool`` and their acquisition values, each of length q.
    """
    q = min(q, pool.shape[0])
    if q == 0:
        return [], []
    taken = torch.zeros(pool.shape[0], dtype=torch.bool, device=pool.device)
    indices: list[int] = []

    def pick() -> tuple[torch.Tensor, float]:
        with torch.no_grad():
            scores = torch.cat(
                [acqf(chunk.unsqueeze(-2)) for chunk in pool.split(2048)]
            ).masked_fill(taken, -torch.inf)
        best = int(scores.argmax())
        taken[best] = True
        indices.append(best)
        return pool[best], float(scores[best])

    _, values = _greedy(acqf, q, pick, X_pending)
    return indices, values


def optimize_over_box(
    acqf: AcquisitionFunction,
    bounds: torch.Tensor,
    q: int,
    simplex: Sequence[tuple[Sequence[int], float]] = (),
    one_hot_blocks: Sequence[Sequence[int]] = (),
    linear: Sequence[tuple[Sequence[int], Sequence[float], float]] = (),
    num_restarts: int = 8,
    raw_samples: int = 256,
    X_pending: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Optimise a batch over a box, with simplex equalities and categorical one-hot blocks.

    Args:
        acqf: Acquisition function.
        bounds: ``2 x d`` bounds of the encoded space.
        q: Batch size.
        simplex: ``(column indices, total)`` pairs: those columns must sum to ``total``.
        one_hot_blocks: Column indices of each categorical's one-hot block; every
            combination of categories is optimised separately (at most 256).
        linear: ``(column indices, coefficients, upper)``: ``sum(c * x) <= upper``.
        num_restarts: Gradient restarts per optimisation.
        raw_samples: Initial samples for picking restarts.
        X_pending: ``p x d`` experiments handed out but not measured, or None.

    Returns:
        ``q x d`` candidates and the value of each when it was chosen.
    """
    equality = [
        (
            torch.tensor(list(cols), dtype=torch.long, device=bounds.device),
            bounds.new_ones(len(cols)),
            float(total),
        )
        for cols, total in simplex
    ] or None
    inequality = [  # BoTorch's form: sum(c * x) >= rhs
        (
            torch.tensor(list(cols), dtype=torch.long, device=bounds.device),
            -torch.tensor(list(coefficients), dtype=bounds.dtype, device=bounds.device),
            -float(upper),
        )
        for cols, coefficients, upper in linear
    ] or None
    combinations = list(itertools.product(*one_hot_blocks))
    if len(combinations) > MAX_CATEGORY_COMBINATIONS:
        raise ValueError(
            f"{len(combinations)} category combinations exceed {MAX_CATEGORY_COMBINATIONS}; "
            "use a discrete pool for this space"
        )
    fixed_features_list = [
        {col: float(col in picked) for block in one_hot_blocks for col in block}
        for picked in combinations
    ]

    def pick() -> tuple[torch.Tensor, float]:
        options: dict[str, Any] = {
            "acq_function": acqf,
            "bounds": bounds,
            "q": 1,
            "num_restarts": num_restarts,
            "raw_samples": raw_samples,
            "equality_constraints": equality,
            "inequality_constraints": inequality,
        }
        if one_hot_blocks:
            X, value = optimize_acqf_mixed(fixed_features_list=fixed_features_list, **options)
        else:
            X, value = optimize_acqf(**options)
        assert value is not None  # returned for q = 1
        return X.detach(), float(value.max())

    return _greedy(acqf, q, pick, X_pending)
