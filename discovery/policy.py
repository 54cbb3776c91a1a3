"""A learned acquisition function: a neural policy over candidates, trained by policy gradient.

MetaBO-style (Volpp et al., ICLR 2020): the policy sees, for each candidate of a discrete
pool, only quantities that mean the same on every problem -- the surrogate's posterior
mean and standard deviation and the incumbent, all in units of the standard deviation of
the values measured so far, plus the fraction of the budget left -- and scores it with a
small shared MLP. A softmax over the scores is the distribution of the next experiment.

It is trained here, with REINFORCE and a leave-one-out baseline (several rollouts per task),
on a family of tasks: functions drawn from Gaussian-process priors on random pools,
optimised with the true GP posterior, and, when given, measured development pools
(:class:`TrainingPool`: random subsets of each, seen through a GP fitted to the pool once,
as MetaBO fits its tasks' hyperparameters beforehand). The reward of a step is minus the
simple regret, normalised per task, so the return is the area under the regret curve.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

#: Per-candidate inputs, in order (see :func:`policy_features`).
FEATURES: tuple[str, ...] = ("mean", "std", "log_std", "improvement", "z", "budget_left")


def policy_features(
    mean: torch.Tensor, std: torch.Tensor, y_observed: torch.Tensor, budget_left: float
) -> torch.Tensor:
    """Problem-independent inputs of the policy for every candidate.

    Args:
        mean: ``... x N`` posterior means (objective units, larger is better).
        std: ``... x N`` posterior standard deviations (same units).
        y_observed: ``... x n`` values measured so far (``n >= 1``).
        budget_left: Fraction of the experiment budget still to spend, in ``[0, 1]``.

    Returns:
        ``... x N x 6`` features: standardised mean, std, log std, improvement over the
        incumbent, improvement in posterior standard deviations, and the budget left.

    """
    centre = y_observed.mean(-1, keepdim=True)
    spread = y_observed.std(-1, keepdim=True).nan_to_num(1.0).clamp_min(1e-6)
    z_mean = (mean - centre) / spread
    z_std = (std / spread).clamp_min(1e-6)
    incumbent = ((y_observed.max(-1, keepdim=True).values - centre) / spread).expand_as(z_mean)
    improvement = z_mean - incumbent
    budget = torch.full_like(z_mean, float(budget_left))
    columns = (z_mean, z_std, z_std.log(), improvement, improvement / z_std, budget)
    return torch.stack(columns, dim=-1).clamp(-20.0, 20.0)


class AcquisitionPolicy(nn.Module):
    """Scores candidates from their :func:`policy_features`; higher is more worth measuring.

    Args:
        hidden: Width of the two hidden layers.

    """

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.hidden = hidden
        self.net = nn.Sequential(
            nn.Linear(len(FEATURES), hidden),
            nn.ELU(),
            nn.Linear(hidden, hidden),
            nn.ELU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``... x N x 6`` features to ``... x N`` scores (logits of the softmax policy)."""
        return self.net(features).squeeze(-1)

    def to_bytes(self) -> bytes:
        """Weights and width as ``torch.save`` bytes (for the model registry)."""
        buffer = io.BytesIO()
        state = {k: v.cpu() for k, v in self.state_dict().items()}
        torch.save({"hidden": self.hidden, "features": list(FEATURES), "state": state}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> AcquisitionPolicy:
        """Rebuild a policy saved by :meth:`to_bytes`.

        Raises:
            ValueError: if it was trained on other features than this code computes.

        """
        saved = torch.load(io.BytesIO(payload), weights_only=True)
        if list(saved["features"]) != list(FEATURES):
            raise ValueError(
                f"policy features {saved['features']} differ from this code's {list(FEATURES)}"
            )
        policy = cls(int(saved["hidden"]))
        policy.load_state_dict(saved["state"])
        return policy.eval()


@dataclass(frozen=True)
class PolicyTrainingConfig:
    """How the policy is trained.

    Attributes:
        iterations: Policy-gradient updates.
        tasks: GP-sample tasks per update.
        rollouts: Rollouts per task (their mean return is each rollout's baseline).
        pool: Candidates per task.
        dims: Range of input dimensions of the tasks (inclusive).
        lengthscales: Range of RBF lengthscales of the task priors (unit cube inputs,
            multiplied by ``sqrt(d)``).
        initial: Random experiments before the policy acts.
        horizon: Experiments the policy chooses per episode.
        noise: Observation-noise standard deviation (prior standard deviation is 1).
        lr: Adam learning rate.
        entropy: Weight of the entropy bonus (keeps the policy exploring early on).
        hidden: Policy width.
        seed: Seed of tasks, rollouts and initial weights.

    """

    iterations: int = 300
    tasks: int = 8
    rollouts: int = 4
    pool: int = 200
    dims: tuple[int, int] = (1, 6)
    lengthscales: tuple[float, float] = (0.1, 0.4)
    initial: int = 5
    horizon: int = 30
    noise: float = 0.05
    lr: float = 3e-3
    entropy: float = 0.01
    hidden: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse settings no episode can run with, naming the field.

        Raises:
            ValueError: ``"horizon: ..."`` and the like.
        """
        for name in ("iterations", "tasks", "rollouts", "pool", "horizon", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.initial < 1:  # the incumbent (best so far) is one of the policy's inputs
            raise ValueError(f"initial: must be >= 1, got {self.initial}")
        if self.initial + self.horizon > self.pool:  # every step takes one candidate
            raise ValueError(
                f"horizon: at most {self.pool - self.initial} (a task's pool of {self.pool} "
                f"candidates less {self.initial} initial experiments), got {self.horizon}"
            )
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed: must be in [0, 2**63), got {self.seed}")
        low, high = self.dims
        if not 1 <= low <= high:
            raise ValueError(f"dims: must be 1 <= low <= high, got {self.dims}")
        if not 0 < self.lengthscales[0] <= self.lengthscales[1]:
            raise ValueError(f"lengthscales: must be 0 < low <= high, got {self.lengthscales}")
        for name in ("noise", "entropy"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")


@dataclass
class TrainedPolicy:
    """A trained policy and how its training went.

    Attributes:
        policy: The policy, in eval mode.
        config: The training configuration.
        regret: Mean final normalised simple regret per iteration (lower is better).
        seconds: Wall-clock training time.
        pools: The development pools it also trained on (none: GP samples only).
        pool_share: The share of updates drawn from ``pools``.

    """

    policy: AcquisitionPolicy
    config: PolicyTrainingConfig
    regret: list[float] = field(default_factory=list)
    seconds: float = 0.0
    pools: tuple[TrainingPool, ...] = ()
    pool_share: float = 0.0

    def tasks_digest(self) -> str:
        """SHA-256 of what determined the training tasks (:func:`training_digest`)."""
        return training_digest(self.config, self.pools, self.pool_share)

    def metrics(self) -> dict[str, Any]:
        """Scalars and curves for the model registry."""
        tail = self.regret[-20:] or [math.nan]
        return {
            "config": {
                k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.config).items()
            },
            "final_regret": float(sum(tail) / len(tail)),
            "regret_curve": [round(r, 5) for r in self.regret],
            "seconds": round(self.seconds, 1),
            "training_tasks": "GP prior samples (RBF), random pools in the unit cube"
            + (
                f"; {self.pool_share:.0%} of updates on development pools: "
                + ", ".join(p.name for p in self.pools)
                if self.pools
                else ""
            ),
            "training_pools": [
                {
                    "name": p.name,
                    "rows": len(p.y),
                    "dims": p.X.shape[1],
                    "lengthscale": p.lengthscale,
                    "noise": p.noise,
                    "sha256": p.digest(),
                }
                for p in self.pools
            ],
        }


@dataclass(frozen=True, eq=False)  # tensors: compared by identity, not elementwise
class TrainingPool:
    """A measured development pool the policy also trains on, with the GP it sees it through.

    Built by :func:`training_pool`. Each training task is a random subset of its rows; the
    policy's posterior there is the GP below (RBF, fixed hyperparameters), as a GP sample's
    is its own prior.

    Attributes:
        name: What the pool is (kept in the policy's metrics).
        X: ``N x d`` inputs, scaled to the unit cube.
        y: ``N`` values, standardised, larger is better.
        lengthscale: RBF lengthscale of the pool's GP (unit-cube units).
        noise: Its observation-noise standard deviation (standardised units).

    """

    name: str
    X: torch.Tensor
    y: torch.Tensor
    lengthscale: float
    noise: float

    def digest(self) -> str:
        """SHA-256 of the pool and its GP (what training on it depends on)."""
        header = {
            "name": self.name,
            "shape": list(self.X.shape),
            "lengthscale": self.lengthscale,
            "noise": self.noise,
        }
        h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
        for array in (self.X, self.y):
            h.update(array.to(torch.float64).contiguous().numpy().tobytes())
        return h.hexdigest()


#: The share of policy-gradient updates drawn from development pools, when given.
POOL_SHARE = 0.5
#: Grids over which :func:`training_pool` maximises the GP's marginal likelihood.
POOL_LENGTHSCALES = tuple(float(x) for x in np.geomspace(0.005, 3.0, 33))  # x sqrt(d)
POOL_NOISES = (0.01, 0.03, 0.1, 0.3, 0.6, 1.0)
#: Most rows the marginal likelihood is computed on (a fixed random subset).
POOL_FIT_ROWS = 400


def training_pool(name: str, X: np.ndarray, values: np.ndarray, maximise: bool) -> TrainingPool:
    """A measured pool as a :class:`TrainingPool`: scaled, standardised, its GP fitted.

    Each input column is scaled to [0, 1] on its own, as the campaign GP normalises a
    pool to its bounds (a rare element's fraction spans as much as oxygen's). The RBF
    lengthscale (times ``sqrt(d)``, as the GP-sample tasks draw theirs) and the noise
    maximise the GP's marginal likelihood over the grids ``POOL_LENGTHSCALES`` x
    ``POOL_NOISES``, on at most ``POOL_FIT_ROWS`` rows; both are kept in the policy's
    metrics.

    Args:
        name: What the pool is.
        X: ``N x d`` numeric inputs (a constant column is kept, at 0).
        values: ``N`` measured values.
        maximise: Whether larger values are better (else smaller are).

    Returns:
        The pool, ready for :func:`train_policy`.

    Raises:
        ValueError: naming ``X`` when it is not 2-d, ``values`` for a shape that does not
            match ``X``'s or values all equal, and either for entries that are not finite.
    """
    X = np.asarray(X, dtype=float)
    values = np.asarray(values, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X: must be N x d, got shape {X.shape}")
    if values.shape != (len(X),):
        raise ValueError(f"values: {values.shape} does not match X's {X.shape} (N x d and N)")
    for field_name, array in (("X", X), ("values", values)):
        if not np.isfinite(array).all():
            raise ValueError(f"{field_name}: pool {name!r} has entries that are not finite")
    if not values.std() > 0:
        raise ValueError(f"values: pool {name!r} has all its values equal")
    low, span = X.min(0), np.ptp(X, axis=0)
    unit = torch.as_tensor((X - low) / np.where(span > 0, span, 1.0))
    signed = values if maximise else -values
    y = torch.as_tensor((signed - signed.mean()) / signed.std())
    fit = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:POOL_FIT_ROWS]
    Xf, yf = unit[fit], y[fit]
    d = unit.shape[1]
    best = max(
        ((ls * math.sqrt(d), noise) for ls in POOL_LENGTHSCALES for noise in POOL_NOISES),
        key=lambda h: _log_marginal_likelihood(Xf, yf, *h),
    )
    return TrainingPool(name, unit, y, *best)


def _log_marginal_likelihood(X: torch.Tensor, y: torch.Tensor, ls: float, noise: float) -> float:
    """``log p(y | X)`` under a zero-mean, unit-variance RBF GP (``n x d``, ``n``)."""
    K = _rbf(X[None], X[None], torch.tensor([ls], dtype=X.dtype))[0]
    L = torch.linalg.cholesky(K + (noise**2 + 1e-8) * torch.eye(len(y), dtype=X.dtype))
    alpha = torch.cholesky_solve(y[:, None], L)[:, 0]
    return float(-0.5 * y @ alpha - L.diagonal().log().sum() - 0.5 * len(y) * math.log(2 * math.pi))


def training_digest(
    config: PolicyTrainingConfig, pools: Sequence[TrainingPool] = (), pool_share: float = POOL_SHARE
) -> str:
    """SHA-256 of what determines a trained policy: its configuration and pools, if any.

    Args:
        config: The training configuration.
        pools: The development pools it trains on too.
        pool_share: The share of updates on them.

    Returns:
        64 hex digits. Without pools (or with a share of 0, when they are never drawn) the
        configuration's alone, as policies trained before pools existed were named.
    """
    settings = asdict(config)
    if pools and pool_share > 0:
        settings |= {"pools": [p.digest() for p in pools], "pool_share": float(pool_share)}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _rbf(a: torch.Tensor, b: torch.Tensor, lengthscale: torch.Tensor) -> torch.Tensor:
    """``B x n x d``, ``B x m x d``, ``B`` lengthscales -> ``B x n x m`` RBF kernel."""
    scaled = lengthscale.view(-1, 1, 1)
    return torch.exp(-0.5 * torch.cdist(a / scaled, b / scaled).square())


@dataclass(frozen=True)
class _Tasks:
    """A batch of tasks sharing pool size and dimension: GP samples, or one pool's subsets."""

    X: torch.Tensor  # B x N x d
    f: torch.Tensor  # B x N, the noise-free function (a pool's: its measured values)
    lengthscale: torch.Tensor  # B
    noise: torch.Tensor  # B, the GP's observation noise
    measured: float  # noise added to f when measured (0 for a pool: measured already)

    @classmethod
    def sample(cls, config: PolicyTrainingConfig, generator: torch.Generator) -> _Tasks:
        low, high = config.dims
        d = int(torch.randint(low, high + 1, (1,), generator=generator))
        B, N = config.tasks, config.pool
        X = torch.rand(B, N, d, generator=generator, dtype=torch.float64)
        lo, hi = config.lengthscales
        u = torch.rand(B, generator=generator, dtype=torch.float64)
        ls = (lo + (hi - lo) * u) * math.sqrt(d)
        K = _rbf(X, X, ls) + 1e-6 * torch.eye(N, dtype=torch.float64)
        z = torch.randn(B, N, 1, generator=generator, dtype=torch.float64)
        f = (torch.linalg.cholesky(K) @ z).squeeze(-1)
        noise = torch.full((B,), config.noise, dtype=torch.float64)
        return cls(X, f, ls, noise, config.noise)

    @classmethod
    def subsets(
        cls, pool: TrainingPool, config: PolicyTrainingConfig, generator: torch.Generator
    ) -> _Tasks:
        """``config.tasks`` random subsets of ``config.pool`` rows (all, if fewer) of a pool."""
        B, N = config.tasks, min(config.pool, len(pool.y))
        rows = torch.stack([torch.randperm(len(pool.y), generator=generator)[:N] for _ in range(B)])
        ls = torch.full((B,), pool.lengthscale, dtype=torch.float64)
        noise = torch.full((B,), pool.noise, dtype=torch.float64)
        return cls(pool.X[rows], pool.y[rows], ls, noise, 0.0)

    def start(
        self, config: PolicyTrainingConfig, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random initial experiments (``E x initial`` indices) and noisy values (``E x N``)."""
        E, N = self.f.shape
        observed = torch.stack(
            [torch.randperm(N, generator=generator)[: config.initial] for _ in range(E)]
        )
        noise = self.measured * torch.randn(E, N, generator=generator, dtype=torch.float64)
        return observed, self.f + noise

    def repeat(self, rollouts: int) -> _Tasks:
        """Each task ``rollouts`` times in a row (``B * R`` episodes)."""
        return _Tasks(
            self.X.repeat_interleave(rollouts, 0),
            self.f.repeat_interleave(rollouts, 0),
            self.lengthscale.repeat_interleave(rollouts, 0),
            self.noise.repeat_interleave(rollouts, 0),
            self.measured,
        )


def _posterior(
    tasks: _Tasks, observed: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact GP posterior (the task's own prior, or its pool's GP) at every pool point.

    Args:
        tasks: ``E`` episodes.
        observed: ``E x n`` pool indices measured.
        y: ``E x n`` their noisy values.

    Returns:
        ``E x N`` posterior means and standard deviations.

    """
    index = observed.unsqueeze(-1).expand(-1, -1, tasks.X.shape[-1])
    X_obs = tasks.X.gather(1, index)
    n = observed.shape[1]
    noise = tasks.noise.view(-1, 1, 1) ** 2 * torch.eye(n, dtype=torch.float64)
    K = _rbf(X_obs, X_obs, tasks.lengthscale) + noise
    L = torch.linalg.cholesky(K)
    cross = _rbf(X_obs, tasks.X, tasks.lengthscale)  # E x n x N
    v = torch.linalg.solve_triangular(L, cross, upper=False)
    alpha = torch.cholesky_solve(y.unsqueeze(-1), L)
    mean = (cross.transpose(1, 2) @ alpha).squeeze(-1)
    var = (1.0 - v.square().sum(1)).clamp_min(1e-10)
    return mean, var.sqrt()


#: Chooses each episode's next candidate: ``E x N x 6`` features, ``E x N`` mask of the
#: measured ones -> ``E`` pool indices.
Chooser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _rollout(
    tasks: _Tasks, config: PolicyTrainingConfig, generator: torch.Generator, choose: Chooser
) -> torch.Tensor:
    """Run ``config.horizon`` experiments on every episode, each chosen by ``choose``.

    Returns:
        ``E x horizon`` normalised simple regret after each experiment.
    """
    E, N = tasks.f.shape
    best = tasks.f.max(1).values
    span = (best - tasks.f.mean(1)).clamp_min(1e-6)
    observed, noisy = tasks.start(config, generator)
    y = noisy.gather(1, observed)
    regrets = []
    for step in range(config.horizon):
        mean, std = _posterior(tasks, observed, y)
        features = policy_features(mean, std, y, 1.0 - step / config.horizon).float()
        taken = torch.zeros(E, N, dtype=torch.bool).scatter_(1, observed, True)
        action = choose(features, taken).unsqueeze(1)
        observed = torch.cat([observed, action], 1)
        y = torch.cat([y, noisy.gather(1, action)], 1)
        regrets.append((best - tasks.f.gather(1, observed).max(1).values) / span)
    return torch.stack(regrets, 1)


def _episode(
    policy: AcquisitionPolicy,
    tasks: _Tasks,
    config: PolicyTrainingConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Roll the policy out on every episode, sampling its actions.

    Returns:
        ``E`` summed log-probabilities of the actions taken, ``E`` mean policy entropies,
        ``E`` returns (minus the area under the normalised regret curve) and ``E`` final
        normalised regrets.
    """
    log_probs: list[torch.Tensor] = []
    entropies: list[torch.Tensor] = []

    def sample(features: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
        distribution = torch.distributions.Categorical(
            logits=policy(features).masked_fill(taken, -torch.inf)
        )
        action = distribution.sample()
        log_probs.append(distribution.log_prob(action))
        entropies.append(distribution.entropy())
        return action

    regret = _rollout(tasks, config, generator, sample)
    return (
        torch.stack(log_probs, 1).sum(1),
        torch.stack(entropies, 1).mean(1),
        -regret.sum(1),
        regret[:, -1],
    )


def train_policy(
    config: PolicyTrainingConfig | None = None,
    progress: bool = False,
    pools: Sequence[TrainingPool] = (),
    pool_share: float = POOL_SHARE,
) -> TrainedPolicy:
    """Train an acquisition policy by REINFORCE on GP-sample tasks and development pools.

    Args:
        config: Training configuration (defaults: 300 updates of 8 tasks x 4 rollouts).
        progress: Print the running regret every 25 updates.
        pools: Measured development pools (:func:`training_pool`); none (or a
            ``pool_share`` of 0): GP samples only, drawn exactly as without this argument.
        pool_share: The chance that an update's tasks are subsets of one pool (chosen
            uniformly) instead of GP samples.

    Returns:
        The trained policy with its regret curve.

    Raises:
        ValueError: naming ``pool_share`` outside [0, 1], or ``pools`` for a pool with
            fewer rows than an episode measures (``initial + horizon``).

    """
    config = config or PolicyTrainingConfig()
    if not 0.0 <= pool_share <= 1.0:
        raise ValueError(f"pool_share: must be in [0, 1], got {pool_share}")
    for pool in pools:
        if len(pool.y) < config.initial + config.horizon:
            raise ValueError(
                f"pools: {pool.name!r} has {len(pool.y)} rows, fewer than an episode "
                f"measures ({config.initial} initial + {config.horizon} horizon)"
            )
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    policy = AcquisitionPolicy(config.hidden)
    optimiser = torch.optim.Adam(policy.parameters(), lr=config.lr)
    drawn = tuple(pools) if pool_share > 0 else ()
    share = float(pool_share) if drawn else 0.0
    trained = TrainedPolicy(policy, config, pools=drawn, pool_share=share)
    start = time.perf_counter()
    for iteration in range(config.iterations):
        tasks = _training_tasks(config, generator, drawn, share).repeat(config.rollouts)
        log_probs, entropy, returns, regret = _episode(policy, tasks, config, generator)
        grouped = returns.view(config.tasks, config.rollouts)
        others = (grouped.sum(1, keepdim=True) - grouped) / max(config.rollouts - 1, 1)
        advantage = (grouped - others).flatten().float()
        loss = -(advantage * log_probs).mean() - config.entropy * entropy.mean()
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimiser.step()
        trained.regret.append(float(regret.mean()))
        if progress and (iteration + 1) % 25 == 0:
            recent = trained.regret[-25:]
            print(f"update {iteration + 1}: final regret {sum(recent) / len(recent):.4f}")
    trained.seconds = time.perf_counter() - start
    policy.eval()
    return trained


def _training_tasks(
    config: PolicyTrainingConfig,
    generator: torch.Generator,
    pools: Sequence[TrainingPool],
    pool_share: float,
) -> _Tasks:
    """One update's tasks: GP samples, or (with chance ``pool_share``) one pool's subsets."""
    if pools and float(torch.rand(1, generator=generator)) < pool_share:
        choice = int(torch.randint(len(pools), (1,), generator=generator))
        return _Tasks.subsets(pools[choice], config, generator)
    return _Tasks.sample(config, generator)


def expected_improvement_scores(features: torch.Tensor) -> torch.Tensor:
    """Log expected improvement computed from :func:`policy_features` (a reference policy)."""
    std = features[..., FEATURES.index("std")]
    z = features[..., FEATURES.index("z")]
    normal = torch.distributions.Normal(0.0, 1.0)
    ei = std * (z * normal.cdf(z) + normal.log_prob(z).exp())
    return ei.clamp_min(1e-30).log()


def held_out_regret(
    scores: Callable[[torch.Tensor], torch.Tensor],
    config: PolicyTrainingConfig,
    episodes: int = 64,
    seed: int = 12345,
) -> float:
    """Mean normalised simple regret over the horizon of a greedy rule on fresh GP tasks.

    The mean over steps (the area under the regret curve, what training minimises) tells
    rules apart even when all of them find the optimum by the end.

    Args:
        scores: ``... x N x 6`` features to ``... x N`` scores (a policy, or
            :func:`expected_improvement_scores`); the best-scored candidate is measured.
        config: Task family and horizon (its seed is replaced by ``seed``).
        episodes: Number of tasks.
        seed: Seed of the held-out tasks (differs from any training seed).

    """
    generator = torch.Generator().manual_seed(seed)
    held_out = PolicyTrainingConfig(**{**asdict(config), "tasks": episodes, "seed": seed})

    def greedy(features: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
        return scores(features).masked_fill(taken, -torch.inf).argmax(1)

    with torch.no_grad():
        regret = _rollout(_Tasks.sample(held_out, generator), config, generator, greedy)
    return float(regret.mean())
