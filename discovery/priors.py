"""Prior knowledge as a GP prior mean: campaigns that start from what the literature says.

A prior is any function from a campaign's encoded inputs to a predicted objective value:
in practice a property surrogate trained on literature records or an imported table
(:mod:`discovery.property_models`). Other sources measure differently, so the prior is
trusted only as far as the campaign's own data confirm it: with ``p(x)`` the prior
prediction, the campaign fits

    y(x) = a p(x) + r(x),    r ~ GP,

where the scale ``a`` (clipped to ``[0, 2]``) is a least-squares fit on the measurements
and the GP models the residual. With ``a = 0`` (a prior that explains nothing) this is
the plain GP again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal

from discovery.compositions import element_fractions
from discovery.spaces import SearchSpace
from discovery.surrogates import SingleOutputModel

#: A prior: ``n x d`` encoded inputs to ``n`` predicted objective values (objective units).
Prior = Callable[[np.ndarray], np.ndarray]

#: Range of the prior's fitted scale ``a``.
SCALE_RANGE = (0.0, 2.0)


@dataclass(frozen=True)
class NamedPrior:
    """A prior that says where it came from, so a model fitted with it can name it.

    The name travels with the predictions: a planner given another prior cannot keep
    naming this one.

    Attributes:
        predict: The prior: ``n x d`` encoded inputs to ``n`` predictions.
        label: Its source, e.g. the registry version of a property model
            (``model:gp:8ab081586d27``).

    """

    predict: Prior
    label: str

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The prior's predictions at ``X`` (``n x d``): ``n`` values."""
        return self.predict(X)


def prior_label(prior: Prior) -> str | None:
    """The label of a :class:`NamedPrior`; None for an anonymous prior."""
    return prior.label if isinstance(prior, NamedPrior) else None


def prior_data_hash(data_hash: str, prior: Prior) -> str:
    """The data hash of a model fitted on residuals of ``prior``: its identity folded in.

    A model is registered by its kind and data hash; two priors whose residuals agree
    (a prior with scale 0 leaves the data unchanged) would otherwise share a version,
    and the registry would keep the first prior's record for both.

    Args:
        data_hash: SHA-256 (64 hex digits) of the training inputs and residuals.
        prior: The prior; a :class:`NamedPrior`'s label names it, an anonymous one is
            only marked as a prior.

    Returns:
        Another SHA-256 hex digest, distinct for distinct labels.
    """
    identity = f"{data_hash}|prior:{prior_label(prior) or ''}"
    return hashlib.sha256(identity.encode()).hexdigest()


def fit_scale(prior: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``y`` on ``prior`` (with an intercept), clipped to ``[0, 2]``.

    Args:
        prior: ``n`` prior predictions at the measured inputs.
        y: ``n`` measured values.

    Returns:
        The scale ``a``; 0 when the prior does not vary over the measurements.

    """
    p = prior - prior.mean()
    denominator = float(p @ p)
    if denominator <= 1e-12 * max(len(p), 1):
        return 0.0
    slope = float(p @ (y - y.mean())) / denominator
    return float(np.clip(slope, *SCALE_RANGE))


class PriorMeanModel(SingleOutputModel):
    """A residual model plus a scaled prior mean: ``a p(x) + r(x)``.

    Args:
        residual: Fitted single-output model of the residuals ``y - a p(x)``.
        prior: Maps ``n x d`` inputs (tensor) to ``n`` prior predictions (tensor).
        scale: The fitted ``a``.

    """

    def __init__(
        self, residual: Model, prior: Callable[[torch.Tensor], torch.Tensor], scale: float
    ) -> None:
        super().__init__()
        self.residual = residual
        self.prior = prior
        self.scale = scale

    def posterior(
        self,
        X: torch.Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | torch.Tensor = False,
        posterior_transform: Any = None,
        **kwargs: Any,
    ) -> GPyTorchPosterior:
        """The residual's posterior over ``X`` (``batch x q x d``), shifted by ``a p(X)``."""
        inner = self.residual.posterior(X, observation_noise=observation_noise)
        assert isinstance(inner, GPyTorchPosterior)
        flat = X.reshape(-1, X.shape[-1])
        shift = (self.scale * self.prior(flat)).to(X).reshape(X.shape[:-1])
        mvn = inner.distribution
        posterior = GPyTorchPosterior(
            MultivariateNormal(mvn.mean + shift, mvn.lazy_covariance_matrix)
        )
        return posterior_transform(posterior) if posterior_transform is not None else posterior


def composition_formulas(space: SearchSpace, X: np.ndarray) -> list[str]:
    """Formulas (``Fe0.4O0.6``) of encoded compositions: one per row of ``X``.

    Args:
        space: A composition space: a simplex constraint names element symbols.
        X: ``n x d`` encoded inputs.

    Raises:
        ValueError: when the space has no simplex of element symbols.

    """
    names = element_fractions(space)
    if names is None:
        raise ValueError("a composition prior needs a composition space (element fractions)")
    columns = [space.columns.index(n) for n in names]
    formulas = []
    for row in np.asarray(X)[:, columns]:
        parts = [f"{el}{f:.8g}" for el, f in zip(names, row, strict=True) if f > 1e-9]
        formulas.append("".join(parts) or names[0])
    return formulas


__all__ = [
    "SCALE_RANGE",
    "NamedPrior",
    "Prior",
    "PriorMeanModel",
    "composition_formulas",
    "fit_scale",
    "prior_data_hash",
    "prior_label",
]
