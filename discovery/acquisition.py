"""Batch acquisition: qLogNoisyExpectedImprovement over a discrete pool or a box.

Pending experiments (proposed, not yet measured) enter as ``X_pending`` so a new batch
never duplicates work already handed out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.models.model import Model
from botorch.optim import optimize_acqf, optimize_acqf_discrete, optimize_acqf_mixed
from botorch.sampling import SobolQMCNormalSampler

MAX_CATEGORY_COMBINATIONS = 256


def qlognei(
    model: Model,
    X_baseline: torch.Tensor,
    X_pending: torch.Tensor | None = None,
    mc_samples: int = 256,
    seed: int = 0,
) -> qLogNoisyExpectedImprovement:
    """Build qLogNEI with a seeded quasi-Monte-Carlo sampler.

    Args:
        model: Fitted single-output surrogate (larger is better).
        X_baseline: ``n x d`` inputs already measured.
        X_pending: ``p x d`` inputs handed out but not measured, or None.
        mc_samples: Number of QMC posterior samples.
        seed: Sampler seed.

    """
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed)
    pending = X_pending if X_pending is not None and X_pending.shape[0] > 0 else None
    return qLogNoisyExpectedImprovement(
        model=model, X_baseline=X_baseline, sampler=sampler, X_pending=pending
    )


def optimize_over_pool(
    acqf: qLogNoisyExpectedImprovement, pool: torch.Tensor, q: int
) -> tuple[list[int], list[float]]:
    """Choose ``q`` pool rows greedily (sequential conditioning on earlier picks).

    Args:
        acqf: Acquisition function (its ``X_pending`` is respected).
        pool: ``N x d`` candidates still available.
        q: Batch size (at most ``N``).

    Returns:
        Row indices into ``pool`` and their acquisition values (log-EI), each of length q.

    """
    q = min(q, pool.shape[0])
    chosen, values = optimize_acqf_discrete(acqf, q=q, choices=pool, unique=True)
    indices: list[int] = []
    for row in chosen:
        matches = torch.nonzero((pool == row).all(dim=-1)).flatten().tolist()
        indices.append(next(i for i in matches if i not in indices))
    return indices, values.flatten().tolist()


def optimize_over_box(
    acqf: qLogNoisyExpectedImprovement,
    bounds: torch.Tensor,
    q: int,
    simplex: Sequence[tuple[Sequence[int], float]] = (),
    one_hot_blocks: Sequence[Sequence[int]] = (),
    num_restarts: int = 8,
    raw_samples: int = 256,
) -> tuple[torch.Tensor, list[float]]:
    """Optimise a batch over a box, with simplex equalities and categorical one-hot blocks.

    Args:
        acqf: Acquisition function.
        bounds: ``2 x d`` bounds of the encoded space.
        q: Batch size.
        simplex: ``(column indices, total)`` pairs: those columns must sum to ``total``.
        one_hot_blocks: Column indices of each categorical's one-hot block; every
            combination of categories is optimised separately (at most 256).
        num_restarts: Gradient restarts per optimisation.
        raw_samples: Initial samples for picking restarts.

    Returns:
        ``q x d`` candidates and their sequential acquisition values.

    """
    equality = [
        (
            torch.tensor(list(cols), dtype=torch.long),
            torch.ones(len(cols), dtype=bounds.dtype),
            float(total),
        )
        for cols, total in simplex
    ] or None
    if not one_hot_blocks:
        X, values = optimize_acqf(
            acqf,
            bounds=bounds,
            q=q,
            num_restarts=num_restarts,
            raw_samples=raw_samples,
            equality_constraints=equality,
            sequential=True,
        )
        assert values is not None  # returned for every batch
        return X, values.flatten().tolist()
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
    X, values = optimize_acqf_mixed(
        acqf,
        bounds=bounds,
        q=q,
        fixed_features_list=fixed_features_list,
        num_restarts=num_restarts,
        raw_samples=raw_samples,
        equality_constraints=equality,
    )
    assert values is not None  # returned for every batch
    return X, values.flatten().tolist()
