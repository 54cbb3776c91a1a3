"""Deep ensembles as BoTorch models: training, recalibration, posterior and storage.

Each member is a network that predicts a mean and a log-variance
(:mod:`discovery.networks`, :mod:`discovery.crystal`). Members differ only in their seed
(initialisation and batch order), as in Lakshminarayanan et al. (NeurIPS 2017). The
predictive distribution of a new observation is a Gaussian with

* mean: the members' mean prediction;
* variance: ``s^2 (var_m[mu_m] + mean_m[sigma_m^2])``, the epistemic spread plus the
  learned aleatoric noise, with ``s`` chosen on the validation split so that its 95%
  central interval holds 95% of the validation targets (recalibration, Kuleshov et al.,
  ICML 2018, reduced to one scale factor).

As a BoTorch ``Model`` the ensemble's posterior is the latent function (epistemic part,
recalibrated) unless ``observation_noise=True`` asks for the predictive distribution.
"""

from __future__ import annotations

import copy
import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from linear_operator.operators import DiagLinearOperator
from torch import nn
from tqdm.auto import tqdm

from discovery.networks import ElementTransformerNet, MLPNet, RoostNet
from discovery.surrogates import SingleOutputModel


class Batch(Protocol):
    """A model input batch that can move between devices."""

    def to(self, device: torch.device) -> Batch:
        """The batch on ``device``."""
        ...


class Inputs(Protocol):
    """A data set of model inputs, indexable into batches."""

    def __len__(self) -> int:
        """Number of samples."""
        ...

    def batch(self, index: np.ndarray) -> Any:
        """The samples at ``index`` as one batch (on the CPU)."""
        ...


@dataclass(frozen=True)
class FeatureInputs:
    """Descriptor vectors (``N x F``) as :class:`Inputs` for :class:`MLPNet` members."""

    features: np.ndarray

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def batch(self, index: np.ndarray) -> torch.Tensor:
        """Rows ``index`` as a float32 tensor."""
        return torch.from_numpy(np.ascontiguousarray(self.features[index], dtype=np.float32))


def _crystal_net(**kwargs: Any) -> nn.Module:
    from discovery.crystal import CrystalGraphNet  # pymatgen neighbour code, only when used

    return CrystalGraphNet(**kwargs)


#: Member architectures by name; each builder takes the member's keyword arguments.
MEMBERS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLPNet,
    "roost": RoostNet,
    "transformer": ElementTransformerNet,
    "cgcnn": _crystal_net,
}


#: Default peak learning rate per member architecture: attention layers want a gentler one.
LEARNING_RATES: dict[str, float] = {"mlp": 1e-3, "roost": 1e-3, "transformer": 5e-4, "cgcnn": 1e-3}

#: Training losses: negative log-likelihoods of a Gaussian, beta-weighted Gaussian, Laplace.
LOSSES = ("gaussian", "beta-gaussian", "laplace")


@dataclass(frozen=True)
class TrainingConfig:
    """How members are trained.

    Attributes:
        n_members: Ensemble size.
        epochs: Largest number of passes over the training data.
        patience: Epochs without a better validation MAE before a member stops.
        batch_size: Samples per gradient step.
        lr: Peak AdamW learning rate of a one-cycle schedule over ``epochs`` (torch's
            ``OneCycleLR``): a warm-up from ``lr / 25`` over the first 5% of the steps
            (at least two), then cosine decay to ``lr / 250000`` at the last step of
            ``epochs`` (early stopping ends sooner, at a higher rate); ``None``: the
            member architecture's own (:data:`LEARNING_RATES`).
        weight_decay: AdamW weight decay.
        loss: ``gaussian`` (Gaussian NLL), ``beta-gaussian`` (beta-NLL, Seitzer et al.,
            ICLR 2022, which keeps the mean fit from neglecting noisy points) or ``laplace``
            (Laplace NLL, Roost's "robust L1" loss, which fits the median; the head's
            ``log_var`` is then read as the log-variance ``log 2b^2`` of the Laplace).
        beta: Exponent of beta-NLL.
        seed: Seed of member 0; member ``i`` uses ``seed + i``.
        device: ``cuda``/``cpu``; default ``cuda`` when present.
        progress: Show progress bars.

    """

    n_members: int = 5
    epochs: int = 300
    patience: int = 30
    batch_size: int = 128
    lr: float | None = None
    weight_decay: float = 1e-5
    loss: str = "beta-gaussian"
    beta: float = 0.5
    seed: int = 0
    device: str | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        for name in ("n_members", "epochs", "patience", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not 0.0 <= self.beta <= 1.0:  # beta-NLL: 0 is the Gaussian NLL, 1 the MSE's gradient
            raise ValueError(f"beta must lie in [0, 1], got {self.beta}")


@dataclass
class Ensemble:
    """Trained members with the target scaling and recalibration they share.

    Attributes:
        kind: Member architecture (a key of :data:`MEMBERS`).
        member_args: Keyword arguments that rebuild a member.
        members: The trained networks (eval mode).
        y_mean: Target mean used for standardisation (target units).
        y_std: Target standard deviation used for standardisation (target units).
        scale: Recalibration factor ``s`` of the predictive standard deviation.
        history: Per member: epochs run, best epoch, best validation MAE, seconds.

    """

    kind: str
    member_args: dict[str, Any]
    members: list[nn.Module]
    y_mean: float
    y_std: float
    scale: float = 1.0
    history: list[dict[str, float]] = field(default_factory=list)

    def predict_members(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's mean and variance in target units: two ``M x B`` tensors.

        Differentiable with respect to the batch, so acquisition functions can be optimised
        by gradient over a continuous space.
        """
        device = next(self.members[0].parameters()).device
        batch = batch.to(device)
        outputs = [member(batch) for member in self.members]
        means = torch.stack([m for m, _ in outputs]).double() * self.y_std + self.y_mean
        variances = torch.stack([v for _, v in outputs]).double().exp() * self.y_std**2
        return means, variances

    def predict(
        self, inputs: Inputs, batch_size: int = 2048
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predictive mean, epistemic and total standard deviation (recalibrated).

        Args:
            inputs: ``N`` samples.
            batch_size: Samples per forward pass.

        Returns:
            ``(mean, epistemic_std, std)``, each shape ``N``, in target units.

        """
        parts = []
        for start in range(0, len(inputs), batch_size):
            index = np.arange(start, min(start + batch_size, len(inputs)))
            with torch.no_grad():
                parts.append(self._moments(*self.predict_members(inputs.batch(index))))
        if not parts:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        mean, epistemic, total = (torch.cat(p).cpu().numpy() for p in zip(*parts, strict=True))
        return mean, self.scale * np.sqrt(epistemic), self.scale * np.sqrt(total)

    @staticmethod
    def _moments(
        means: torch.Tensor, variances: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        epistemic = means.var(0, unbiased=False)
        return means.mean(0), epistemic, epistemic + variances.mean(0)

    def to_bytes(self) -> bytes:
        """Serialise members, scaling and recalibration (``torch.save`` bytes)."""
        buffer = io.BytesIO()
        torch.save(
            {
                "kind": self.kind,
                "member_args": self.member_args,
                "states": [{k: v.cpu() for k, v in m.state_dict().items()} for m in self.members],
                "y_mean": self.y_mean,
                "y_std": self.y_std,
                "scale": self.scale,
                "history": self.history,
            },
            buffer,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, device: str | torch.device | None = None) -> Ensemble:
        """Rebuild an ensemble written by :meth:`to_bytes`."""
        blob = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        target = torch.device(device) if device else default_device()
        members = []
        for state in blob["states"]:
            member = MEMBERS[blob["kind"]](**blob["member_args"])
            member.load_state_dict(state)
            members.append(member.to(target).eval())
        return cls(
            blob["kind"],
            dict(blob["member_args"]),
            members,
            float(blob["y_mean"]),
            float(blob["y_std"]),
            float(blob["scale"]),
            list(blob["history"]),
        )


def default_device() -> torch.device:
    """``cuda`` when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _loss(
    mean: torch.Tensor, log_var: torch.Tensor, y: torch.Tensor, config: TrainingConfig
) -> torch.Tensor:
    if config.loss == "laplace":  # variance 2 b^2 -> log b = (log_var - log 2) / 2
        log_b = 0.5 * (log_var - math.log(2.0))
        return ((y - mean).abs() * (-log_b).exp() + log_b).mean()
    nll = 0.5 * (log_var + (y - mean) ** 2 / log_var.exp())
    if config.loss == "beta-gaussian":
        nll = nll * log_var.detach().exp() ** config.beta
    return nll.mean()


@torch.no_grad()
def _validation_mae(
    member: nn.Module, inputs: Inputs, y: torch.Tensor, device: torch.device
) -> float:
    member.eval()
    errors = []
    for start in range(0, len(inputs), 4096):
        index = np.arange(start, min(start + 4096, len(inputs)))
        mean, _ = member(inputs.batch(index).to(device))
        errors.append((mean - y[index].to(device)).abs())
    member.train()
    return float(torch.cat(errors).mean())


#: Share of the one-cycle schedule spent warming up to the peak learning rate.
_WARMUP_FRACTION = 0.05

#: Warm-up steps of the shortest warm-up (runs of 40 steps and more have them at 5%).
_MIN_WARMUP_STEPS = 2

#: The one-cycle learning rate starts at ``peak / _DIV_FACTOR`` and ends at
#: ``peak / (_DIV_FACTOR * _FINAL_DIV_FACTOR)`` (torch's defaults, stated here).
_DIV_FACTOR, _FINAL_DIV_FACTOR = 25.0, 1e4


def _warmup_fraction(total_steps: int) -> float:
    """``pct_start`` of a run: 5% of its steps, and at least two of them where it can be.

    torch's warm-up ends at step index ``pct_start * total_steps - 1``: below 1 (runs of
    fewer than 40 steps at 5%) step 1 is already past the peak, a one-step warm-up, or
    (below 0, under 20 steps) none at all; at exactly 0 torch divided by zero. Two steps
    need a third for the decay, so runs of 1 or 2 steps keep 5%. From 40 steps on, 5% is
    two steps or more and the schedule is torch's own, so trained models don't move.
    """
    if total_steps <= _MIN_WARMUP_STEPS:
        return _WARMUP_FRACTION
    return max(_WARMUP_FRACTION, _MIN_WARMUP_STEPS / total_steps)


def _one_cycle(
    optimizer: torch.optim.Optimizer, lr: float, total_steps: int
) -> torch.optim.lr_scheduler.OneCycleLR:
    """One-cycle learning-rate schedule: a warm-up to ``lr``, then cosine annealing.

    The rate rises from ``lr / 25`` to ``lr`` over the first 5% of the steps (at least
    two, :func:`_warmup_fraction`), then anneals (cosine) to ``lr / 250000`` at the last.

    Args:
        optimizer: The optimiser whose learning rate is scheduled.
        lr: Peak learning rate.
        total_steps: Gradient steps of the whole run (epochs x batches per epoch), >= 1.

    Returns:
        The scheduler, to step once per gradient step.

    """
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        lr,
        total_steps=total_steps,
        pct_start=_warmup_fraction(total_steps),
        div_factor=_DIV_FACTOR,
        final_div_factor=_FINAL_DIV_FACTOR,
    )


def _train_member(
    member: nn.Module,
    train: Inputs,
    y: torch.Tensor,
    val: Inputs,
    y_val: torch.Tensor,
    config: TrainingConfig,
    lr: float,
    seed: int,
    device: torch.device,
) -> tuple[nn.Module, dict[str, float]]:
    generator = torch.Generator().manual_seed(seed)
    member.to(device).train()
    optimizer = torch.optim.AdamW(member.parameters(), lr=lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    schedule = _one_cycle(optimizer, lr, config.epochs * steps_per_epoch)
    autocast = device.type == "cuda"
    best, best_state, best_epoch, epoch = math.inf, copy.deepcopy(member.state_dict()), 0, 0
    started = time.perf_counter()
    bar = tqdm(range(config.epochs), desc=f"member seed {seed}", disable=not config.progress)
    for epoch in bar:
        order = torch.randperm(len(train), generator=generator).numpy()
        for start in range(0, len(order), config.batch_size):
            index = order[start : start + config.batch_size]
            batch, target = train.batch(index).to(device), y[index].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                mean, log_var = member(batch)
            loss = _loss(mean.float(), log_var.float(), target, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(member.parameters(), 10.0)
            optimizer.step()
            schedule.step()
        score = _validation_mae(member, val, y_val, device)
        if score < best:
            best, best_epoch = score, epoch
            best_state = copy.deepcopy(member.state_dict())
        bar.set_postfix(val_mae=f"{score:.4f}", best=f"{best:.4f}")
        if epoch - best_epoch >= config.patience:
            break
    member.load_state_dict(best_state)
    history = {
        "seed": float(seed),
        "lr": lr,
        "epochs": float(epoch + 1),
        "best_epoch": float(best_epoch + 1),
        "best_val_mae_std_units": best,
        "seconds": time.perf_counter() - started,
    }
    return member.eval(), history


def recalibration_scale(observed: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """Factor ``s`` such that ``mean ± 1.96 s std`` covers 95% of ``observed``.

    Args:
        observed: ``n`` targets of a held-out split.
        mean: ``n`` predictive means.
        std: ``n`` predictive standard deviations (> 0).

    """
    z = np.abs(observed - mean) / np.maximum(std, 1e-12)
    if not z.size:
        return 1.0
    # a perfect fit on validation (z all 0) must not collapse the uncertainty to nothing
    return max(float(np.quantile(z, 0.95) / 1.959963984540054), 1e-3)


def train_ensemble(
    kind: str,
    member_args: dict[str, Any],
    train: Inputs,
    y_train: np.ndarray,
    val: Inputs,
    y_val: np.ndarray,
    config: TrainingConfig | None = None,
    prepare: Callable[[nn.Module], None] | None = None,
) -> Ensemble:
    """Train an ensemble of ``kind`` members, early-stopped and recalibrated on ``val``.

    Args:
        kind: Member architecture, a key of :data:`MEMBERS`.
        member_args: Keyword arguments of the member's constructor.
        train: Training inputs (``N`` samples).
        y_train: ``N`` training targets (target units).
        val: Validation inputs for early stopping and recalibration.
        y_val: Validation targets.
        config: Training settings (defaults: :class:`TrainingConfig`).
        prepare: Called on each new member before training (e.g. to set input scaling).

    Returns:
        The trained, recalibrated ensemble in eval mode.

    Raises:
        ValueError: for an unknown kind, mismatched lengths, or non-finite targets.

    """
    config = config or TrainingConfig()
    if kind not in MEMBERS:
        raise ValueError(f"unknown member kind {kind!r}; choose from {sorted(MEMBERS)}")
    for name, inputs, targets in (("train", train, y_train), ("val", val, y_val)):
        if len(inputs) != len(targets):
            raise ValueError(f"{name}: {len(inputs)} inputs but {len(targets)} targets")
        if len(targets) == 0:
            raise ValueError(f"{name}: no samples")
        if not np.all(np.isfinite(targets)):
            raise ValueError(f"{name}: targets must be finite")
    device = torch.device(config.device) if config.device else default_device()
    lr = LEARNING_RATES[kind] if config.lr is None else config.lr
    y_mean, y_std = float(np.mean(y_train)), float(np.std(y_train)) or 1.0
    y = torch.as_tensor((np.asarray(y_train) - y_mean) / y_std, dtype=torch.float32)
    yv = torch.as_tensor((np.asarray(y_val) - y_mean) / y_std, dtype=torch.float32)
    members, history = [], []
    for i in range(config.n_members):
        torch.manual_seed(config.seed + i)
        member = MEMBERS[kind](**member_args)
        if prepare is not None:
            prepare(member)
        trained, record = _train_member(
            member, train, y, val, yv, config, lr, config.seed + i, device
        )
        members.append(trained)
        history.append(record)
    ensemble = Ensemble(kind, dict(member_args), members, y_mean, y_std, 1.0, history)
    mean, _, std = ensemble.predict(val)
    ensemble.scale = recalibration_scale(np.asarray(y_val, dtype=float), mean, std)
    return ensemble


class EnsembleModel(SingleOutputModel):
    """A trained :class:`Ensemble` as a single-output BoTorch model.

    Args:
        ensemble: The trained ensemble.
        encode: Maps ``n x d`` BoTorch inputs (a campaign's encoded space) to a member batch.
        sign: +1, or -1 to negate the predictions (BoTorch maximises).

    Example:
        >>> model = EnsembleModel(ensemble, encode=lambda X: X.float())
        >>> model.posterior(X_pool.unsqueeze(-2)).mean  # N x 1 x 1

    """

    def __init__(
        self, ensemble: Ensemble, encode: Callable[[torch.Tensor], Any], sign: float = 1.0
    ):
        super().__init__()
        self.ensemble = ensemble
        self.encode = encode
        self.sign = sign
        self.members = nn.ModuleList(ensemble.members)  # so .to() and .eval() reach them

    def posterior(
        self,
        X: torch.Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | torch.Tensor = False,
        posterior_transform: Any = None,
        **kwargs: Any,
    ) -> GPyTorchPosterior:
        """Independent Gaussian posterior over ``X`` (``batch x q x d``): ``batch x q x 1``."""
        flat = X.reshape(-1, X.shape[-1])
        means, variances = self.ensemble.predict_members(self.encode(flat))
        mean, epistemic, total = Ensemble._moments(means, variances)
        variance = (total if observation_noise is not False else epistemic) * self.ensemble.scale**2
        mean = (self.sign * mean).to(X).reshape(X.shape[:-1])
        variance = variance.clamp_min(1e-12).to(X).reshape(X.shape[:-1])
        posterior = GPyTorchPosterior(MultivariateNormal(mean, DiagLinearOperator(variance)))
        if posterior_transform is not None:
            return posterior_transform(posterior)
        return posterior


def config_dict(config: TrainingConfig) -> dict[str, Any]:
    """A training config as plain data (for model registry metrics)."""
    return asdict(config)


__all__ = [
    "LEARNING_RATES",
    "MEMBERS",
    "Ensemble",
    "EnsembleModel",
    "FeatureInputs",
    "Inputs",
    "TrainingConfig",
    "config_dict",
    "default_device",
    "recalibration_scale",
    "train_ensemble",
]
